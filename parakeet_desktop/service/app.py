"""The local speech service as an ASGI app: OpenAI-compatible HTTP and a WebSocket stream.

:func:`create_app` builds it around its collaborators (the engine link, the token, the limits),
so tests build one around a tiny model. Auth is one dependency, every error leaves through one
handler in OpenAI's envelope, and the Host/Origin guard and the upload limit sit in front of
everything as plain ASGI middleware. Web pages of the origins the user allowed
(``--allow-origin``) get CORS answers (Starlette's middleware, in front of the guard: a
preflight carries no token); pages of other origins get none, and the guard refuses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.middleware.cors import CORSMiddleware

from .. import __version__
from ..engine.live import FileProgress, Outcome, Priority
from ..engine.model import ModelInfo, is_model_file, known_model
from ..engine.recognize import AudioInput, Vocabulary
from ..engine.speakers import SpeakerRequest
from ..settings import DEFAULT_API_PORT
from . import formats
from .ears import install_ears
from .errors import ApiError, install_handlers
from .guard import Guarded
from .jobs import LocalJobs
from .keywords import form_phrases, with_request_phrases
from .link import EngineLink, ServiceState, Ticket, TranscriptionFailed, shutting_down
from .metrics import Measured, ServiceMetrics, metrics_response
from .options import TranscriptionOptions
from .security import NONCE, Guard, bearer, proof, token_matches
from .speakers import speaker_request
from .stream import install_stream
from .uploads import UploadReader

CORS_METHODS = ["GET", "POST", "DELETE"]  # what the API's routes take

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_API_PORT
    max_upload_bytes: int = 1 << 30
    max_audio_seconds: float = 4 * 3600.0
    max_waiting: int = 32  # HTTP requests queued or running; more get 429
    max_jobs: int = 100  # jobs queued or running
    # Decoded audio held at once, requests' and queued jobs' (float32 at 16 kHz: 8 GiB is 37 hours).
    max_held_audio_bytes: int = 8 << 30
    max_frame_bytes: int = 1 << 20  # one WebSocket message
    # Audio of one stream that the engine has not taken yet; past it, the stream's socket is not
    # read until the engine catches up (the client is slowed down, no audio is dropped).
    max_stream_backlog_seconds: float = 30.0
    stream_idle_seconds: float = 60.0  # a stream that sends nothing for this long is closed
    max_streams: int = 100  # WebSocket streams at once
    allowed_origins: tuple[str, ...] = ()
    # Slow and greedy clients: a connection must send its request's headers within this many
    # seconds, and its body may pause no longer than the other; past this many connections at
    # once, uvicorn answers 503.
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000
    decoders: int = 2  # uploads decoded at once (each takes a core)
    # Short requests that arrive while the engine is busy are recognised together (link.py).
    gather: bool = True
    # WebSocket streams from loopback addresses need no token (clients that cannot send one).
    streams_without_token: bool = False


def create_app(link: EngineLink, token: str, config: ServiceConfig = ServiceConfig(),
               spill_dir: Path | None = None, jobs=None, more_health: Callable[[], Awaitable[dict]] | None = None):
    """The ASGI app: FastAPI routes wrapped in the Host/Origin guard and the upload limit.
    *spill_dir*: where decoded uploads are held (service/uploads.py); the heap when None.
    *jobs*: where jobs are kept and run (service/jobs.py), this process when None;
    *more_health*: what ``/health`` adds for a caller with the token (the cluster's view)."""
    app = FastAPI(title="Parakeet Desktop local speech service", version=__version__,
                  docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    jobs = jobs if jobs is not None else LocalJobs(link, config.max_jobs)
    link.gather = config.gather
    uploads = UploadReader(config.max_audio_seconds, config.decoders, spill_dir, config.max_held_audio_bytes)
    metrics = ServiceMetrics(link)

    def has_token(request: Request) -> bool:
        return token_matches(bearer(request.headers.get("authorization")), token)

    api = APIRouter()  # every route but /health: the token is checked in front of them (guard.py)

    @app.get("/health")
    async def health(request: Request):
        """For anyone on the machine, without the token: the state alone (ready, loading, error).
        With the token: the model, the queue, streams, device and process. ``?nonce=`` (hex) adds
        the proof that this service holds the token (security.proof), which a client checks before
        it sends the token."""
        document: dict[str, object] = {"status": link.state.value}
        if link.state is ServiceState.ERROR:
            document["error"] = "The model could not be loaded (details with the token)."
        nonce = request.query_params.get("nonce")
        if nonce is not None:
            if not NONCE.fullmatch(nonce):
                raise ApiError(400, "nonce must be 32 to 128 lowercase hex digits.", param="nonce")
            document["proof"] = proof(token, nonce, request.scope["server"][1])
        if not has_token(request):
            return document
        model = link.model
        document |= {"model": link.model_name, "version": __version__,
                     "uptime_seconds": round(time.monotonic() - link.started, 1),
                     "queue_depth": link.waiting, "jobs": await jobs.active(), "streams": link.streams,
                     "max_streams": config.max_streams, "device": model.device if model is not None else None,
                     "resting": model.resting if model is not None else False, "pid": os.getpid(),
                     "gpu_id": gpu_id(model)}
        if link.state is ServiceState.ERROR:
            document["error"] = link.error
        if model is not None and model.device == "cuda":
            document["gpu"] = await asyncio.to_thread(gpu_report)
        if more_health is not None:
            document |= await more_health()
        return document

    @api.get("/v1/models")
    async def models():
        return {"object": "list", "data": [_model_card(link)]}

    @api.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        """The loaded model's card, or a model of the registry's with ``loaded`` false."""
        if link.answers_to(model_id):
            return _model_card(link)
        if (info := known_model(model_id)) is not None and not is_model_file(model_id):
            return _registry_card(info, link.started)
        raise ApiError(404, f"No model {model_id} is known here; this service has {link.model_name}.",
                       code="model_not_found", param="model")

    @api.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request):
        link.require_ready()
        ticket = link.admit(config.max_waiting)  # before the upload is read: 429 costs nothing
        handed_over = False
        try:
            form, audio = await uploads.read(request)
            ticket.seconds = audio.duration
            options = _options(form, link)
            speakers = speaker_request(options)
            vocabulary, warning = with_request_phrases(link.model, form_phrases(form))
            headers = {"X-Parakeet-Warning": warning} if warning else {}
            if options.stream:
                handed_over = True  # the response gives the place back when it ends
                return _CountedStream(_events(link, audio, vocabulary, ticket, speakers), lambda: link.release(ticket),
                                      media_type="text/event-stream", headers={"Cache-Control": "no-cache", **headers})
            transcript = await _until_done_or_gone(request, link.transcribe(
                audio, Priority.REQUEST, vocabulary=vocabulary, ticket=ticket, speakers=speakers))
        finally:
            if not handed_over:
                link.release(ticket)
        if transcript is None:
            return Response(status_code=499)
        language = formats.reported_language(transcript, options.language)
        response = formats.response(transcript, options.response_format, options.timestamp_granularities, language)
        response.headers.update(headers)
        return response

    @api.post("/transcribe")
    async def transcribe(request: Request):
        link.require_ready()
        with link.admitted(config.max_waiting) as ticket:
            form, audio = await uploads.read(request)
            ticket.seconds = audio.duration
            vocabulary, warning = with_request_phrases(link.model, form_phrases(form))
            started = time.perf_counter()
            transcript = await _until_done_or_gone(
                request, link.transcribe(audio, Priority.REQUEST, vocabulary=vocabulary, ticket=ticket))
        if transcript is None:
            return Response(status_code=499)
        document = {"text": transcript.text, "duration_sec": round(transcript.duration, 3),
                    "processing_time_ms": round((time.perf_counter() - started) * 1000, 1),
                    "device": link.model.device, "gpu_id": gpu_id(link.model)}
        return document | ({"warning": warning} if warning else {})

    @api.post("/v1/jobs", status_code=202)
    async def new_job(request: Request):
        link.require_ready()
        place = await jobs.reserve()  # before the upload is read
        try:
            form, audio = await uploads.read(request)
            options = _options(form, link)
            speaker_request(options)  # a bad reference clip is a 400 now, not a failed job later
            phrases = form_phrases(form)
            vocabulary, warning = with_request_phrases(link.model, phrases)
        except BaseException:
            await jobs.give_back(place)
            raise
        return await jobs.add(place, audio, options, phrases, vocabulary, warning)

    @api.get("/v1/jobs")
    async def list_jobs():
        return {"object": "list", "data": await jobs.listing()}

    @api.get("/v1/jobs/{job_id}")
    async def get_job(job_id: str):
        return await jobs.summary(job_id)

    @api.delete("/v1/jobs/{job_id}")
    async def cancel_job(job_id: str):
        return await jobs.cancel(job_id)

    @api.get("/metrics")
    async def metrics_page():
        return await metrics_response(metrics)

    app.include_router(api)
    app.state.streams = hub = install_stream(app, link, config)
    install_ears(app, link, config, hub)
    guard = Guard(config.host, config.allowed_origins)
    guarded: Guarded | CORSMiddleware = Guarded(app, guard, token, config.max_upload_bytes, config.body_timeout,
                                                config.streams_without_token)
    if config.allowed_origins:  # pages the user allowed: CORS answers for them, before the token is asked for
        guarded = CORSMiddleware(guarded, allow_origins=sorted(guard.allowed_origins), allow_methods=CORS_METHODS,
                                 allow_headers=["Authorization", "Content-Type"],
                                 expose_headers=["Retry-After", "X-Parakeet-Warning"], max_age=600)
    return Measured(guarded, metrics, app.state)


def _model_card(link: EngineLink) -> dict:
    """OpenAI's model object with the loaded model's capabilities (what the model itself says:
    its languages, whether its encoder streams; the registry's estimate of its GPU memory)."""
    model, info = link.model, known_model(link.model_name)
    languages = link.languages
    if languages is None and info is not None:
        languages = info.language_codes
    if model is not None:
        streaming: bool | None = bool(model.streaming_contexts)
    else:
        streaming = info.streams_natively if info is not None else None
    return {"id": link.model_name, "object": "model", "created": _created(link.started), "owned_by": "nvidia",
            "languages": list(languages) if languages else None, "status": link.state.value,
            "loaded": model is not None, "streaming": streaming, "word_timestamps": True,
            "vram_gb": info.vram_gb if info is not None else None, "capabilities": _capabilities(link)}


def _capabilities(link: EngineLink) -> dict:
    """What a request may ask of this service beside text: speakers (diarized_json, with the
    diarization model and the speaker embedding model that serve it, loaded on first use)."""
    speakers = link.engine.speakers if link.engine is not None else None
    return {"transcription": True, "word_timestamps": True, "diarization": {
        "response_formats": ["diarized_json", "verbose_json", "srt", "vtt"], "max_speakers": 4,
        "model": speakers.diarization_model if speakers else None,
        "speaker_reference_model": speakers.embedding_model if speakers else None}}


def _registry_card(info: ModelInfo, started: float) -> dict:
    return {"id": info.id, "object": "model", "created": _created(started), "owned_by": "nvidia",
            "languages": list(info.language_codes), "status": "not_loaded", "loaded": False,
            "streaming": info.streams_natively, "word_timestamps": True, "vram_gb": info.vram_gb,
            "title": info.title, "size_mb": info.size_mb}


def _created(started: float) -> int:
    return int(time.time() - (time.monotonic() - started))


def _options(form, link: EngineLink) -> TranscriptionOptions:
    options = TranscriptionOptions.of_form(form)
    if not link.serves(options.model):
        raise ApiError(404, f"The model {options.model} is not loaded here; this service has {link.model_name}. "
                            "Start the app with that model to use it.", code="model_not_found", param="model")
    if options.language is not None and (problem := link.unsupported_language(options.language)):
        raise ApiError(400, problem, code="unsupported_language", param="language")
    return options


async def _until_done_or_gone(request: Request, work):
    """Await *work*; None if the client disconnects first (its work is cancelled at once)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                try:
                    return task.result()
                except TranscriptionFailed as exc:
                    raise _failure(exc) from exc
            if await request.is_disconnected():
                logger.info("A client went away; its request is cancelled")
                return None
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _failure(exc: TranscriptionFailed) -> ApiError:
    if exc.outcome in (Outcome.SHUT_DOWN, Outcome.CANCELLED):  # only the service cancels a request
        return shutting_down()
    return ApiError(500, f"The audio {exc}.")


class _CountedStream(StreamingResponse):
    """A streamed answer that gives its request's place in the queue back when it ends, however
    it ends (done, the client gone, the server stopping)."""

    def __init__(self, content, release: Callable[[], None], **kwargs) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def _events(link: EngineLink, audio: AudioInput, vocabulary: Vocabulary | None, ticket: Ticket,
                  speakers: SpeakerRequest | None = None):
    """Server-sent events as OpenAI streams a transcription: text deltas as pieces finish, the
    whole text, then ``[DONE]``. The deltas add up to the whole text. With speakers
    (``diarized_json``), each segment as a ``transcript.text.segment`` event instead of the
    deltas, once the speakers are known. A client that goes away closes this generator, which
    cancels the work."""
    deltas: asyncio.Queue = asyncio.Queue()
    sent = ""

    def progress(event: FileProgress) -> None:
        deltas.put_nowait(event.text)

    def line(document) -> str:
        return f"data: {json.dumps(document, ensure_ascii=False)}\n\n"

    task = asyncio.ensure_future(link.transcribe(audio, Priority.REQUEST, None if speakers else progress,
                                                 vocabulary=vocabulary, ticket=ticket, speakers=speakers))
    try:
        while not task.done() or not deltas.empty():
            getter = asyncio.ensure_future(deltas.get())
            await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                continue
            text = getter.result()
            if text.startswith(sent) and len(text) > len(sent):
                yield line({"type": "transcript.text.delta", "delta": text[len(sent):]})
                sent = text
        try:
            transcript = task.result()
        except TranscriptionFailed as exc:
            error = _failure(exc)
            yield line({"type": "error", "error": {"message": error.message, "type": "server_error",
                                                   "code": error.code}})
            return
        text = transcript.text
        if speakers is not None:
            for segment in formats.diarized(transcript)["segments"]:
                yield line(segment)
        elif text.startswith(sent) and len(text) > len(sent):
            yield line({"type": "transcript.text.delta", "delta": text[len(sent):]})
        yield line({"type": "transcript.text.done", "text": text,
                    "usage": {"type": "duration", "seconds": round(transcript.duration, 3)}})
        yield "data: [DONE]\n\n"
    finally:
        if not task.done():  # the client went away mid-stream
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def gpu_id(model) -> int | None:
    """The GPU the model is on, as the machine numbers it (``nvidia-smi``'s index): the first of
    ``CUDA_VISIBLE_DEVICES`` where that narrows what this process sees (a cluster's replica
    is given one GPU so), else torch's current device; None on the CPU."""
    if model is None or model.device != "cuda":
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible.isdigit():
        return int(visible)
    import torch

    return int(torch.cuda.current_device())


def gpu_report() -> dict | None:
    try:
        import torch

        free, total = torch.cuda.mem_get_info()
        return {"name": torch.cuda.get_device_name(), "memory_total_mb": total // 2**20,
                "memory_free_mb": free // 2**20,
                "memory_used_by_service_mb": torch.cuda.memory_allocated() // 2**20}
    except Exception as exc:  # a driver that stopped answering
        return {"error": str(exc)}

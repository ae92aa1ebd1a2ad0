"""The local speech service as an ASGI app: OpenAI-compatible HTTP and a WebSocket stream.

:func:`create_app` builds it around its collaborators (the engine link, the token, the limits),
so tests build one around a tiny model. Auth is one dependency, every error leaves through one
handler in OpenAI's envelope, and the Host/Origin guard and the upload limit sit in front of
everything as plain ASGI middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from .. import __version__
from ..config import DEFAULT_API_PORT
from ..engine.audio import AudioError, load_audio
from ..engine.files import AudioInput
from ..engine.work import FileProgress, Priority
from ..engine.registry import REGISTRY
from ..engine.vocabulary import Vocabulary
from . import formats
from .errors import ApiError, install_handlers
from .guard import Guarded
from .jobs import JobBook
from .keywords import form_phrases, with_request_phrases
from .link import EngineLink, ServiceState, TranscriptionFailed
from .security import Guard, bearer, token_matches
from .stream import install_stream

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_API_PORT
    max_upload_bytes: int = 1 << 30
    max_audio_seconds: float = 4 * 3600.0
    max_waiting: int = 32  # HTTP requests queued or running; more get 429
    max_jobs: int = 100  # jobs queued or running
    max_frame_bytes: int = 1 << 20  # one WebSocket message
    # Audio of one stream that the engine has not taken yet; past it, the stream's socket is not
    # read until the engine catches up (the client is slowed down, no audio is dropped).
    max_stream_backlog_seconds: float = 30.0
    stream_idle_seconds: float = 60.0  # a stream that sends nothing for this long is closed
    allowed_origins: tuple[str, ...] = ()


def create_app(link: EngineLink, token: str, config: ServiceConfig = ServiceConfig()):
    """The ASGI app: FastAPI routes wrapped in the Host/Origin guard and the upload limit."""
    app = FastAPI(title="Parakeet Desktop local speech service", version=__version__,
                  docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    jobs = JobBook()

    def authorized(request: Request) -> None:
        if not token_matches(bearer(request.headers.get("authorization")), token):
            raise ApiError(401, "A valid token is needed: send “Authorization: Bearer <token>”. The token "
                                "is in the file api-token in the app's settings folder.", code="invalid_api_key")

    api = APIRouter(dependencies=[Depends(authorized)])

    @app.get("/health")
    async def health():
        model = link.model
        document = {"status": link.state.value, "model": link.model_name, "version": __version__,
                    "uptime_seconds": round(time.monotonic() - link.started, 1),
                    "queue_depth": link.waiting, "jobs": jobs.active, "streams": link.streams,
                    "device": model.device if model is not None else None,
                    "resting": model.resting if model is not None else False}
        if link.state is ServiceState.ERROR:
            document["error"] = link.error
        if model is not None and model.device == "cuda":
            document["gpu"] = await asyncio.to_thread(_gpu_report)
        return document

    @api.get("/v1/models")
    async def models():
        return {"object": "list", "data": [_model_card(link)]}

    @api.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        card = _model_card(link)
        if model_id not in (card["id"], *_aliases(link)):
            raise ApiError(404, f"The model {model_id} is not loaded here; this service has {card['id']}.",
                           code="model_not_found", param="model")
        return card

    @api.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request):
        link.require_ready()
        form, audio = await _read_upload(request, config)
        options = _options(form, link)
        vocabulary, warning = with_request_phrases(link.model, form_phrases(form))
        headers = {"X-Parakeet-Warning": warning} if warning else {}
        if options["stream"]:
            link.ensure_room(config.max_waiting)  # a 429 must come before the stream's 200
            return StreamingResponse(_events(link, audio, vocabulary), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", **headers})
        with link.admitted(audio.duration, config.max_waiting):
            transcript = await _until_done_or_gone(
                request, link.transcribe(audio, Priority.REQUEST, vocabulary=vocabulary))
        if transcript is None:
            return Response(status_code=499)
        response = formats.response(transcript, options["response_format"], options["granularities"],
                                    options["language_name"])
        response.headers.update(headers)
        return response

    @api.post("/transcribe")
    async def transcribe(request: Request):
        link.require_ready()
        form, audio = await _read_upload(request, config)
        vocabulary, warning = with_request_phrases(link.model, form_phrases(form))
        started = time.perf_counter()
        with link.admitted(audio.duration, config.max_waiting):
            transcript = await _until_done_or_gone(
                request, link.transcribe(audio, Priority.REQUEST, vocabulary=vocabulary))
        if transcript is None:
            return Response(status_code=499)
        document = {"text": transcript.text, "duration_sec": round(transcript.duration, 3),
                    "processing_time_ms": round((time.perf_counter() - started) * 1000, 1),
                    "device": link.model.device}
        return document | ({"warning": warning} if warning else {})

    @api.post("/v1/jobs", status_code=202)
    async def new_job(request: Request):
        link.require_ready()
        if jobs.active >= config.max_jobs:
            raise ApiError(429, f"{jobs.active} jobs are waiting already; try again later.",
                           code="rate_limit_exceeded", retry_after=30)
        form, audio = await _read_upload(request, config)
        options = _options(form, link)
        vocabulary, warning = with_request_phrases(link.model, form_phrases(form))
        job = jobs.add(audio.name, audio.duration, options)
        job.warning = warning

        def progress(event: FileProgress) -> None:
            job.status = "running"
            job.progress = event.fraction

        async def run() -> None:
            try:
                job.transcript = await link.transcribe(audio, Priority.JOB, progress, job.cancel, vocabulary)
                job.status, job.progress = "completed", 1.0
            except TranscriptionFailed as exc:
                job.status = "cancelled" if str(exc) == "cancelled" else "failed"
                job.error = None if job.status == "cancelled" else str(exc)
            except asyncio.CancelledError:
                job.status = "cancelled"
            finally:
                job.finished = time.time()

        job.task = asyncio.create_task(run())
        return job.summary()

    def job_result(job) -> dict:
        options = job.options
        fmt = options["response_format"]
        if fmt in ("json", "verbose_json"):
            return json.loads(formats.response(job.transcript, fmt, options["granularities"],
                                               options["language_name"]).body)
        return {"text": formats.response(job.transcript, fmt, (), options["language_name"]).body.decode()}

    @api.get("/v1/jobs")
    async def list_jobs():
        return {"object": "list", "data": [job.summary() for job in jobs.all()]}

    @api.get("/v1/jobs/{job_id}")
    async def get_job(job_id: str):
        return _job(jobs, job_id).summary(job_result)

    @api.delete("/v1/jobs/{job_id}")
    async def cancel_job(job_id: str):
        job = _job(jobs, job_id)
        if job.status in ("queued", "running"):
            job.cancel.set()
            if job.task is not None:
                job.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job.task
        return job.summary()

    app.include_router(api)
    install_stream(app, link, token, config)
    return Guarded(app, Guard(config.host, config.allowed_origins), config.max_upload_bytes)


def _job(jobs: JobBook, job_id: str):
    job = jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"There is no job {job_id} (finished jobs are kept for an hour).",
                       code="job_not_found", param="job_id")
    return job


def _aliases(link: EngineLink) -> tuple[str, ...]:
    name = link.model_name
    return (name.rsplit("/", 1)[-1], name.removesuffix(".nemo"))


def _model_card(link: EngineLink) -> dict:
    model = link.model
    languages = model.languages if model is not None else None
    if languages is None:
        for info in REGISTRY:
            if info.id == link.model_name:
                languages = info.language_codes
    return {"id": link.model_name, "object": "model", "created": int(time.time() - (time.monotonic() - link.started)),
            "owned_by": "nvidia", "languages": list(languages) if languages else None, "status": link.state.value}


def _options(form, link: EngineLink) -> dict:
    fmt = str(form.get("response_format") or "json")
    if fmt not in formats.RESPONSE_FORMATS:
        raise ApiError(400, f"response_format must be one of {', '.join(formats.RESPONSE_FORMATS)}, not {fmt!r}.",
                       param="response_format")
    granularities = tuple(str(g) for g in form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities"))
    unknown = [g for g in granularities if g not in formats.GRANULARITIES]
    if unknown:
        raise ApiError(400, f"timestamp_granularities[] may hold word and segment, not {', '.join(unknown)}.",
                       param="timestamp_granularities")
    if granularities and fmt != "verbose_json":
        raise ApiError(400, "timestamp_granularities[] needs response_format verbose_json.",
                       param="timestamp_granularities")
    requested = str(form.get("model") or "").strip()
    known = {info.id for info in REGISTRY}
    if requested in known and requested not in (link.model_name, *_aliases(link)):
        raise ApiError(404, f"The model {requested} is not loaded here; this service has {link.model_name}. "
                            "Start the app with that model to use it.", code="model_not_found", param="model")
    language = str(form.get("language") or "").strip().lower() or None
    languages = link.model.languages if link.model is not None else None
    if language is not None and languages is not None and language not in languages:
        raise ApiError(400, f"{link.model_name} does not recognise language {language!r}; it knows "
                            f"{', '.join(languages)}.", code="unsupported_language", param="language")
    stream = str(form.get("stream") or "false").lower() in ("true", "1", "yes")
    if stream and fmt not in ("json", "text"):
        raise ApiError(400, "stream=true sends text events; use response_format json or text with it.",
                       param="stream")
    return {"response_format": fmt, "granularities": granularities, "stream": stream,
            "language_name": formats.language_name(language, languages)}


async def _read_upload(request: Request, config: ServiceConfig) -> tuple[object, AudioInput]:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(415, "Send the audio as multipart/form-data with a “file” field, as OpenAI's "
                            f"clients do (this request was {content_type or 'without a content type'}).",
                       code="unsupported_media_type")
    try:
        form = await request.form(max_files=1, max_fields=64)
    except MultiPartException as exc:
        raise ApiError(400, f"The form could not be read: {exc.message}") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "The request has no “file” field with the audio.", param="file")
    name = Path(upload.filename or "audio").name
    audio = await asyncio.to_thread(_decode, upload, name)
    await upload.close()
    if audio.duration > config.max_audio_seconds:
        raise ApiError(400, f"{name} is {audio.duration / 3600:.1f} hours long; this service takes at most "
                            f"{config.max_audio_seconds / 3600:.1f} hours at once.", code="audio_too_long", param="file")
    return form, audio


def _decode(upload: UploadFile, name: str) -> AudioInput:
    """Through the engine's decoder, as the command line and the file window read files: the
    upload goes to a temporary file (FFmpeg's demuxers want to seek) named with its extension."""
    suffix = Path(name).suffix[:16]
    with tempfile.NamedTemporaryFile(prefix="parakeet-upload-", suffix=suffix) as f:
        upload.file.seek(0)
        while chunk := upload.file.read(1 << 20):
            f.write(chunk)
        f.flush()
        try:
            decoded = load_audio(f.name)
        except AudioError as exc:
            raise ApiError(400, f"{name}: {exc.reason}", code="invalid_audio", param="file") from exc
    return AudioInput(name, decoded.samples, tuple(decoded.warnings))


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
    if str(exc) == "cancelled":
        return ApiError(503, "The service is stopping; this request was not finished.", code="shutting_down")
    return ApiError(500, f"The audio {exc}.")


async def _events(link: EngineLink, audio: AudioInput, vocabulary: Vocabulary | None):
    """Server-sent events as OpenAI streams a transcription: text deltas as pieces finish, the
    whole text, then ``[DONE]``. The deltas add up to the whole text. A client that goes away
    closes this generator, which cancels the work; the request is counted while it runs."""
    with link.admitted(audio.duration, limit=math.inf):  # room was checked before the response began
        async for line in _event_lines(link, audio, vocabulary):
            yield line


async def _event_lines(link: EngineLink, audio: AudioInput, vocabulary: Vocabulary | None):
    deltas: asyncio.Queue = asyncio.Queue()
    sent = ""

    def progress(event: FileProgress) -> None:
        deltas.put_nowait(event.text)

    def line(document) -> str:
        return f"data: {json.dumps(document, ensure_ascii=False)}\n\n"

    task = asyncio.ensure_future(link.transcribe(audio, Priority.REQUEST, progress, vocabulary=vocabulary))
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
            yield line({"type": "error", "error": {"message": str(exc), "type": "server_error"}})
            return
        text = transcript.text
        if text.startswith(sent) and len(text) > len(sent):
            yield line({"type": "transcript.text.delta", "delta": text[len(sent):]})
        yield line({"type": "transcript.text.done", "text": text,
                    "usage": {"type": "duration", "seconds": round(transcript.duration, 3)}})
        yield "data: [DONE]\n\n"
    finally:
        if not task.done():  # the client went away mid-stream
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _gpu_report() -> dict | None:
    try:
        import torch

        free, total = torch.cuda.mem_get_info()
        return {"name": torch.cuda.get_device_name(), "memory_total_mb": total // 2**20,
                "memory_free_mb": free // 2**20,
                "memory_used_by_service_mb": torch.cuda.memory_allocated() // 2**20}
    except Exception as exc:  # a driver that stopped answering
        return {"error": str(exc)}

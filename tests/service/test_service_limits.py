"""The local service against hostile and careless clients: audio bombs, floods of jobs, a stale
discovery file with a stranger on its port, kills and SIGTERM at bad moments, streams that end
without a stop, hints that break the limits, slow and greedy connections. Each test makes the
fault happen for real (servers on loopback, real clients, bounded in count and time)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import websockets
import websockets.exceptions

from support.media import flac_bomb, ogg_bomb
from support.models import SPEECH_MODEL
from support.service import health, in_process_service, wav, ws_address
from support.speech import word_error_rate
from tools.memory import peak_rss_mb, reset_peak, rss_mb
from tools.waiting import wait_for


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """Ten hours of silence as FLAC (900 KB) and as Ogg Vorbis (2.4 MB), as sox makes them."""
    folder = tmp_path_factory.mktemp("bombs")
    return [flac_bomb(folder / "silence10h.flac", 10), ogg_bomb(folder / "silence10h.ogg", 10)]


def _post(url: str, token: str, path: Path, route: str = "/v1/audio/transcriptions", **data) -> httpx.Response:
    with path.open("rb") as f:
        return httpx.post(f"{url}{route}", headers={"Authorization": f"Bearer {token}"},
                          files={"file": (path.name, f)}, data=data, timeout=300)


# --- limits before work ----------------------------------------------------------------------


def test_ten_hour_bombs_are_refused_before_they_cost_memory(tmp_path, tiny_nemo, sentence, bombs, service_process):
    with service_process(tiny_nemo, tmp_path / "config") as running:
        pid = running.process.pid
        assert _post(running.url, running.token, sentence[2]).status_code == 200  # warm: a normal request
        idle = rss_mb(pid)
        reset_peak(pid)
        answers: dict[str, httpx.Response] = {}
        threads = [threading.Thread(
            target=lambda b=bomb: answers.update({b.name: _post(running.url, running.token, b)}))
                   for bomb in bombs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        peak = peak_rss_mb(pid)
        for bomb in bombs:
            answer = answers[bomb.name]
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert error["code"] == "audio_too_long" and "10.0 hours" in error["message"], error
        assert peak - idle < 150, f"idle {idle:.0f} MB, peak {peak:.0f} MB while refusing two bombs"
        assert _post(running.url, running.token, sentence[2]).status_code == 200  # and it still serves


def test_a_file_that_hides_its_length_is_stopped_at_the_limit(tmp_path, speech_model, sentence):
    """A FLAC header may leave the length out (as when written to a pipe): decoding stops as soon
    as the limit is passed, and what was decoded is gone."""
    hidden = flac_bomb(tmp_path / "hidden.flac", 1, undeclared=True)
    with in_process_service(speech_model, tmp_path, max_audio_seconds=300) as (service, _, _):
        answer = _post(service.url, service.token, hidden)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "audio_too_long"
        assert "longer than 5.0 minutes" in answer.json()["error"]["message"]
        assert _post(service.url, service.token, sentence[2]).status_code == 200
        uploads = service.uploads.path
        assert uploads.is_dir() and list(uploads.iterdir()) == []


def test_no_room_to_hold_the_audio_is_the_services_fault_not_the_files(tmp_path, speech_model, sentence):
    """The disk that holds decoded uploads is full (here: a file size limit on this process):
    507, said plainly, nothing left behind, and the next request is served once there is room."""
    import resource

    # Under the limit as an upload, over it once decoded (float32: twice the size); over it as an
    # upload already (the form's own spooled file fails).
    decoded_too_big = wav(tmp_path / "a-minute.wav", np.tile(sentence[1], 20))
    upload_too_big = wav(tmp_path / "two-minutes.wav", np.tile(sentence[1], 50))
    with in_process_service(speech_model, tmp_path) as (service, _, _):
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, hard))  # Python ignores SIGXFSZ: writes fail
        try:
            answers = [_post(service.url, service.token, path) for path in (decoded_too_big, upload_too_big)]
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        for full in answers:
            assert full.status_code == 507 and full.json()["error"]["code"] == "insufficient_storage", full.text
            assert "cannot hold this" in full.json()["error"]["message"]
        assert _post(service.url, service.token, sentence[2]).status_code == 200
        assert list(service.uploads.path.iterdir()) == []


def test_concurrent_job_posts_never_pass_the_limit_and_a_failed_upload_gives_its_place_back(
        tmp_path, speech_model, sentence):
    """The engine is held still, so every accepted job stays queued while 200 posts race."""
    with in_process_service(speech_model, tmp_path, run_engine=False, max_jobs=100) as (service, _, start_engine):
        body = sentence[2].read_bytes()

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=200)) as client:
                return await asyncio.gather(*(
                    client.post(f"{service.url}/v1/jobs", headers={"Authorization": f"Bearer {service.token}"},
                                files={"file": ("s.wav", body)}) for _ in range(200)))

        answers = asyncio.run(flood())
        statuses = [a.status_code for a in answers]
        assert statuses.count(202) == 100 and statuses.count(429) == 100, statuses
        refused = next(a for a in answers if a.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        listed = httpx.get(f"{service.url}/v1/jobs", headers={"Authorization": f"Bearer {service.token}"}).json()
        assert sum(job["status"] == "queued" for job in listed["data"]) == 100
        start_engine()

    with in_process_service(speech_model, tmp_path / "second", max_jobs=1) as (service, _, _):
        broken = tmp_path / "broken.wav"
        broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all" * 10)
        assert _post(service.url, service.token, broken, "/v1/jobs").status_code == 400
        assert _post(service.url, service.token, sentence[2], "/v1/jobs").status_code == 202


def test_queued_jobs_hold_a_bounded_total_of_audio_and_a_full_service_says_so(tmp_path, speech_model, sentence):
    """Short uploads of long audio fill the disk with decoded samples unless the total is kept:
    here room for about two of the sentence, the engine held still so that jobs stay queued."""
    seconds = len(sentence[1]) / 16000
    with in_process_service(speech_model, tmp_path, run_engine=False,
                            max_held_audio_bytes=int(seconds * 2.5 * 64000)) as (service, _, start_engine):
        owner = {"Authorization": f"Bearer {service.token}"}
        first, second = (_post(service.url, service.token, sentence[2], "/v1/jobs") for _ in range(2))
        assert (first.status_code, second.status_code) == (202, 202), second.text
        full = _post(service.url, service.token, sentence[2], "/v1/jobs")
        assert full.status_code == 507 and full.json()["error"]["code"] == "insufficient_storage", full.text
        assert "hours of audio already" in full.json()["error"]["message"] and int(full.headers["Retry-After"]) >= 1
        # Room comes back as the engine drops the cancelled job and finishes the other.
        httpx.delete(f"{service.url}/v1/jobs/{first.json()['id']}", headers=owner).raise_for_status()
        start_engine()
        wait_for(lambda: _post(service.url, service.token, sentence[2], "/v1/jobs").status_code == 202, 120,
                 "room for a job again")
        # (its samples go when the engine is done with them, a moment before the job says so)
        job = f"{service.url}/v1/jobs/{second.json()['id']}"
        wait_for(lambda: httpx.get(job, headers=owner).json()["status"] != "running", 60, "the job to end")
        done = httpx.get(job, headers=owner).json()
        assert done["status"] == "completed" and word_error_rate([sentence[0]], [done["result"]["text"]]) <= 0.4


# --- only our own service gets the token ------------------------------------------------------


class _StandIn:
    """Another program on a port that a stale service.json names: it answers /health "ready"
    (and, with *relay_to*, passes the nonce on to a real service and hands back its proof) and
    records everything it is sent."""

    def __init__(self, relay_to: str | None = None) -> None:
        self.requests: list[tuple[str, dict, bytes]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._record(b"")
                document = {"status": "ready", "model": "speech-tdt.nemo", "device": "cpu"}
                if relay_to is not None and "nonce=" in self.path:
                    document = httpx.get(f"{relay_to}{self.path}").json()
                self._answer(document)

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                self._record(self.rfile.read(length))
                self._answer({"text": "stolen", "duration": 1.0, "segments": [], "words": []})

            def _record(self, body: bytes) -> None:
                stand_in.requests.append((self.path, dict(self.headers), body))

            def _answer(self, document: dict) -> None:
                data = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def saw(self, secret: str) -> bool:
        return any(secret in path or secret in json.dumps(headers) or secret.encode() in body
                   for path, headers, body in self.requests)

    def close(self) -> None:
        self.server.shutdown()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _transcribe(config: Path, path: Path) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, with the speech model to fall back on."""
    env = {**os.environ, "PARAKEET_DESKTOP_CONFIG_DIR": str(config)}
    return subprocess.run([sys.executable, "-m", "parakeet_desktop", "transcribe", str(path), "--model",
                           str(SPEECH_MODEL), "--format", "txt", "--output-dir", "-"],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize("case", ["dead process", "live process, no proof", "proof relayed from a real service"])
def test_a_stale_discovery_file_never_sends_the_token_or_audio_to_another_program(
        tmp_path, tiny_nemo, sentence, case, service_process):
    config = tmp_path / "config"
    config.mkdir()
    with contextlib.ExitStack() as stack:
        token, relay_to = "t0ken-" + "x" * 40, None
        if case.startswith("proof"):  # a real service with the same token runs on another port
            running = stack.enter_context(service_process(tiny_nemo, tmp_path / "real-config"))
            token, relay_to = running.token, running.url
        (config / "api-token").write_text(token + "\n")
        stand_in = _StandIn(relay_to)
        stack.callback(stand_in.close)
        pid = _dead_pid() if case == "dead process" else os.getpid()
        (config / "service.json").write_text(json.dumps({"url": stand_in.url, "pid": pid, "model": "speech-tdt.nemo"}))
        result = _transcribe(config, sentence[2])
    assert result.returncode == 0, result.stderr
    assert not stand_in.saw(token) and not any(method_body for _, _, method_body in stand_in.requests)
    assert word_error_rate([sentence[0]], [result.stdout]) <= 0.4  # transcribed here instead
    if case == "dead process":
        assert stand_in.requests == []  # not even asked
        assert "is no longer running" in result.stderr and not (config / "service.json").exists()
    else:
        assert [path.split("?")[0] for path, _, _ in stand_in.requests] == ["/health"]
        assert "could not prove" in result.stderr and "neither the token nor any audio" in result.stderr


# --- nothing left behind, and shutdown says shutdown ------------------------------------------


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _open_in(pid: int, folder: Path) -> bool:
    """Whether the process has a file open in *folder* (unnamed ones included)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd).startswith(str(folder)) for fd in fds.iterdir())
    except OSError:
        return False


def test_kill_9_while_an_upload_is_decoded_leaves_no_copy_of_it(tmp_path, tiny_nemo, service_process):
    """An upload that decodes to four hours (its header hides its length): killed while its audio
    is being written out, the service leaves no file of it in the temporary folder or its own,
    once started again."""
    hidden = flac_bomb(tmp_path / "hidden.flac", 10, undeclared=True)
    temporary, config = tmp_path / "tmp", tmp_path / "config"
    temporary.mkdir()
    uploads = tmp_path / "config-data" / "uploads"
    with service_process(tiny_nemo, config, extra_env={"TMPDIR": str(temporary)}) as running:
        pid = running.process.pid
        def post() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies under it
                _post(running.url, running.token, hidden)

        poster = threading.Thread(target=post)
        poster.start()
        wait_for(lambda: _open_in(pid, uploads), 120, "the upload's audio to be written")
        running.process.kill()
        running.process.wait(30)
        poster.join(60)
    assert _files_under(temporary) == []
    with service_process(tiny_nemo, config, extra_env={"TMPDIR": str(temporary)}) as again:
        assert [p.name for p in uploads.iterdir()] == [str(again.process.pid)]
        assert _files_under(uploads) == [] and _files_under(temporary) == []


def test_sigterm_with_a_request_in_flight_answers_503_shutting_down(tmp_path, tiny_nemo, service_process):
    """Also: with the token from the environment, the start message says so (no file to name)."""
    long = wav(tmp_path / "long.wav", np.random.default_rng(1).normal(0, 0.1, 16000 * 1200).astype(np.float32))
    token = "environment-token-" + "y" * 30
    with service_process(tiny_nemo, tmp_path / "config", extra_env={"PARAKEET_DESKTOP_API_TOKEN": token}) as running:
        log = "".join(running.log)
        assert "PARAKEET_DESKTOP_API_TOKEN" in log and "api-token" not in log
        answer = {}
        poster = threading.Thread(target=lambda: answer.update(response=_post(running.url, token, long)))
        poster.start()
        wait_for(lambda: health(running)["queue_depth"] == 1, 120, "the request")
        time.sleep(1.0)  # decoded and recognising (nothing to wait for: any moment is a bad one)
        running.process.send_signal(signal.SIGTERM)
        poster.join(120)
        assert running.process.wait(60) == 0
    response = answer["response"]
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "shutting_down" and int(response.headers["Retry-After"]) >= 1
    assert "Traceback" not in "".join(running.log)


def test_health_without_the_token_says_the_state_and_nothing_else(tmp_path):
    from parakeet_desktop.service.app import ServiceConfig
    from parakeet_desktop.service.link import EngineLink
    from parakeet_desktop.service.server import LocalService

    link = EngineLink("/home/someone/models/private-model.nemo")  # still loading
    service = LocalService(link, ServiceConfig(port=0), folder=tmp_path, data_folder=tmp_path / "data")
    service.start()
    try:
        anyone = httpx.get(f"{service.url}/health").json()
        owner = httpx.get(f"{service.url}/health", headers={"Authorization": f"Bearer {service.token}"}).json()
        link.failed("cannot read /home/someone/models/private-model.nemo")
        failed = httpx.get(f"{service.url}/health").json()
    finally:
        service.stop()
    assert anyone == {"status": "loading"}  # no model, queue, streams or process for anyone
    assert owner["model"] == "/home/someone/models/private-model.nemo" and owner["queue_depth"] == 0
    assert "/home" not in json.dumps(failed) and failed["status"] == "error" and set(failed) == {"status", "error"}


# --- no final is lost ---------------------------------------------------------------------------


async def _speak_without_stop(url: str, token: str, samples: np.ndarray, until_closed: float) -> list[dict]:
    """Send *samples* as a live stream (no endpointing), never send stop; every message until
    the server closes the connection."""
    received = []
    async with websockets.connect(f"{url}?token={token}") as ws:
        await ws.recv()
        await ws.send(json.dumps({"action": "start", "sample_rate": 16000, "endpointing": False}))
        pcm = (samples * 32767).astype("<i2").tobytes()
        for offset in range(0, len(pcm), 3200):
            await ws.send(pcm[offset : offset + 3200])
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), until_closed)))
    return received


def _final_then_error(events: list[dict]) -> tuple[str, str]:
    finals = [e for e in events if e["type"] == "transcription" and e["is_final"]]
    assert len(finals) == 1, events
    after = events[events.index(finals[0]) + 1 :]
    errors = [e["message"] for e in after if e["type"] == "error"]
    assert errors, events
    return finals[0]["text"], errors[-1]


def test_a_stream_closed_for_silence_gets_its_final_first(tmp_path, speech_model, sentence):
    with in_process_service(speech_model, tmp_path, stream_idle_seconds=2.0) as (service, _, _):
        url = ws_address(service)
        events = asyncio.run(_speak_without_stop(url, service.token, sentence[1], 300))
    text, why = _final_then_error(events)
    assert word_error_rate([sentence[0]], [text]) <= 0.4 and "without a message" in why


def test_a_stream_gets_its_final_when_the_service_stops(tmp_path, sentence, service_process):
    with service_process(SPEECH_MODEL, tmp_path / "config") as running:
        result = {}

        def client() -> None:
            result["events"] = asyncio.run(_speak_without_stop(running.ws_url, running.token, sentence[1], 300))

        thread = threading.Thread(target=client)
        thread.start()
        wait_for(lambda: health(running)["streams"] == 1, 60, "the stream")
        time.sleep(1.0)  # its audio sent
        running.process.send_signal(signal.SIGTERM)
        thread.join(300)
        assert running.process.wait(60) == 0
    text, why = _final_then_error(result["events"])
    assert word_error_rate([sentence[0]], [text]) <= 0.4 and "stopping" in why


def test_stopping_right_after_a_client_closed_its_stream_does_not_wait(tmp_path, speech_model, caplog):
    """The service is told to stop while a connection its client has just closed is still
    being put away (its handler returning): ending that connection has nothing to send and
    finishes at once, where it used to wait for a send that could no longer happen (65 s, then
    a traceback in the log)."""
    from websockets.sync.client import connect

    with caplog.at_level("WARNING", logger="parakeet_desktop.service.server"), \
            in_process_service(speech_model, tmp_path) as (service, _, _):
        hub = service.app.state.streams
        with connect(ws_address(service, f"/v1/stream?token={service.token}")) as ws:
            assert json.loads(ws.recv(60))["type"] == "welcome"
            wait_for(lambda: len(hub.connections) == 1, 60, "the connection")
            connection = next(iter(hub.connections))
        wait_for(lambda: not hub.connections, 60, "the connection put away")

        async def end_it() -> str:
            await connection.end("The service is stopping.", 1001, 60)
            return "ended"

        assert service.thread.run(end_it(), 120) == "ended"
    assert not [r for r in caplog.records if r.name == "parakeet_desktop.service.server"], caplog.text
    assert "Traceback" not in caplog.text


def test_a_stream_whose_recognition_fails_still_gets_a_final(tmp_path, speech_model, sentence, monkeypatch):
    """A step that fails outside the recogniser's own fallback: the stream ends with a final made
    from its audio, the error, and "stopped"; the connection stays usable."""
    from parakeet_desktop.engine.live.dictation import DictationSession

    real = DictationSession.catch_up
    failed = []

    def failing(session):
        if not failed:
            failed.append(True)
            raise RuntimeError("the step broke")
        return real(session)

    monkeypatch.setattr(DictationSession, "catch_up", failing)
    with in_process_service(speech_model, tmp_path, run_engine=False) as (service, engine, start_engine):
        url = ws_address(service, f"/v1/stream?token={service.token}")

        async def main():
            events = []
            async with websockets.connect(url) as ws:
                await ws.recv()
                await ws.send(json.dumps({"action": "start", "sample_rate": 16000}))
                pcm = (sentence[1] * 32767).astype("<i2").tobytes()
                frames = range(0, len(pcm), 3200)
                for offset in frames:
                    await ws.send(pcm[offset : offset + 3200])
                # All of it waits in the engine's inbox before the first step (which fails) runs.
                await asyncio.to_thread(wait_for, lambda: engine.inbox.qsize() >= len(frames) + 1, 60, "the audio")
                start_engine()
                while not events or events[-1]["type"] != "stopped":
                    events.append(json.loads(await asyncio.wait_for(ws.recv(), 300)))
                await ws.send(json.dumps({"action": "start", "sample_rate": 16000}))  # usable again
                await ws.send(json.dumps({"action": "stop"}))
                while events[-1]["type"] != "stopped" or len([e for e in events if e["type"] == "stopped"]) < 2:
                    events.append(json.loads(await asyncio.wait_for(ws.recv(), 300)))
            return events

        events = asyncio.run(main())
    assert failed
    first = events[: events.index({"type": "stopped"}) + 1]
    assert any(e["type"] == "error" and "the step broke" in e["message"] for e in first)
    finals = [e["text"] for e in first if e["type"] == "transcription" and e["is_final"]]
    assert len(finals) == 1 and word_error_rate([sentence[0]], finals) <= 0.4


# --- hints never fail a request; an honest 429 --------------------------------------------------


def test_prompt_parts_past_the_limits_are_left_out_with_a_warning(tmp_path, speech_model, sentence):
    compound = "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft" * 2
    japanese = "東京特許許可局長今日急遽休暇許可拒否" * 8  # one "word", no spaces
    many = ", ".join(f"name{n}" for n in range(1500))
    with in_process_service(speech_model, tmp_path) as (service, _, _):
        api = openai.OpenAI(base_url=f"{service.url}/v1", api_key=service.token, max_retries=0)
        for prompt, why in ((f"Kubernetes, {compound}.", "longer than 100 characters"),
                            (japanese, "longer than 100 characters"), (many, "past the limit of 1000 phrases")):
            raw = api.audio.transcriptions.with_raw_response.create(model="x", file=sentence[2], prompt=prompt)
            assert raw.http_response.status_code == 200
            assert why in raw.headers["X-Parakeet-Warning"]
            assert word_error_rate([sentence[0]], [raw.parse().text]) <= 0.4
        # A prompt past the size of a form field (Starlette's 1 MiB) is left out, the rest read.
        huge = "Kubernetes, " + "a long prompt. " * 250_000
        raw = api.audio.transcriptions.with_raw_response.create(model="x", file=sentence[2], prompt=huge,
                                                                response_format="json")
        assert raw.http_response.status_code == 200
        assert "The prompt was longer than 1 MiB and was left out." in raw.headers["X-Parakeet-Warning"]
        assert word_error_rate([sentence[0]], [raw.parse().text]) <= 0.4
        # Another field that size is no hint: refused, saying why.
        with pytest.raises(openai.BadRequestError, match="maximum size"):
            api.audio.transcriptions.create(model="x", file=sentence[2], language="x" * (2 << 20))
        # A list the client made itself is held to the limits.
        with pytest.raises(openai.BadRequestError, match="at most 1000"):
            api.audio.transcriptions.create(model="x", file=sentence[2],
                                            extra_body={"keywords": [f"name{n}" for n in range(1001)]})
        with pytest.raises(openai.BadRequestError, match="at most 100 characters"):
            api.audio.transcriptions.create(model="x", file=sentence[2], extra_body={"keywords": [japanese]})


def test_a_429_says_the_same_wait_in_its_body_and_retry_after(tmp_path, speech_model, sentence):
    long = wav(tmp_path / "long.wav", np.tile(sentence[1], 20))
    with in_process_service(speech_model, tmp_path, max_waiting=1, run_engine=False) as (service, _, start_engine):
        service.link.compute_ratio = 0.5  # as if measured: half a second of work per second of audio
        first = threading.Thread(target=lambda: _post(service.url, service.token, long))
        first.start()
        wait_for(lambda: health(service)["queue_depth"] == 1, 60, "the first request")
        wait_for(lambda: all(t.seconds for t in service.link._tickets), 60, "its audio to be decoded")
        busy = _post(service.url, service.token, sentence[2])
        start_engine()
        first.join(300)
    assert busy.status_code == 429
    said = int(re.search(r"through in about (\d+) s", busy.json()["error"]["message"]).group(1))
    expected = round(0.5 * len(np.tile(sentence[1], 20)) / 16000)
    assert said == int(busy.headers["Retry-After"]) and abs(said - expected) <= 1



def test_a_full_job_queue_asks_to_wait_as_long_as_it_has_been_draining():
    """The wait a full job queue gives is the audio it still holds at the rate its last jobs went
    through (waiting beside other requests included), not at the engine's bare speed."""
    from parakeet_desktop.service.errors import ApiError
    from parakeet_desktop.service.jobs import JobBook, JobStatus

    book = JobBook()
    now = time.time()
    # Three one-minute files sent together took 100 s each, one after another; after an idle hour
    # a fourth took 100 s too (the idle time is not the queue's).
    for n, (created, finished) in enumerate([(now - 4000, now - 3900), (now - 4000, now - 3800),
                                             (now - 4000, now - 3700), (now - 200, now - 100)]):
        job = book.add(book.reserve(10, 0.05), f"done{n}.wav", 60.0, {})
        job.created, job.finished, job.status = created, finished, JobStatus.COMPLETED
    for n in range(2):  # two one-minute files queued
        book.add(book.reserve(10, 0.05), f"queued{n}.wav", 60.0, {})
    with pytest.raises(ApiError) as full:
        book.reserve(2, 0.05)
    assert full.value.status == 429
    assert full.value.retry_after == pytest.approx(2 * 60 * 400 / 240)  # not 2 * 60 * 0.05


# --- slow and greedy clients ---------------------------------------------------------------------


def test_slow_headers_and_stalled_bodies_are_cut_off_while_others_are_served(tmp_path, speech_model, sentence):
    slow_count = 200
    with in_process_service(speech_model, tmp_path, header_timeout=2.0, body_timeout=2.0) as (service, _, _):
        port = int(service.url.rsplit(":", 1)[1])
        slow = []
        for _ in range(slow_count):  # a slowloris: a request line, then a header a byte at a time
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            connection.settimeout(60)
            slow.append(connection)
        served = _post(service.url, service.token, sentence[2])
        assert served.status_code == 200  # a normal request meanwhile
        closed = 0
        started = time.monotonic()
        for connection in slow:
            try:
                while True:
                    connection.sendall(b"a")
                    data = connection.recv(4096) if _readable(connection) else None
                    if data is not None:
                        closed += data == b"" or data.startswith(b"HTTP/1.1 408")
                        break
                    time.sleep(0.05)
                    assert time.monotonic() - started < 120, "slow connections were not closed"
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            finally:
                connection.close()
        assert closed == slow_count
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.sendall(f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                        f"{service.token}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                        "Content-Length: 100000\r\n\r\n--x\r\n".encode())
        stalled.settimeout(60)
        answer = b""
        while chunk := stalled.recv(4096):  # to the close: the head and the body may come apart
            answer += chunk
        stalled.close()
        assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer


def _readable(connection: socket.socket) -> bool:
    import select

    return bool(select.select([connection], [], [], 0)[0])


def test_a_request_without_the_token_is_refused_before_its_body(tmp_path, speech_model):
    with in_process_service(speech_model, tmp_path) as (service, _, _):
        port = int(service.url.rsplit(":", 1)[1])
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: localhost\r\n"
                           b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000000000\r\n\r\n")
        sent, chunk = 0, b"\0" * 65536
        connection.settimeout(5)
        started = time.monotonic()
        try:
            while time.monotonic() - started < 10 and sent < 2**30:
                sent += connection.send(chunk)
        except OSError:
            pass  # closed by the server
        answer = b""
        with contextlib.suppress(OSError):
            answer = connection.recv(4096)
        connection.close()
    assert sent < 64 * 2**20, f"{sent / 2**20:.0f} MB of a refused body were read"
    assert answer.startswith(b"HTTP/1.1 401") and b"connection: close" in answer.lower()


def test_the_101st_stream_is_refused_clearly(tmp_path, speech_model):
    with in_process_service(speech_model, tmp_path) as (service, _, _):
        url = ws_address(service, f"/v1/stream?token={service.token}")

        async def main():
            sockets = [await websockets.connect(url) for _ in range(100)]
            for ws in sockets:
                assert json.loads(await ws.recv())["type"] == "welcome"
            health_now = health(service)
            async with websockets.connect(url) as extra:
                refused = json.loads(await extra.recv())
                with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                    await extra.recv()
            for ws in sockets:
                await ws.close()
            return health_now, refused, closed.value.rcvd.code

        figures, refused, code = asyncio.run(main())
    assert figures["streams"] == 100 and figures["max_streams"] == 100
    assert refused["type"] == "error" and "100 streams" in refused["message"] and code == 1013

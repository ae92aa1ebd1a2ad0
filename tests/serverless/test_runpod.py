"""The RunPod serverless worker through the ``runpod`` SDK's own local test modes, never a real
endpoint: a ``--test_input`` run, and the SDK's local API server (``--rp_serve_api``) with audio
as base64 and by URL. The URL is served by the test from loopback, which the worker is told to
allow (``PARAKEET_AUDIO_URL_ALLOW``) for this test only; every other inside address is refused."""

from __future__ import annotations

import ast
import base64
import contextlib
import http.server
import io
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile

from parakeet_desktop.serverless.fetch import FetchRefused, fetch_audio, is_public
from support.models import SPEECH_MODEL
from support.service import free_port
from support.speech import held_out_utterances, silence, word_error_rate
from tools.waiting import wait_for

WORKER_ENV = {"PARAKEET_MODEL": str(SPEECH_MODEL), "PARAKEET_DEVICE": "cpu"}
MAX_BYTES = 400_000
DEADLINE = 6.0  # the whole download, for the local API server's worker


@pytest.fixture(scope="module")
def speech():
    """Two held-out sentences as one WAV file, and its reference text."""
    (first, a), (second, b) = held_out_utterances(2)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.concatenate([silence(0.3), a, silence(1.0), b, silence(0.3)]), 16000, format="WAV")
    return f"{first} {second}", buffer.getvalue()


class _Files(http.server.BaseHTTPRequestHandler):
    """The test's own audio server on loopback: /speech.wav, a redirect to the cloud's metadata
    address, and a body larger than the worker takes (with no length announced)."""

    audio = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/speech.wav":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.audio)))
            self.end_headers()
            self.wfile.write(self.audio)
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        elif self.path == "/to-data":
            self.send_response(302)
            self.send_header("Location", "data:audio/wav;base64,UklGRg==")
            self.end_headers()
        elif self.path == "/drip.wav":  # a byte a second, for as long as the client listens
            self._drip([b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"], b"\0")
        elif self.path == "/slow-headers":  # a header line a second
            self._drip([b"HTTP/1.1 200 OK\r\n"], b"X-Slow: yes\r\n")
        elif self.path == "/endless.wav":
            self.send_response(200)
            self.end_headers()  # no length: the worker must stop reading by itself
            with contextlib.suppress(OSError):
                for _ in range(1000):
                    self.wfile.write(b"\0" * 65536)
        else:
            self.send_error(404)

    def _drip(self, first: list[bytes], then: bytes) -> None:
        with contextlib.suppress(OSError):
            for piece in first:
                self.wfile.write(piece)
            for _ in range(120):  # bounded: two minutes at most
                self.wfile.write(then)
                self.wfile.flush()
                time.sleep(1.0)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def audio_server(speech):
    _Files.audio = speech[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _job_result(stdout: str) -> dict:
    line = next(line for line in stdout.splitlines() if "Job result: " in line)
    return ast.literal_eval(line.split("Job result: ", 1)[1])


@pytest.fixture(scope="session")
def worker_process():
    """``python -m parakeet_desktop.serverless ARGS…`` in *folder*, the worker loading the speech
    model (a test that asks for it is in the ``service`` group)."""
    def run(folder, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "parakeet_desktop.serverless", *args], capture_output=True,
                              text=True, timeout=600, cwd=folder, env={**os.environ, **WORKER_ENV})
    return run


def test_the_handler_in_this_process_answers_jobs_and_refuses_bad_ones(speech_model, speech, audio_server,
                                                                        monkeypatch):
    """The worker's handler as the SDK calls it, around the model the tests share; the worker
    process itself is tried below."""
    from parakeet_desktop.serverless.worker import Worker

    monkeypatch.setenv("PARAKEET_AUDIO_URL_ALLOW", "127.0.0.1/32")
    monkeypatch.setenv("PARAKEET_MAX_AUDIO_BYTES", str(MAX_BYTES))
    worker = Worker(speech_model)
    reference, wav = speech
    answer = worker.handle({"input": {"audio_base64": "data:audio/wav;base64," + base64.b64encode(wav).decode()}})
    assert word_error_rate([reference], [answer["text"]]) <= 0.4
    assert " ".join(w["word"] for w in answer["words"]) == answer["text"] and answer["device"] == "cpu"
    by_url = worker.handle({"input": {"audio_url": f"{audio_server}/speech.wav", "timestamps": False,
                                      "chunk_duration": 1000}})
    assert by_url["text"] == answer["text"] and "words" not in by_url
    assert any("longer than this device takes" in w for w in by_url["warnings"])
    assert "not public" in worker.handle({"input": {"audio_url": "http://169.254.169.254/"}})["error"]
    assert "169.254.169.254" in worker.handle({"input": {"audio_url": f"{audio_server}/to-metadata"}})["error"]
    assert "must be an object" in worker.handle({"input": "hello"})["error"]
    assert "audio_url must be a string" in worker.handle({"input": {"audio_url": 5}})["error"]


def test_a_worker_whose_model_cannot_load_says_so_in_a_line(tmp_path, monkeypatch):
    """``python -m parakeet_desktop.serverless`` as the SDK starts it, run in this process."""
    import runpy

    notes = tmp_path / "notes.nemo"
    notes.write_text("not a model\n" * 100)
    monkeypatch.setenv("PARAKEET_MODEL", str(notes))
    monkeypatch.setenv("PARAKEET_DEVICE", "cpu")
    with pytest.raises(SystemExit) as stopped:
        runpy.run_module("parakeet_desktop.serverless", run_name="__main__")
    assert str(stopped.value.code).startswith("error: ") and "notes.nemo" in str(stopped.value.code)


def test_the_sdks_test_input_run_transcribes_base64_audio(speech, tmp_path, worker_process):
    """The job from test_input.json (the SDK's file for it: the audio is too long for --test_input's
    command-line argument), then a bad one given with --test_input."""
    reference, wav = speech
    job = {"input": {"audio_base64": base64.b64encode(wav).decode(), "format": "wav"}}
    (tmp_path / "test_input.json").write_text(json.dumps(job))
    run = worker_process(tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    output = _job_result(run.stdout)["output"]
    assert word_error_rate([reference], [output["text"]]) <= 0.4
    assert output["language"] == "en" and output["device"] == "cpu" and output["duration"] > 3
    assert " ".join(w["word"] for w in output["words"]) == output["text"]
    assert len(output["segments"]) >= 2 and all(s["start"] < s["end"] for s in output["segments"])
    bad = worker_process(tmp_path, "--test_input", json.dumps({"input": {"audio_base64": "not base64!"}}))
    assert bad.returncode == 1 and "audio_base64 is not base64" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


@pytest.fixture(scope="module")
def local_api(tmp_path_factory):
    """The SDK's local API server around the worker, allowed to fetch from loopback's 127.0.0.1."""
    port = free_port()
    log = tmp_path_factory.mktemp("runpod") / "worker.log"
    env = {**os.environ, **WORKER_ENV, "PARAKEET_AUDIO_URL_ALLOW": "127.0.0.1/32",
           "PARAKEET_MAX_AUDIO_BYTES": str(MAX_BYTES), "PARAKEET_AUDIO_URL_DEADLINE": str(DEADLINE)}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "parakeet_desktop.serverless", "--rp_serve_api",
                                    "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/docs", timeout=5).status_code < 500
        assert process.poll() is None, log.read_text()
        return False

    try:
        wait_for(up, 300, "the worker's local API server")
        yield url
    finally:
        process.terminate()
        process.wait(60)
    assert "Traceback" not in log.read_text()


def runsync(url: str, job_input: dict) -> dict:
    return httpx.post(f"{url}/runsync", json={"input": job_input}, timeout=300).json()


def test_the_local_api_server_takes_base64_and_urls_alike(local_api, audio_server, speech):
    reference, wav = speech
    by_data = runsync(local_api, {"audio_base64": base64.b64encode(wav).decode(), "timestamps": False})
    assert by_data["status"] == "COMPLETED", by_data
    assert word_error_rate([reference], [by_data["output"]["text"]]) <= 0.4
    assert "words" not in by_data["output"] and "segments" not in by_data["output"]
    by_url = runsync(local_api, {"audio_url": f"{audio_server}/speech.wav", "chunk_duration": 5})
    assert by_url["status"] == "COMPLETED", by_url
    assert by_url["output"]["text"] == by_data["output"]["text"]
    assert all(s["end"] - s["start"] <= 5.0 + 0.01 for s in by_url["output"]["segments"])
    assert "5 s" in by_url["output"]["long_audio"]


@pytest.mark.parametrize("url, why", [
    ("http://169.254.169.254/latest/meta-data/", "not public"),  # the cloud's metadata service
    ("http://10.0.0.8/a.wav", "not public"),
    ("http://192.168.1.1/a.wav", "not public"),
    ("http://127.0.0.2:9/a.wav", "not public"),  # loopback beyond the address the test allowed
    ("http://[::1]:9/a.wav", "not public"),
    ("http://[::ffff:169.254.169.254]/", "not public"),
    ("http://[::127.0.0.1]:9/a.wav", "not public"),  # IPv4-compatible
    ("http://[64:ff9b::7f00:1]:9/a.wav", "not public"),  # NAT64 of 127.0.0.1
    ("http://[::1", "not a URL that can be fetched"),
    ("file:///etc/passwd", "http:// or https://"),
    ("ftp://example.com/a.wav", "http:// or https://"),
])
def test_inside_addresses_and_other_schemes_are_refused(local_api, url, why):
    answer = runsync(local_api, {"audio_url": url})
    assert answer["status"] == "FAILED" and why in answer["error"], answer


def test_a_redirect_inside_and_an_endless_body_are_refused(local_api, audio_server):
    redirected = runsync(local_api, {"audio_url": f"{audio_server}/to-metadata"})
    assert redirected["status"] == "FAILED" and "169.254.169.254" in redirected["error"]
    to_data = runsync(local_api, {"audio_url": f"{audio_server}/to-data"})
    assert to_data["status"] == "FAILED" and "not an http(s) URL" in to_data["error"], to_data
    endless = runsync(local_api, {"audio_url": f"{audio_server}/endless.wav"})
    assert endless["status"] == "FAILED" and f"larger than {MAX_BYTES} bytes" in endless["error"]


@pytest.mark.parametrize("path", ["/drip.wav", "/slow-headers"])
def test_a_server_that_answers_a_byte_at_a_time_is_given_up_at_the_deadline(local_api, audio_server, path):
    answer = runsync(local_api, {"audio_url": f"{audio_server}{path}"})
    assert answer["status"] == "FAILED" and f"did not arrive within {DEADLINE:g} s" in answer["error"], answer
    # The worker is free again at once: the next job is done.
    assert runsync(local_api, {"audio_url": f"{audio_server}/speech.wav"})["status"] == "COMPLETED"


@pytest.mark.parametrize("job_input, why", [
    ({}, "one of audio_base64 or audio_url"),
    ({"audio_base64": "AAAA", "audio_url": "https://example.com/a.wav"}, "one of audio_base64 or audio_url"),
    ({"audio_base64": base64.b64encode(b"RIFF and nothing more").decode()}, "could not be read"),
    ({"audio_base64": "AAAA", "timestamps": "yes"}, "timestamps must be true or false"),
    ({"audio_base64": "AAAA", "chunk_duration": 0.5}, "chunk_duration must be"),
    ({"audio_base64": "AAAA", "format": "exe"}, "format must name"),
    ({"audio_base64": "AAAA", "language": "en"}, "Unknown input fields: language"),
    ({"audio_base64": "A" * (MAX_BYTES * 2)}, f"more than {MAX_BYTES} bytes"),
])
def test_bad_input_gets_a_sentence_not_a_traceback(local_api, job_input, why):
    answer = runsync(local_api, job_input)
    assert answer["status"] == "FAILED" and why in answer["error"], answer


def test_which_addresses_are_public():
    public = ["8.8.8.8", "2606:4700:4700::1111", "151.101.1.69"]
    inside = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
              "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "224.0.0.1", "255.255.255.255",
              # IPv6 that carries an inside IPv4 address: NAT64 (well-known and local-use prefixes),
              # IPv4-compatible, IPv4-translated, 6to4, and Teredo with a private client
              "64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "::a9fe:a9fe", "::ffff:0:a9fe:a9fe",
              "2002:a9fe:a9fe::1", "::127.0.0.1", "64:ff9b::7f00:1", "2001:0:4136:e378:8000:63bf:f5ff:fffe"]
    public += ["64:ff9b::808:808", "2002:808:808::1"]  # the same forms around a public address
    assert all(is_public(ipaddress.ip_address(a)) for a in public)
    assert not any(is_public(ipaddress.ip_address(a)) for a in inside)
    with pytest.raises(FetchRefused, match="could not be resolved"):
        fetch_audio("http://no-such-host.invalid/a.wav", 1000)

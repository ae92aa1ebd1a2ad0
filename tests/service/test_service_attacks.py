"""The service's newer surfaces under attack, each attack made for real against one ``serve``
process on loopback (bounded in count and time): made-up methods and paths against ``/metrics``,
deeply nested JSON on every WebSocket protocol, a web page of an allowed origin and of another (by
HTTP, and in a real Chromium), a thousand connections that never send a request, and streams taken
without the token."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import re
import shutil
import socket
import subprocess
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
import websockets
import websockets.exceptions

from support.models import SPEECH_MODEL
from support.service import EARS_RATE, ears_client, ws_address
from support.speech import word_error_rate

ALLOWED = "https://notes.example.com"
CHROMIUM = shutil.which("chromium")
DEEP = '{"action": "start", "x": ' + "[" * 5000 + "]" * 5000 + "}"


PAGE = """<!doctype html><title>notes</title><pre id="out">waiting</pre><script>
(async () => {
  const asked = new URLSearchParams(location.search), out = document.getElementById("out");
  try {
    const form = new FormData();
    form.append("file", await (await fetch("sentence.wav")).blob(), "sentence.wav");
    const answer = await fetch(asked.get("api") + "/v1/audio/transcriptions",
                               {method: "POST", headers: {Authorization: "Bearer " + asked.get("token")}, body: form});
    out.textContent = JSON.stringify({status: answer.status, text: (await answer.json()).text});
  } catch (error) {
    out.textContent = JSON.stringify({error: String(error)});
  }
})();
</script>"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory, sentence):
    """A web app's page (PAGE and a recording beside it) served from two origins on loopback:
    ``allowed`` (the service allows it) and ``other``."""
    folder = tmp_path_factory.mktemp("pages")
    (folder / "page.html").write_text(PAGE, "utf-8")
    shutil.copyfile(sentence[2], folder / "sentence.wav")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in zip(("allowed", "other"),
                                                                                             servers)}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, service_process, pages):
    """``serve`` of the speech model, allowing two web origins and streams without the token."""
    with service_process(SPEECH_MODEL, tmp_path_factory.mktemp("attacked") / "config", "--allow-origin", ALLOWED,
                         "--allow-origin", pages["allowed"], "--streams-without-token") as running:
        yield running


def _series(page: str) -> int:
    return sum(1 for line in page.splitlines() if line.startswith("parakeet_requests_total{"))


def test_thousands_of_made_up_methods_and_paths_leave_metrics_small(attacked):
    owner = {"Authorization": f"Bearer {attacked.token}"}
    before = httpx.get(f"{attacked.url}/metrics", headers=owner)
    assert before.status_code == 200
    with httpx.Client(base_url=attacked.url, timeout=30) as anyone, \
            httpx.Client(base_url=attacked.url, headers=owner, timeout=30) as holder:
        for n in range(3000):
            client = holder if n % 2 else anyone
            answer = client.request(f"M{n:05d}{'X' * (n % 50)}", f"/health/{n}/{'p' * (n % 300)}")
            assert answer.status_code in (401, 404, 405), answer.text
            assert client.get(f"/v1/jobs/job_{n:x}").status_code in (401, 404)
    after = httpx.get(f"{attacked.url}/metrics", headers=owner)
    page = after.text
    assert after.status_code == 200 and len(page) < len(before.text) + 8000, len(page)
    assert _series(page) <= _series(before.text) + 8
    assert 'method="other"' in page and 'route="/v1/jobs/{job_id}"' in page
    assert not re.search(r'method="M\d', page) and "/health/" not in page
    assert httpx.get(f"{attacked.url}/health").json()["status"] == "ready"


async def _deep_json_then_speech(url: str, samples: np.ndarray) -> list[dict]:
    """On /v1/stream: the nested message, then a whole stream on the same connection."""
    async with websockets.connect(url, max_size=None) as ws:
        messages = [json.loads(await ws.recv())]
        await ws.send(DEEP)
        messages.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
        await ws.send(json.dumps({"action": "start", "sample_rate": 16000, "endpointing": False}))
        pcm = (samples * 32767).astype("<i2").tobytes()
        for offset in range(0, len(pcm), 3200):
            await ws.send(pcm[offset : offset + 3200])
        await ws.send(json.dumps({"action": "stop"}))
        async for message in ws:
            messages.append(json.loads(message))
            if messages[-1]["type"] == "stopped":
                break
    return messages


def test_deeply_nested_json_gets_an_error_and_the_stream_goes_on(attacked, sentence):
    text, samples, _ = sentence
    stream = asyncio.run(_deep_json_then_speech(ws_address(attacked, f"/v1/stream?token={attacked.token}"),
                                                samples))
    assert stream[0]["type"] == "welcome"
    assert stream[1]["type"] == "error" and "nested too deeply" in stream[1]["message"], stream[1]
    finals = [m["text"] for m in stream if m["type"] == "transcription" and m["is_final"]]
    assert finals and word_error_rate([text], [" ".join(finals)]) <= 0.4
    ratio = EARS_RATE / 16000  # eaRS's clients send 24 kHz
    at_24k = np.interp(np.arange(len(samples) * ratio) / ratio, np.arange(len(samples)), samples)
    for path in ("/", "/v1/audio/transcriptions/stream"):  # eaRS's protocol, and at Dalston's path
        ears = asyncio.run(ears_client(ws_address(attacked, f"{path}?token={attacked.token}"),
                                       at_24k.astype(np.float32), before=[DEEP], realtime=False))
        errors = [m["message"] for m in ears["messages"] if m.get("type") == "error"]
        assert errors and "nested too deeply" in errors[0], ears["messages"]
        words = " ".join(m.get("text", "") for m in ears["messages"] if m.get("type") == "final")
        assert word_error_rate([text], [words]) <= 0.4, ears["messages"]
        assert ears["close_code"] == 1000
    assert httpx.get(f"{attacked.url}/health").json()["status"] == "ready"


def test_an_allowed_origin_gets_cors_answers_and_another_origin_none(attacked, sentence):
    owner = {"Authorization": f"Bearer {attacked.token}"}
    url = f"{attacked.url}/v1/audio/transcriptions"
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
    preflight = httpx.options(url, headers={"Origin": ALLOWED, **asked})  # a browser's: no token in it
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    with sentence[2].open("rb") as f:
        answer = httpx.post(url, headers={"Origin": ALLOWED, **owner}, files={"file": f}, timeout=120)
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ALLOWED
    assert word_error_rate([sentence[0]], [answer.json()["text"]]) <= 0.4
    assert httpx.get(f"{attacked.url}/v1/models", headers={"Origin": ALLOWED}).status_code == 401  # still the token

    other = "https://evil.example"
    refused_preflight = httpx.options(url, headers={"Origin": other, **asked})
    assert "access-control-allow-origin" not in refused_preflight.headers and refused_preflight.status_code >= 400
    with sentence[2].open("rb") as f:
        refused = httpx.post(url, headers={"Origin": other, **owner}, files={"file": f}, timeout=120)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers



def _in_chromium(url: str, folder) -> dict:
    """What PAGE at *url* wrote, run by a real Chromium (headless, its own profile in *folder*)."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={folder}",
                           "--virtual-time-budget=120000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=300)
    found = re.search(r'<pre id="out">(.*?)</pre>', done.stdout, re.S)
    assert found, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (tools/run-tests installs it)")
def test_a_web_app_of_an_allowed_origin_transcribes_in_a_real_browser_and_another_cannot(attacked, pages, sentence,
                                                                                         tmp_path):
    """Chromium's own CORS: the preflight (which carries no token) and the upload from the allowed
    page's origin; the same page from another origin gets nothing (the browser refuses it)."""
    asked = urllib.parse.urlencode({"api": attacked.url, "token": attacked.token})
    allowed = _in_chromium(f"{pages['allowed']}/page.html?{asked}", tmp_path / "profile-a")
    assert allowed["status"] == 200, allowed
    assert word_error_rate([sentence[0]], [allowed["text"]]) <= 0.4
    other = _in_chromium(f"{pages['other']}/page.html?{asked}", tmp_path / "profile-b")
    assert other == {"error": "TypeError: Failed to fetch"}


def test_a_thousand_silent_connections_do_not_shut_out_a_client_with_the_token(attacked):
    host, port = "127.0.0.1", int(attacked.url.rsplit(":", 1)[1])
    silent = []
    try:
        for _ in range(1000):
            silent.append(socket.create_connection((host, port), timeout=30))
        answers = [httpx.get(f"{attacked.url}/v1/models", headers={"Authorization": f"Bearer {attacked.token}"},
                             timeout=30) for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5, answers[-1].text
        # The oldest of them were closed to make room.
        silent[0].settimeout(30)
        assert silent[0].recv(1) == b""
    finally:
        for connection in silent:
            connection.close()


async def _streams(url: str, count: int) -> list:
    opened = []
    for _ in range(count):
        ws = await websockets.connect(url)
        opened.append((ws, json.loads(await ws.recv())))
    return opened


def test_streams_without_the_token_take_half_the_places_at_most(attacked):
    async def main():
        anyone = ws_address(attacked, "/v1/stream")
        taken = await _streams(anyone, 50)
        try:
            refused = await _streams(anyone, 1)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await refused[0][0].recv()
            owner = await _streams(ws_address(attacked, f"/v1/stream?token={attacked.token}"), 1)
            await owner[0][0].close()
            return [m for _, m in taken], refused[0][1], closed.value.rcvd.code, owner[0][1]
        finally:
            for ws, _ in taken:
                with contextlib.suppress(Exception):
                    await ws.close()

    taken, refused, code, owner = asyncio.run(main())
    assert all(m["type"] == "welcome" for m in taken)
    assert refused["type"] == "error" and "without the token" in refused["message"] and code == 1013
    assert owner["type"] == "welcome"

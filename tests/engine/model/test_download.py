"""First run: a model not in the cache is downloaded through the hub client, with progress, from a
Hugging Face-style server on loopback; later runs load it from the cache with no network."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from parakeet_desktop.engine.model.download import DownloadError, download
from parakeet_desktop.engine.model.loader import load_model
from parakeet_desktop.engine.model.speech import ModelError
from support.cli import run_cli
from support.hub_server import HubServer

REPO = "parakeet-test/tiny-tdt"


def _started_app(settings):
    """The desktop app started with *settings*, a silent microphone and a keyboard that pastes."""
    from parakeet_desktop.engine.audio.file_device import FileSoundDevice
    from parakeet_desktop.ui.app import DesktopApp
    from support.app import PastingKeyboard

    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=np.zeros(16000 * 60, np.float32)),
                     keyboard=PastingKeyboard())
    app.start()
    return app


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_download_reports_progress_and_lands_in_the_cache(hub_cache, monkeypatch):
    data = os.urandom(25 * 2**20)  # the hub client reports every 10 MB
    seen = []
    with HubServer({f"{REPO}/tiny-tdt.nemo": data}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        path = download(REPO, progress=lambda done, total: seen.append((done, total)))
        with pytest.raises(DownloadError, match="no model"):
            download("parakeet-test/missing")
    assert path.read_bytes() == data and hub_cache in path.parents
    assert seen[-1] == (len(data), len(data))
    assert len(seen) >= 3 and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_first_run_downloads_and_later_runs_need_no_network(tiny_nemo, hub_cache, monkeypatch, speech_wavs):
    with HubServer({f"{REPO}/tiny-tdt.nemo": tiny_nemo.read_bytes()}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        first = run_cli("transcribe", str(speech_wavs[0]), "--model", REPO, "--format", "json",
                        "--output-dir", "-")
        assert first.returncode == 0, first.stderr
        assert any(r.startswith("GET ") for r in hub.requests)
    # The server is gone: the cached model loads without it, in a new process as after a restart.
    second = run_cli("transcribe", str(speech_wavs[0]), "--model", REPO, "--format", "json", "--output-dir", "-")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["text"] == json.loads(first.stdout)["text"]


def test_no_network_on_first_run_is_a_clear_error_quickly(hub_cache, monkeypatch):
    import time

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(ModelError, match="not downloaded yet") as caught:
        load_model(REPO, "cpu")
    assert "local .nemo file" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert time.monotonic() - started < 10
    assert not os.path.exists(hub_cache / "models--parakeet-test--tiny-tdt" / "snapshots")


def test_the_app_shows_the_download_then_falls_back_to_a_local_file(qtbot, qapp, app_dirs, hub_cache,
                                                                    monkeypatch, tiny_nemo):
    from parakeet_desktop.settings import config
    from support.app import close_app

    settings = config.Settings(model=REPO, device="cpu", sounds=False, hotkey="f9")
    with HubServer({f"{REPO}/tiny-tdt.nemo": tiny_nemo.read_bytes()}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        app = _started_app(settings)
        try:
            qtbot.waitUntil(lambda: app.setup.window is not None, timeout=60000)
            window = app.setup.window
            qtbot.waitUntil(lambda: "of" in window.detail.text() or "Loading" in window.detail.text(), timeout=60000)
            qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
            # The window says so, with how to dictate, until the user closes it.
            assert window.isVisible() and window.state == "ready" and "Hold F9" in window.about.text()
            assert window.buttons["close"].isVisible() and not window.buttons["quit"].isVisible()
        finally:
            close_app(app)

    # Another model, with no network: the window says why and takes a local file instead.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    offline = config.Settings(model="parakeet-test/other", device="cpu", sounds=False, hotkey="f9")
    app = _started_app(offline)
    try:
        qtbot.waitUntil(lambda: app.setup.window is not None and app.setup.window.retry_button.isVisible(),
                        timeout=60000)
        window = app.setup.window
        assert "not downloaded yet" in window.detail.text() and app.state == "error"
        window.choose_file(str(tiny_nemo))
        assert window.state == "loading" and "could not" not in window.title.text()  # no stale failure
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
        assert window.state == "ready"
        assert app.settings.model == str(tiny_nemo) and config.load_settings()[0].model == str(tiny_nemo)
    finally:
        close_app(app)


def test_a_model_file_damaged_or_removed_since_the_last_run_opens_the_first_run_window(
        qtbot, qapp, app_dirs, hub_cache, monkeypatch, tiny_nemo, tmp_path):
    """The configured .nemo file was cut short (a copy interrupted), then removed: each time the
    first-run window says why and offers a local file or the standard model, never a traceback;
    "Download" gets the standard model and the app is ready."""
    from parakeet_desktop.engine.model.download import model_filename
    from parakeet_desktop.engine.model.registry import DEFAULT_MODEL_ID
    from parakeet_desktop.settings import config
    from support.app import close_app

    mine = tmp_path / "my model.nemo"
    mine.write_bytes(tiny_nemo.read_bytes()[: tiny_nemo.stat().st_size // 2])
    settings = config.Settings(model=str(mine), device="cpu", sounds=False, hotkey="f9")
    config.save_settings(settings)
    with HubServer({f"{DEFAULT_MODEL_ID}/{model_filename(DEFAULT_MODEL_ID)}": tiny_nemo.read_bytes()}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        app = _started_app(settings)
        try:
            qtbot.waitUntil(lambda: app.setup.window is not None and app.setup.window.retry_button.isVisible(),
                            timeout=120000)
            window = app.setup.window
            assert "cannot be used" in window.title.text() and "my model.nemo" in window.detail.text()
            assert "damaged" in window.detail.text() and app.state == "error"
            assert window.download_button.isVisible() and window.file_button.isVisible()
            mine.unlink()
            window.retry_button.click()
            qtbot.waitUntil(lambda: "does not exist" in window.detail.text(), timeout=120000)
            assert window.retry_button.isVisible() and app.state == "error"
            next(b for b in window.choices.buttons() if b.property("model") == DEFAULT_MODEL_ID).click()
            window.download_button.click()
            qtbot.waitUntil(lambda: app.state == "ready", timeout=180000)
            assert window.state == "ready"
            assert app.settings.model == DEFAULT_MODEL_ID and config.load_settings()[0].model == DEFAULT_MODEL_ID
            assert any(model_filename(DEFAULT_MODEL_ID) in request for request in hub.requests)
        finally:
            close_app(app)


def test_the_first_run_asks_which_model_before_downloading_and_can_cancel(qtbot, qapp, app_dirs, hub_cache,
                                                                          monkeypatch, tiny_nemo):
    """A first start with the standard model not downloaded: the window offers the models with
    their sizes and languages, the one for this computer chosen (the small one without an NVIDIA
    GPU); nothing is downloaded until asked; a download can be cancelled (back to the choice) and
    started again; then the app is ready with the chosen model."""
    import threading

    from parakeet_desktop.engine.model.download import model_filename
    from parakeet_desktop.engine.model.registry import SMALL_MODEL_ID, has_nvidia_gpu, recommended_model
    from parakeet_desktop.settings import config
    from support.app import close_app

    hold = threading.Event()
    data = tiny_nemo.read_bytes()
    with HubServer({f"{SMALL_MODEL_ID}/{model_filename(SMALL_MODEL_ID)}": data}, hold=hold) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        app = _started_app(config.Settings(device="cpu", sounds=False, hotkey="f9"))
        try:
            window = app.setup.window
            assert window is not None and window.state == "choose" and not app.engine_thread.isRunning()
            texts = [b.text() for b in window.choices.buttons()]
            assert any("0.5 GB, English" in t for t in texts) and any("25 European languages" in t for t in texts)
            assert window.chosen() == recommended_model(has_nvidia_gpu())
            assert sum("recommended for this computer" in t for t in texts) == 1
            assert window.buttons["quit"].isVisible() and window.buttons["file"].isVisible()
            assert hub.requests == []  # nothing downloaded unasked
            next(b for b in window.choices.buttons() if b.property("model") == SMALL_MODEL_ID).click()
            window.buttons["start"].click()
            qtbot.waitUntil(lambda: any("GET" in r for r in hub.requests), timeout=60000)
            assert window.state == "downloading" and window.buttons["cancel"].isVisible()
            window.buttons["cancel"].click()
            hold.set()  # the next chunk arrives and the download stops there
            qtbot.waitUntil(lambda: window.state == "choose", timeout=60000)
            assert app.state == "error" and app.worker.engine is None
            window.buttons["start"].click()
            qtbot.waitUntil(lambda: app.state == "ready", timeout=180000)
            assert window.state == "ready" and app.settings.model == SMALL_MODEL_ID
            assert config.load_settings()[0].model == SMALL_MODEL_ID
        finally:
            hold.set()
            close_app(app)

"""What the engine tells the user while the app runs reaches them: the control window's message
line (the tray's notification), ``parakeet-desktop status`` and ``doctor``. Each notice is made
to happen in the running app: "speech" that gives no text, the GPU running out of memory, half
precision overflowing, a vocabulary the loaded model cannot use."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading

import numpy as np
import soundfile
import torch

from parakeet_desktop import control
from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.settings import config
from support.app import PastingKeyboard, close_app, drop_files
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence


def _in_a_thread(qtbot, work):
    """*work*'s result, run off the GUI thread (the app answers its control socket there)."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", work()))
    thread.start()
    qtbot.waitUntil(lambda: "value" in result, timeout=120000)
    thread.join()
    return result["value"]


def test_each_engine_notice_reaches_the_window_status_and_doctor(qtbot, qapp, app_dirs, tmp_path):
    from parakeet_desktop.ui.app import DesktopApp

    spoken = [speech for _, speech in held_out_utterances(2)]
    # A steady 200 Hz hum that the least strict speech detector takes for a voice: 16 s of
    # "speech" in which the model finds no words.
    hum = (0.5 * np.sin(2 * np.pi * 200 * np.arange(16 * 16000) / 16000)).astype(np.float32)
    recording = np.concatenate([silence(2.0), hum, silence(600)])
    memos = [tmp_path / "memo one.wav", tmp_path / "memo two.wav"]
    for memo in memos:
        soundfile.write(memo, np.concatenate([spoken[0], silence(0.5), spoken[1]]), 16000)
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", mode="handsfree", sounds=False,
                               hotkey="f9", pause_ms=5000, vad_aggressiveness=0)
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=recording, realtime=True),
                     keyboard=PastingKeyboard())
    app.start()
    try:
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
        app.toggle()
        qtbot.waitUntil(lambda: "gave no text" in app.status.message, timeout=240000)
        assert app.status.message.startswith("Note: In the last utterance")
        app.toggle()
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)

        model = app.worker.engine.model
        real = model._recognize

        def full_gpu(pieces, *rest):  # a GPU with no memory left for any piece
            if model.device == "cuda":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real(pieces, *rest)

        model.device, model._recognize = "cuda", full_gpu
        app.show_files()
        drop_files(app.file_window, memos[:1])
        qtbot.waitUntil(lambda: "ran out of memory" in app.status.message, timeout=240000)
        assert "continues on the CPU" in app.status.message and model.device == "cpu"
        window = app.file_window
        qtbot.waitUntil(lambda: window.queue.item(0, 1).text().startswith("Done"), timeout=120000)

        model.dtype = "float16"  # as planned on a Turing card; the encoder overflows once
        overflow = model.nemo.encoder.register_forward_hook(
            lambda _m, _i, output: (torch.full_like(output[0], float("inf")), output[1]))
        once = model.nemo.encoder.register_forward_hook(lambda *_: overflow.remove())
        try:
            drop_files(app.file_window, memos[1:])
            qtbot.waitUntil(lambda: "float16" in app.status.message, timeout=240000)
        finally:
            once.remove()
        assert "float32" in app.status.message and model.dtype == "float32"
        qtbot.waitUntil(lambda: window.queue.item(1, 1).text().startswith("Done"), timeout=120000)

        # Loaded without phrase boosting (no vocabulary, no local API): a list cannot be used.
        assert app.worker.reconfigure(dataclasses.replace(app.settings, vocabulary=["Kubernetes"]))
        qtbot.waitUntil(lambda: "vocabulary cannot be used" in app.status.message, timeout=120000)

        answer = _in_a_thread(qtbot, lambda: control.send("status", timeout=30))
        notices = [n["message"] for n in json.loads(answer.removeprefix("ok"))["notices"]]
        for words in ("gave no text", "ran out of memory", "float16", "vocabulary cannot be used"):
            assert sum(words in n for n in notices) == 1, (words, notices)
        assert all(n["at"][:4].isdigit() for n in json.loads(answer.removeprefix("ok"))["notices"])
        doctor = _in_a_thread(qtbot, lambda: subprocess.run(
            [sys.executable, "-m", "parakeet_desktop", "doctor", "--json"], capture_output=True, text=True,
            timeout=300))
        running = json.loads(doctor.stdout)["running app"]
        assert running["state"] == "ready" and len(running["notices"]) == len(notices)
        assert any("ran out of memory" in n for n in running["notices"])
    finally:
        close_app(app)
        app.file_window.hide()

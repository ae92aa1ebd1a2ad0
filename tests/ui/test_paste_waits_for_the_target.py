"""The paste is read before the clipboard goes back, on a real X server: the target is another
program that reads the clipboard late (as a loaded machine does), and the user's previous
clipboard comes back only after that read; a target that never reads gets it back at the cap and
the app says the paste was not taken."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (tools/run-tests installs it)")

APP = r"""
import json, subprocess, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

app = QApplication([])
from parakeet_desktop.desktop import inject
from parakeet_desktop.ui.clipboard import QtClipboard, qt_later

inject.RESTORE_CAP_MS = 4000
READER = sys.argv[1]
delay = float(sys.argv[2])
QGuiApplication.clipboard().setText("the user's own clipboard")
report = {"not_taken": []}


class Watched(QtClipboard):
    def restore(self, saved):
        report["restored_at"] = time.time()
        super().restore(saved)
        QTimer.singleShot(200, finish)


class SlowTarget:
    # The focused program: Ctrl+V makes it ask for the clipboard, *delay* seconds later (or never).
    def chord(self, *keys):
        report["chord_at"] = time.time()
        if delay >= 0:
            self.reader = subprocess.Popen([sys.executable, "-c", READER, str(delay)],
                                           stdout=subprocess.PIPE, text=True)


def finish():
    # Another program reads the clipboard now; this one keeps serving it (its event loop runs).
    after = subprocess.Popen([sys.executable, "-c", READER, "0"], stdout=subprocess.PIPE, text=True)

    def done():
        if after.poll() is None:
            QTimer.singleShot(50, done)
            return
        report["afterwards"] = json.loads(after.stdout.read())["text"]
        if delay >= 0:
            report["target"] = json.loads(injector.keyboard.reader.communicate(timeout=60)[0])
        print(json.dumps(report), flush=True)
        app.quit()
    done()


injector = inject.Injector("paste", Watched(), SlowTarget(), qt_later, platform="x11", window_class=lambda: "")
injector.not_taken = report["not_taken"].append
assert injector.deliver("the dictated words, naïve").ok
app.exec()
"""

READER = r"""
import json, sys, time
time.sleep(float(sys.argv[1]))
from PySide6.QtGui import QGuiApplication
app = QGuiApplication([])
asked = time.time()
print(json.dumps({"text": QGuiApplication.clipboard().text(), "asked_at": asked}))
"""


def _paste(display: str, delay: float) -> dict:
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    done = subprocess.run([sys.executable, "-c", APP, READER, str(delay)], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_slow_target_pastes_the_dictated_text_and_the_users_clipboard_comes_back_after(x_display):
    report = _paste(x_display, delay=1.5)
    assert report["target"]["text"] == "the dictated words, naïve"
    assert report["target"]["asked_at"] - report["chord_at"] > 1.0  # it was slow
    assert report["restored_at"] > report["target"]["asked_at"]  # and the clipboard waited for it
    assert report["afterwards"] == "the user's own clipboard"
    assert report["not_taken"] == []


def test_a_paste_nobody_reads_is_said_and_the_clipboard_still_comes_back(x_display):
    report = _paste(x_display, delay=-1)
    assert report["restored_at"] - report["chord_at"] >= 3.5  # the cap, not a guess of 300 ms
    assert report["afterwards"] == "the user's own clipboard"
    assert len(report["not_taken"]) == 1 and "did not take the pasted text" in report["not_taken"][0]

"""Open the first-run window in each of its states, the history window with entries, the app's
menu and the control window (ready, and needing attention with a long path) on the X server named
by DISPLAY, and save a PNG of each under the folder on the command line; prints each file's name
and window size (WxH)."""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QApplication

from parakeet_desktop.engine.live.modes import Mode
from parakeet_desktop.history.audio import AudioShelf
from parakeet_desktop.history.store import History
from parakeet_desktop.ui.app_state import AppState
from parakeet_desktop.ui.first_run import FirstRunWindow
from parakeet_desktop.ui.history_window import HistoryWindow
from parakeet_desktop.ui.menu import AppMenu, MenuActions, hotkey_hint
from parakeet_desktop.ui.status import ControlWindow

folder = Path(sys.argv[1])
folder.mkdir(parents=True, exist_ok=True)
app = QApplication(sys.argv[:1])


def shot(widget, name: str) -> None:
    widget.show()
    for _ in range(5):
        app.processEvents()
        time.sleep(0.05)
    widget.grab().save(str(folder / f"{name}.png"))
    print(f"{name} {widget.frameGeometry().width()}x{widget.frameGeometry().height()}")


first = FirstRunWindow("nvidia/parakeet-tdt-0.6b-v3", gpu=False)
first.choose()
shot(first, "first-run-choose")
first.downloading("nvidia/parakeet-tdt_ctc-110m")
first.progress(180 * 2**20, 460 * 2**20)
shot(first, "first-run-downloading")
first.failed("nvidia/parakeet-tdt-0.6b-v3 is not downloaded yet and could not be downloaded (no connection to "
             "huggingface.co: Network is unreachable). Connect to the internet once, or choose a local .nemo file.")
shot(first, "first-run-failed")
first.ready(hotkey_hint("ctrl+alt+space", Mode.PUSH_TO_TALK))
shot(first, "first-run-ready")

with tempfile.TemporaryDirectory() as data:
    history = History(Path(data) / "history.sqlite3")
    shelf = AudioShelf(Path(data) / "audio", history)
    now = time.time()
    for n, (text, typed) in enumerate((
            ("Please send the report to the whole team before Friday.", True),
            ("The train to the city leaves from platform four every twenty minutes.", True),
            ("Remember to buy bread, milk and three apples on the way home.", False),
            ("We will meet at the station at half past nine.", True))):
        entry = history.add(text, 3.0 + n, "nvidia/parakeet-tdt-0.6b-v3", created=now - 3600 * (4 - n))
        history.mark(entry, typed, None if typed else "The window you were dictating into closed")
        if n % 2 == 0:
            shelf.store(entry, np.zeros(16000, np.float32))
    window = HistoryWindow(history, shelf)
    shot(window, "history")
    window.search.setText("the")
    window.table.selectRow(0)
    window.copy_selected()
    shot(window, "history-search")
    shelf.close()


def nothing(*_args) -> None:
    pass


menu = AppMenu(MenuActions(toggle=nothing, set_mode=nothing, show_files=nothing, show_settings=nothing,
                           show_history=nothing, copy_last=nothing, paste_last=nothing, quit=nothing,
                           has_last=lambda: False), Mode.PUSH_TO_TALK)
menu.show_state(AppState.READY, hotkey_hint("ctrl+alt+space", Mode.PUSH_TO_TALK))
menu.menu.popup(first.geometry().topLeft())
shot(menu.menu, "tray-menu")
menu.menu.hide()

control = ControlWindow(menu.menu)
control.set_state(AppState.READY,
                  "Parakeet TDT 0.6B v3 on the CPU. " + hotkey_hint("ctrl+alt+space", Mode.PUSH_TO_TALK))
shot(control, "control-ready")
control.set_state(AppState.ERROR, "No microphone found: plug one in, or choose another in the settings.")
control.notify("Dictation", "The text could not be recognised; the audio is saved as /home/someone/.local/share/"
               "parakeet-desktop/failed-utterances/utterance-2026-11-22T10-00-00.wav", error=True)
shot(control, "control-error")

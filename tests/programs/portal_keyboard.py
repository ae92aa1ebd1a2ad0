"""The app's typing keyboard (RemoteDesktop through the portal) in a process of its own, driven
line by line on stdin, each answer a JSON line on stdout: a test runs it in a systemd app scope,
where the portal knows the app by its id and shows its approval dialog.

    chord KEY...   presses a chord as the app does (the GUI thread's call): {"ok"} or {"error"}
    open           asks the desktop again (the menu's entry, on a thread): {"opened"} or {"error"}
    paste TEXT     delivers TEXT the way "auto" does on this desktop: {"ok", "method", "problem"}
    state          {"state": what the desktop answered so far}
    app_id         {"app_id": the app id the portal sees in this process's cgroup}

The first argument is the seconds the keyboard waits for the dialog's answer.
"""

import json
import sys
import tempfile
import threading
from pathlib import Path

from parakeet_desktop.desktop.app_scope import own_app_id
from parakeet_desktop.desktop.inject import Injector
from parakeet_desktop.desktop.remote_desktop import PortalKeyboard
from parakeet_desktop.desktop.routes import probe
from parakeet_desktop.desktop.wl_clipboard import WlClipboard

lock = threading.Lock()


def say(**answer) -> None:
    with lock:
        print(json.dumps(answer), flush=True)


keyboard = PortalKeyboard(Path(tempfile.mkdtemp()) / "token", answer_seconds=float(sys.argv[1]))
injector = None


def ask_again() -> None:
    try:
        keyboard.open()
        say(opened=True)
    except OSError as exc:
        say(error=str(exc))


for line in sys.stdin:
    command, _, rest = line.rstrip("\n").partition(" ")
    try:
        if command == "chord":
            keyboard.chord(*rest.split())
            say(ok=True)
        elif command == "open":
            threading.Thread(target=ask_again, daemon=True).start()
        elif command == "paste":
            if injector is None:
                injector = Injector("auto", WlClipboard(), None, lambda ms, fn: threading.Timer(ms / 1000, fn).start(),
                                    desktop=probe(), portal_keyboard=keyboard)
            done = injector.deliver(rest)
            say(ok=done.ok, method=done.method, problem=done.problem)
        elif command == "state":
            say(state=keyboard.state())
        elif command == "app_id":
            say(app_id=own_app_id())
    except OSError as exc:
        say(error=str(exc))
keyboard.close()

"""Talking to the running app: ``parakeet-desktop toggle|start|stop|status|quit``.

The app listens on a local socket (a Unix socket in the user's runtime folder, a named pipe on
Windows) through Qt's QLocalServer (ui/control_server.py); the client (client.py) uses only the
standard library, so a command answers in a blink without loading Qt. One line goes each way:
the request, then ``ok ...`` or ``error: ...`` (protocol.py, with what the app answers each).

This is also how a second launch finds the first (one instance only), and how desktops that do
not let apps grab a global hotkey (Wayland) start dictation: bind ``parakeet-desktop toggle`` in
the desktop's own keyboard shortcut settings.
"""

from .client import NotRunning, send
from .lock import InstanceLock
from .protocol import Answers, Request, answer, server_name

__all__ = ["Answers", "InstanceLock", "NotRunning", "Request", "answer", "send", "server_name"]

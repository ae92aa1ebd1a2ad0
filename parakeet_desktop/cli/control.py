"""``parakeet-desktop toggle|start|stop|status|quit``: one request to the running app."""

from __future__ import annotations

import sys

from ..control import NotRunning, Request, send
from .exits import EXIT_FAILED, EXIT_OK


def run_request(request: Request) -> int:
    try:
        answer = send(request)
    except NotRunning:
        print("Parakeet Desktop is not running; start it with: parakeet-desktop", file=sys.stderr)
        return EXIT_FAILED
    if answer.startswith("error"):
        print(answer, file=sys.stderr)
        return EXIT_FAILED
    if request is Request.STATUS:
        print(answer.removeprefix("ok").strip())
    return EXIT_OK

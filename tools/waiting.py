"""Waiting for something to happen, with a generous limit and no fixed sleep: the tests and the
benches wait for events this way (the machines are shared and their load varies)."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float, what: str = "the condition", step: float = 0.05):
    """*condition*'s first true value, checked every *step* seconds; AssertionError naming *what*
    after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)

"""Turning exceptions into the one-line messages users see. Standard library only, so that every
layer (engine, desktop, service, command line) can use it."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""What the long steps of recognition check to stop early: anything with ``is_set()`` — a
``threading.Event``, or :class:`AnyOf` several."""

from __future__ import annotations

from typing import Protocol


class Flag(Protocol):
    def is_set(self) -> bool: ...


class AnyOf:
    """Set when any of the events is."""

    def __init__(self, *events: Flag | None) -> None:
        self._events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)



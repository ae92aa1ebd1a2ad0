"""The user's clipboard text kept on disk while a paste borrows the clipboard, so that a crash in
that moment does not lose what they had copied. Both clipboards (Qt's, wl-copy's) keep it here:
written before the paste, removed once their clipboard is back, read at the next start.

Written atomically and readable by the user alone; no fsync: the paste must not wait for the
disk, and an app crash is what this covers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..storage import write_atomic

logger = logging.getLogger(__name__)


class ClipboardRescue:
    """The rescue file at *path*; with None, nothing is kept."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def keep(self, texts: dict[str, str]) -> None:
        """Keep the clipboard's text forms (MIME type → text) aside."""
        if self.path is None or not texts:
            return
        try:
            write_atomic(self.path, json.dumps(texts, ensure_ascii=False), mode=0o600, sync=False)
        except OSError as exc:
            logger.warning("Could not keep the clipboard aside while pasting: %s", exc)

    def clear(self) -> None:
        """The clipboard is back, or no longer wanted (the user copied since)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def take(self) -> dict[str, str]:
        """What a crash left kept aside, removed from disk; empty when nothing (or unreadable)."""
        if self.path is None or not self.path.exists():
            return {}
        try:
            texts = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("The clipboard kept aside cannot be read: %s", exc)
            texts = {}
        self.path.unlink(missing_ok=True)
        if not isinstance(texts, dict):
            return {}
        return {str(kind): text for kind, text in texts.items() if isinstance(text, str)}

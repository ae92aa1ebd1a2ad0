"""Every dictated utterance, kept in SQLite in the user's data folder before it is typed anywhere.

If typing the text into a window fails, or focus moved, the words are still here (and the app
offers "paste last"). The database is opened per call from whichever thread calls, so the GUI
and the engine thread never share a connection.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS utterances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    text TEXT NOT NULL,
    seconds REAL NOT NULL,
    model TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    problem TEXT
)
"""


@dataclass(frozen=True)
class Entry:
    id: int
    created: float  # seconds since the epoch
    text: str
    seconds: float
    model: str
    delivered: bool
    problem: str | None


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def add(self, text: str, seconds: float, model: str, created: float | None = None) -> int:
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT INTO utterances (created, text, seconds, model) VALUES (?, ?, ?, ?)",
                (time.time() if created is None else created, text, seconds, model))
            return int(cursor.lastrowid)

    def mark(self, entry_id: int, delivered: bool, problem: str | None = None) -> None:
        with closing(self._connect()) as db, db:
            db.execute("UPDATE utterances SET delivered = ?, problem = ? WHERE id = ?",
                       (int(delivered), problem, entry_id))

    def recent(self, limit: int = 200) -> list[Entry]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT id, created, text, seconds, model, delivered, problem FROM utterances "
                              "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Entry(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    def last(self) -> Entry | None:
        entries = self.recent(1)
        return entries[0] if entries else None

    def delete(self, entry_id: int) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM utterances WHERE id = ?", (entry_id,))

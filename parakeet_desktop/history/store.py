"""Every dictated utterance, kept in SQLite in the user's data folder before it is typed anywhere.

If typing the text into a window fails, or focus moved, the words are still here (and the app
offers "paste last"). The database is opened per call from whichever thread calls, so the GUI
and the engine thread never share a connection.

The history never stands between the user and the app: a damaged database is kept aside and a
fresh one made; a folder that cannot be written (read-only, missing permissions) gives a history
in memory for the session. ``problem`` says which, for the app to tell the user. A save that
fails later (a full disk) raises :class:`HistoryError` for the caller to report while the text
goes on to the window.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS utterances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    text TEXT NOT NULL,
    seconds REAL NOT NULL,
    model TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    problem TEXT,
    audio TEXT,
    language TEXT
)
"""
_COLUMNS = "id, created, text, seconds, model, delivered, problem, audio, language"


@dataclass(frozen=True)
class Entry:
    id: int
    created: float  # seconds since the epoch
    text: str
    seconds: float
    model: str
    delivered: bool
    problem: str | None
    audio: str | None = None  # the file name of its audio in the audio folder (history/audio.py)
    language: str | None = None  # ISO 639-1, as engine/recognize/language.py found it in the text


class HistoryError(Exception):
    """The history could not be read or written; the message says why."""


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None
        self._memory: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not isinstance(exc, sqlite3.OperationalError) or "not a database" in str(exc) \
                    or "malformed" in str(exc):
                self._keep_aside(exc)
            else:
                self._in_memory(exc)
        except OSError as exc:
            self._in_memory(exc)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connection()) as db, db:
            db.execute(_SCHEMA)
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
            columns = {row[1] for row in db.execute("PRAGMA table_info(utterances)")}
            for column in ("audio", "language"):  # a history of an older version lacks them
                if column not in columns:
                    db.execute(f"ALTER TABLE utterances ADD COLUMN {column} TEXT")

    def _keep_aside(self, exc: Exception) -> None:
        kept = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            self.path.replace(kept)
            for extra in ("-wal", "-shm"):
                Path(f"{self.path}{extra}").unlink(missing_ok=True)
            self._open()
        except (OSError, sqlite3.Error) as again:
            self._in_memory(again)
            return
        logger.warning("The history database was damaged (%s); kept as %s", exc, kept)
        self.problem = (f"The history could not be read ({exc}); it was kept as {kept.name} and a new "
                        "one was started.")

    def _in_memory(self, exc: Exception) -> None:
        logger.warning("The history cannot be kept in %s: %s", self.path, exc)
        self._memory = sqlite3.connect(":memory:", check_same_thread=False)
        self._memory.execute(_SCHEMA)
        self.problem = (f"The history cannot be written in {self.path.parent} ({exc}); this session's "
                        "texts are kept in memory only, until the app quits.")

    def _connection(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    @contextmanager
    def _db(self, write: bool):
        """A connection for one call (the shared one in memory, under a lock), committed when
        *write*; sqlite3 errors leave as HistoryError."""
        try:
            if self._memory is not None:
                with self._lock:
                    yield self._memory
                    if write:
                        self._memory.commit()
                return
            with closing(self._connection()) as db:
                yield db
                if write:
                    db.commit()
        except sqlite3.Error as exc:
            raise HistoryError(f"the history could not be {'written' if write else 'read'} ({exc})") from exc

    def add(self, text: str, seconds: float, model: str, created: float | None = None,
            language: str | None = None) -> int:
        with self._db(write=True) as db:
            cursor = db.execute(
                "INSERT INTO utterances (created, text, seconds, model, language) VALUES (?, ?, ?, ?, ?)",
                (time.time() if created is None else created, text, seconds, model, language))
            return int(cursor.lastrowid)

    def mark(self, entry_id: int, delivered: bool, problem: str | None = None) -> None:
        with self._db(write=True) as db:
            db.execute("UPDATE utterances SET delivered = ?, problem = ? WHERE id = ?",
                       (int(delivered), problem, entry_id))

    def set_text(self, entry_id: int, text: str, model: str, language: str | None = None) -> None:
        with self._db(write=True) as db:
            db.execute("UPDATE utterances SET text = ?, model = ?, language = ? WHERE id = ?",
                       (text, model, language, entry_id))

    def set_audio(self, entry_id: int, audio: str | None) -> bool:
        """Record (or forget) an entry's audio file; False when the entry is gone."""
        with self._db(write=True) as db:
            return db.execute("UPDATE utterances SET audio = ? WHERE id = ?", (audio, entry_id)).rowcount > 0

    def recent(self, limit: int = 200, containing: str = "") -> list[Entry]:
        """The newest entries first; with *containing*, only those whose text has it (any case)."""
        pattern = "%" + containing.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._db(write=False) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM utterances WHERE text LIKE ? ESCAPE '\\' "
                              "ORDER BY id DESC LIMIT ?", (pattern, limit)).fetchall()
        return [_entry(row) for row in rows]

    def with_audio(self) -> list[Entry]:
        """Every entry that has audio, oldest first."""
        with self._db(write=False) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM utterances WHERE audio IS NOT NULL ORDER BY id").fetchall()
        return [_entry(row) for row in rows]

    def get(self, entry_id: int) -> Entry | None:
        with self._db(write=False) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM utterances WHERE id = ?", (entry_id,)).fetchone()
        return _entry(row) if row else None

    def last(self) -> Entry | None:
        entries = self.recent(1)
        return entries[0] if entries else None

    def delete(self, entry_id: int) -> None:
        with self._db(write=True) as db:
            db.execute("DELETE FROM utterances WHERE id = ?", (entry_id,))

    def restore(self, entries: list[Entry]) -> None:
        """Put deleted entries back as they were (undo)."""
        with self._db(write=True) as db:
            db.executemany(f"INSERT OR REPLACE INTO utterances ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(e.id, e.created, e.text, e.seconds, e.model, int(e.delivered), e.problem, e.audio,
                             e.language) for e in entries])

    def delete_all(self) -> None:
        with self._db(write=True) as db:
            db.execute("DELETE FROM utterances")


def _entry(row) -> Entry:
    return Entry(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], row[8])

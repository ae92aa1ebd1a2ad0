"""The one-instance lock beside the control socket."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import IO

from .protocol import server_name


class InstanceLock:
    """The one-instance lock: an exclusive lock on a file beside the control socket, held while
    the app runs and let go by the system when it exits, however it exits.

    Asking the socket alone leaves a race: two launches in the same instant both find nobody
    answering, and the second removes the first's socket. Whoever holds this lock owns the
    socket name; a socket file without a lock holder is a crashed instance's leftover.
    """

    def __init__(self) -> None:
        self.path = Path(server_name() + ".lock") if sys.platform != "win32" \
            else Path(tempfile.gettempdir()) / f"{server_name()}.lock"
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another instance holds it."""
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open while the app runs
        try:
            if sys.platform == "win32":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing lets go of the lock
            self._file = None

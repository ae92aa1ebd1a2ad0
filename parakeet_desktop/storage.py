"""Writing the user's files safely. Standard library only: settings, autostart entries, exports
and the local service's token all go through here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int | None = None, *, replace: bool = True,
                 sync: bool = True) -> Path:
    """Write *text* to a temporary file beside *path*, flush it to disk, then rename it over
    *path*: a crash leaves either the old file or the new one, never half of one.

    The file gets the permissions any new file of the user gets (the umask decides), or *mode*
    from its first byte (a secret is never readable by others). Without *replace*, a file that
    is already at *path* stays as it is and FileExistsError is raised, even if it appeared a
    moment ago (the new file is linked into place, which fails rather than replaces). Without
    *sync* it is not flushed to the disk first: it survives the app's crash, not a power cut, and
    costs no wait (a file that lives for a moment).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _place_new(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _place_new(tmp: str, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (FAT, some network shares)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

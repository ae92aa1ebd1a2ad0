"""The history never stands between the user and the app: real damaged files, a folder that
cannot exist, and a disk that fills up (a small tmpfs where the machine lets tests mount one)."""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from parakeet_desktop.history import History, HistoryError


@contextlib.contextmanager
def small_disk(folder, size: str = "256k"):
    """A tmpfs of *size* at *folder*; skips where mounting is not allowed."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder) -> None:
    with open(folder / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)


def test_a_damaged_history_is_kept_aside_and_a_new_one_started(tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this was a database once" * 200)
    history = History(path)
    assert history.problem and "kept as history.sqlite3.damaged-" in history.problem
    kept = list(tmp_path.glob("history.sqlite3.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this was a database once")
    history.add("hello there", 1.0, "m")
    assert [e.text for e in History(path).recent()] == ["hello there"]


def test_a_folder_that_cannot_be_made_gives_a_history_for_the_session(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    history = History(blocker / "history.sqlite3")
    assert history.problem and "in memory only" in history.problem
    entry = history.add("kept for this session", 2.0, "m")
    history.mark(entry, True)
    assert [(e.text, e.delivered) for e in history.recent()] == [("kept for this session", True)]


def test_a_full_disk_is_a_history_error_not_a_crash(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        history = History(disk / "history.sqlite3")
        history.add("before the disk filled", 1.0, "m")
        fill(disk)
        with pytest.raises(HistoryError) as full:
            history.add("x" * 200_000, 1.0, "m")
        assert "could not be written" in str(full.value)
        (disk / "filler").unlink()  # room again: what was saved before is all there
        assert [e.text for e in history.recent()] == ["before the disk filled"]
        history.add("after", 1.0, "m")
        assert [e.text for e in history.recent()] == ["after", "before the disk filled"]

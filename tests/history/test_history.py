"""The history never stands between the user and the app: real damaged files, a folder that
cannot exist, and a disk that fills up (a small tmpfs where the machine lets tests mount one)."""

from __future__ import annotations

import pytest

from parakeet_desktop.history.store import History, HistoryError
from support.disk import fill, small_disk


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


# --- the audio kept beside each entry ---------------------------------------------------------

def _tone(seconds: float, hz: float = 220.0):
    import numpy as np

    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _spooled(folder, samples):
    from parakeet_desktop.engine.audio.spool import Spool

    spool = Spool(folder)
    spool.begin()
    spool.append(samples)
    return spool.end()


def test_an_entrys_audio_is_kept_compact_played_back_and_its_spool_removed(tmp_path):
    import numpy as np

    from parakeet_desktop.history.audio import AudioShelf

    history = History(tmp_path / "history.sqlite3")
    shelf = AudioShelf(tmp_path / "audio", history, "7 days", 1000)
    entry = history.add("hello there", 3.0, "m")
    spooled = _spooled(tmp_path / "spool", _tone(3.0))
    shelf.keep_spool(entry, spooled).result(timeout=60)
    kept = history.get(entry)
    assert kept.audio and not spooled.exists()
    path = shelf.path(kept)
    assert path.stat().st_size < 3.0 * 16000 * 2 / 4  # well under a quarter of 16-bit PCM
    back = shelf.read(kept)
    assert abs(len(back) - 3 * 16000) < 1600
    # Opus keeps the tone: its strongest frequency is still 220 Hz.
    spectrum = np.abs(np.fft.rfft(back[8000:40000]))
    assert abs(np.argmax(spectrum) * 16000 / 32000 - 220) < 5
    shelf.close()


def test_audio_off_writes_nothing_and_still_removes_the_spool(tmp_path):
    from parakeet_desktop.history.audio import AudioShelf

    history = History(tmp_path / "history.sqlite3")
    shelf = AudioShelf(tmp_path / "audio", history, "off", 1000)
    entry = history.add("private words", 1.0, "m")
    spooled = _spooled(tmp_path / "spool", _tone(1.0))
    assert shelf.keep_spool(entry, spooled) is None
    assert not spooled.exists() and not (tmp_path / "audio").exists()
    assert history.get(entry).audio is None
    with pytest.raises(HistoryError, match="no audio"):
        shelf.read(history.get(entry))


def test_retention_and_the_size_cap_remove_the_oldest_audio_first(tmp_path):
    import time

    from parakeet_desktop.history.audio import AudioShelf

    history = History(tmp_path / "history.sqlite3")
    shelf = AudioShelf(tmp_path / "audio", history, "7 days", 1000)
    now = time.time()
    ages = [10, 3, 0.5, 0]  # days
    ids = [history.add(f"said {n}", 2.0, "m", created=now - days * 86400) for n, days in enumerate(ages)]
    for n, entry in enumerate(ids):
        assert shelf.store(entry, _tone(2.0, 200 + 50 * n))
    assert shelf.prune(now) == 1  # ten days old: past seven
    assert [history.get(e).audio is None for e in ids] == [True, False, False, False]
    assert not (tmp_path / "audio" / "utterance-1.ogg").exists()
    assert history.get(ids[0]).text == "said 0"  # the text stays
    shelf.configure("1 day", 1000).result(timeout=30)
    assert [history.get(e).audio is None for e in ids] == [True, True, False, False]
    # A cap smaller than what is kept: the oldest goes until the rest fits.
    one = shelf.path(history.get(ids[3])).stat().st_size
    shelf.max_mb = (one + 100) / 2**20
    shelf.prune(now)
    assert [history.get(e).audio is None for e in ids] == [True, True, True, False]
    # Audio deleted by hand is forgotten, not an error.
    shelf.path(history.get(ids[3])).unlink()
    shelf.prune(now)
    assert history.get(ids[3]).audio is None
    shelf.close()


def test_a_full_disk_keeps_the_spool_when_the_audio_cannot_be_written(tmp_path):
    from parakeet_desktop.history.audio import AudioShelf

    history = History(tmp_path / "history.sqlite3")
    entry = history.add("words", 4.0, "m")
    spooled = _spooled(tmp_path / "spool", _tone(4.0))
    with small_disk(tmp_path / "full", "64k") as disk:
        fill(disk)
        shelf = AudioShelf(disk / "audio", history, "forever", 1000)
        shelf.keep_spool(entry, spooled).result(timeout=60)
        assert shelf.problem and "could not be kept" in shelf.problem
        pending = list(spooled.parent.glob("*.pending"))  # kept, to be written at the next start
        assert len(pending) == 1 and history.get(entry).audio is None
        assert not list((disk / "audio").glob("*")) if (disk / "audio").exists() else True
        shelf.close()


def test_a_history_of_the_first_version_gains_audio_and_search(tmp_path):
    import sqlite3

    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE utterances (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, "
                   "text TEXT NOT NULL, seconds REAL NOT NULL, model TEXT NOT NULL, "
                   "delivered INTEGER NOT NULL DEFAULT 0, problem TEXT)")
        db.execute("INSERT INTO utterances (created, text, seconds, model) VALUES (1, 'old words', 1, 'm')")
    history = History(path)
    assert history.problem is None
    assert [e.text for e in history.recent()] == ["old words"] and history.recent()[0].audio is None
    history.add("50% of the_total", 1.0, "m")
    history.add("Old Friends", 1.0, "m")
    assert [e.text for e in history.recent(containing="old")] == ["Old Friends", "old words"]
    assert [e.text for e in history.recent(containing="%")] == ["50% of the_total"]
    assert [e.text for e in history.recent(containing="e_t")] == ["50% of the_total"]
    assert history.recent(containing="o_d") == []  # _ is a character, not a wildcard
    history.delete_all()
    assert history.recent() == []


def test_audio_a_quick_quit_left_unwritten_is_written_at_the_next_start_never_recovered_twice(tmp_path):
    """A saved entry's spool is set aside at once (it is no utterance to recover any more); if
    the app quits before its audio is written, the next start writes it."""
    from parakeet_desktop.engine.audio import spool
    from parakeet_desktop.history.audio import AudioShelf

    history = History(tmp_path / "history.sqlite3")
    folder = tmp_path / "spool"
    kept = history.add("kept words", 2.0, "m")
    gone = history.add("deleted since", 2.0, "m")
    shelf = AudioShelf(tmp_path / "audio", history, "7 days", 1000)
    shelf._worker.shutdown(wait=True)  # a writer that has stopped: as after a quick quit
    first, second = _spooled(folder, _tone(2.0)), _spooled(folder, _tone(2.0))
    with pytest.raises(RuntimeError):  # the stopped writer takes no work; the spool is set aside first
        shelf.keep_spool(kept, first)
    with pytest.raises(RuntimeError):
        shelf.keep_spool(gone, second)
    assert spool.spool_leftovers(folder) == []  # nothing for crash recovery to transcribe again
    history.delete(gone)
    again = AudioShelf(tmp_path / "audio", history, "7 days", 1000)
    again.finish_pending(folder).result(timeout=60)
    assert history.get(kept).audio and again.path(history.get(kept)).exists()
    assert list(folder.iterdir()) == []
    again.close()

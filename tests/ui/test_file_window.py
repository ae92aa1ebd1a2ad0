"""The file window's controls as a user meets them (offscreen Qt), and its progress bar moving
through a one-minute file recognised by the real speech model."""

from __future__ import annotations

import numpy as np
import soundfile
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from parakeet_desktop.engine.recognize.transcript import Segment, Transcript, Word
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence


def _transcript(source, text: str) -> Transcript:
    return Transcript(str(source), 1.0, [Segment(0.0, 0.5, text, (Word(text, 0.0, 0.5),))])


def test_cancel_clear_open_folder_destination_and_escape(qtbot, qapp, tmp_path):
    from parakeet_desktop.ui.file_window import PICKER_FILTER, FileWindow

    window = FileWindow()
    qtbot.addWidget(window)
    window.show()
    for box in window.formats.values():
        box.setChecked(box.text() == "TXT")
    assert "*.mp3" in PICKER_FILTER and "*.wav" in PICKER_FILTER and "*.mp4" in PICKER_FILTER
    assert not window.cancel_button.isEnabled() and not window.clear_button.isEnabled()  # nothing yet

    broken, first, second = tmp_path / "broken.m4a", tmp_path / "first.wav", tmp_path / "second.wav"
    window.add_files([broken, first, second])
    assert window.cancel_button.isEnabled() and not window.clear_button.isEnabled()
    window.finished(broken, None, "could not be decoded")
    assert window.queue.cellWidget(0, 2) is None  # a failed row has no progress bar
    assert window.queue.item(0, 1).text() == "Error: could not be decoded"
    assert window.clear_button.isEnabled() and window.cancel_button.isEnabled()

    out = tmp_path / "transcripts"
    out.mkdir()
    window.set_output_folder(out)
    assert window.into.isChecked() and window.folder_label.text() == str(out)  # the full path
    window.finished(first, _transcript(first, "first"), None)
    assert (out / "first.txt").read_text().strip() == "first"
    window.set_output_folder(None)  # the way back: beside each file, the folder still one click away
    assert window.beside.isChecked() and window.into.isEnabled() and window.folder_label.text() == str(out)
    window.finished(second, _transcript(second, "second"), None)
    assert (tmp_path / "second.txt").read_text().strip() == "second"
    assert not window.cancel_button.isEnabled()  # nothing runs any more

    window.queue.selectRow(1)
    assert window.folder_to_open() == out and window.open_button.isEnabled()
    window.queue.selectRow(2)
    assert window.folder_to_open() == tmp_path

    again = tmp_path / "again.wav"
    window.add_files([again])
    window.clear_finished()
    assert window.queue.rowCount() == 1 and window.queue.item(0, 0).text() == "again.wav"
    window.finished(again, _transcript(again, "again"), None)  # its row still answers after the clear
    assert window.queue.item(0, 1).text() == "Done — again.txt"
    assert window.queue.cellWidget(0, 2).value() == window.queue.cellWidget(0, 2).maximum()

    from parakeet_desktop.engine.live.events import Outcome

    cancelled, stopped = tmp_path / "cancelled.wav", tmp_path / "stopped.wav"
    window.add_files([cancelled, stopped])
    window.finished(cancelled, None, "cancelled", Outcome.CANCELLED)
    window.finished(stopped, None, "cancelled", Outcome.SHUT_DOWN)  # the app quit under it
    assert [window.queue.item(row, 1).text() for row in (1, 2)] == ["Cancelled", "Cancelled"]

    QTest.keyClick(window, Qt.Key.Key_Escape)
    assert not window.isVisible()


def test_the_progress_bar_moves_through_a_one_minute_file(qtbot, qapp, tmp_path):
    """A minute of speech is one batch on a CPU; the bar still moves as the encoder goes."""
    from parakeet_desktop.engine.model.loader import load_model
    from parakeet_desktop.engine.recognize.files import FileTranscriber
    from parakeet_desktop.ui.file_window import FileWindow

    parts = []
    for _, speech in held_out_utterances(30):
        parts += [speech, silence(0.4)]
        if sum(map(len, parts)) >= 60 * 16000:
            break
    path = tmp_path / "minute.wav"
    soundfile.write(path, np.concatenate(parts), 16000)
    window = FileWindow()
    qtbot.addWidget(window)
    window.add_files([path])
    shown = []

    def progress(p) -> None:
        window.progress(path, p.fraction)
        shown.append(window.queue.cellWidget(0, 2).value())

    transcriber = FileTranscriber(load_model(str(SPEECH_MODEL), "cpu"))
    results = list(transcriber.transcribe_files([path], progress=progress))
    assert results[0].transcript is not None
    steps = sorted(set(v for v in shown if 0 < v < 1000))
    assert len(steps) >= 3, shown  # not a jump from nothing to done
    assert shown == sorted(shown)  # never backwards


def test_speakers_are_shown_in_their_colours_and_renamed_into_the_exports(qtbot, qapp, tmp_path, speech_model):
    """Speakers: auto on a conversation made here: each segment says who spoke, in that speaker's
    colour; renaming writes the exports again with the names."""
    from parakeet_desktop.engine.recognize.files import FileTranscriber
    from parakeet_desktop.engine.speakers import SpeakerLabeller, load_diarizer
    from parakeet_desktop.ui.file_window import FileWindow
    from parakeet_desktop.ui.speaker_names import COLOURS, RenameSpeakers
    from support.conversations import DIARIZATION_MODEL, make_conversation

    conversation = make_conversation(25, 2, seed=9)
    path = tmp_path / "interview.wav"
    soundfile.write(path, conversation.audio, 16000)
    window = FileWindow()
    qtbot.addWidget(window)
    window.show()
    for box in window.formats.values():
        box.setChecked(box.text() in ("SRT", "VTT"))
    assert window.speakers.request() is None  # off unless chosen
    window.speakers.setCurrentIndex(window.speakers.findText("Speakers: auto"))
    request = window.speakers.request()
    assert request is not None and request.count is None
    window.add_files([path])
    labeller = SpeakerLabeller(load_diarizer(str(DIARIZATION_MODEL), "cpu"), request)
    transcript = FileTranscriber(speech_model, finish=labeller).transcribe_array(conversation.audio, str(path))
    window.finished(path, transcript, None)

    rows = [window.segments.item(i) for i in range(window.segments.count())]
    assert {row.text().split("   ", 1)[1].split(":")[0] for row in rows} == {"Speaker 1", "Speaker 2"}
    assert {row.foreground().color().name() for row in rows} == set(COLOURS[:2])
    assert window.rename_button.isEnabled()
    window.grab().save(str(tmp_path / "file-window-speakers.png"))

    dialog = RenameSpeakers(window.transcripts[path], window)
    qtbot.addWidget(dialog)
    dialog.fields[0].setText("Ana")
    dialog.fields[1].setText("Ben")
    window.rename(path, dialog.names())
    assert "Ana: " in (tmp_path / "interview.srt").read_text() and "Ben: " in (tmp_path / "interview.srt").read_text()
    assert "<v Ana>" in (tmp_path / "interview.vtt").read_text()
    assert window.segments.item(0).text().split("   ", 1)[1].startswith("Ana: ")

"""File jobs on the live engine's thread: results and progress per file, broken files named,
and dictation served first while a long file is being transcribed."""

from __future__ import annotations

import threading
import time

import numpy as np
import soundfile

from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.live.dictation import LiveSettings, Mode, SessionState
from parakeet_desktop.engine.live.events import FileDone, FileProgress, Final, StateChanged
from parakeet_desktop.engine.live.loop import LiveEngine
from parakeet_desktop.engine.recognize.files import FileTranscriber
from support.speech import held_out_utterances, silence
from tools.waiting import wait_for


def _engine(model, events, seconds_of_silence=600.0):
    device = FileSoundDevice(samples=silence(seconds_of_silence), realtime=True)
    engine = LiveEngine(model, LiveSettings(), lambda e: events.append((time.monotonic(), e)), sd=device)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    return engine, thread


def test_a_job_reports_progress_and_each_files_result_or_error(speech_model, tmp_path):
    paths = []
    for n, (_, speech) in enumerate(held_out_utterances(2)):
        paths.append(tmp_path / f"utterance {n}.wav")
        soundfile.write(paths[-1], speech, 16000)
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\x00" * 300)
    events = []
    engine, thread = _engine(speech_model, events)
    try:
        job = engine.transcribe_files([paths[0], broken, paths[1]])
        wait_for(lambda: sum(isinstance(e, FileDone) for _, e in events) == 3, 60)
    finally:
        engine.shutdown()
        thread.join(30)
    done = {e.path.name: e for _, e in events if isinstance(e, FileDone)}
    assert all(e.job == job.id for e in done.values())
    assert done["broken.mp3"].transcript is None and done["broken.mp3"].error
    for path in paths:
        alone = FileTranscriber(speech_model).transcribe_array(soundfile.read(path, dtype="float32")[0])
        assert done[path.name].transcript.text == alone.text and done[path.name].error is None
    progress = [e.fraction for _, e in events if isinstance(e, FileProgress) and e.path == paths[0]]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_dictation_goes_first_and_the_file_still_comes_out_whole(speech_model, tmp_path):
    sentences = held_out_utterances(20)
    long_audio = np.concatenate([part for _, s in sentences for part in (s, silence(0.8))] * 4)
    path = tmp_path / "long recording.wav"
    soundfile.write(path, long_audio, 16000)
    stored = soundfile.read(path, dtype="float32")[0]  # as the file holds it (16-bit)
    expected = FileTranscriber(speech_model).transcribe_array(stored).text
    events = []
    engine, thread = _engine(speech_model, events)
    try:
        engine.transcribe_files([path])
        wait_for(lambda: any(isinstance(e, FileProgress) and e.fraction > 0 for _, e in events), 60)
        engine.start(Mode.PUSH_TO_TALK)
        wait_for(lambda: engine.session.state is SessionState.LISTENING, 10)
        listening_at = next(t for t, e in events if isinstance(e, StateChanged) and e.state is SessionState.LISTENING)
        engine.stop()
        wait_for(lambda: any(isinstance(e, FileDone) for _, e in events), 120)
    finally:
        engine.shutdown()
        thread.join(30)
    done_at, done = next((t, e) for t, e in events if isinstance(e, FileDone))
    assert listening_at < done_at  # dictation did not wait for the file
    assert any(isinstance(e, Final) for _, e in events)
    assert done.error is None and done.transcript.text == expected


def _request(audio: np.ndarray, name: str, outcomes: list, priority=None):
    from parakeet_desktop.engine.live.work import FileJob, Priority
    from parakeet_desktop.engine.recognize.files import AudioInput

    return FileJob([AudioInput(name, audio)], priority=priority or Priority.REQUEST,
                   listener=lambda e: outcomes.append(e) if isinstance(e, FileDone) else None)


def test_a_short_request_is_not_stuck_behind_a_long_one(speech_model):
    """Ten minutes and three seconds at the same priority, the long one first: the short one is
    done between two of the long one's batches, and the long one still comes out whole."""
    from parakeet_desktop.engine.live.events import Outcome

    (_, speech), = held_out_utterances(1)
    long_audio = np.tile(np.concatenate([speech, silence(1.0)]), 200)[: 16000 * 600]
    short_audio = np.concatenate([silence(0.3), speech, silence(0.3)])
    outcomes: list[FileDone] = []
    engine = LiveEngine(speech_model, LiveSettings(), lambda e: None, microphone=False)
    engine.submit(_request(long_audio, "long", outcomes))
    engine.submit(_request(short_audio, "short", outcomes))
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(outcomes) == 2, 600)
    finally:
        engine.shutdown()
        thread.join(60)
    assert [e.path.name for e in outcomes] == ["short", "long"]
    assert all(e.outcome is Outcome.DONE for e in outcomes)
    alone = FileTranscriber(speech_model).transcribe_array(long_audio)
    assert outcomes[1].transcript.text == alone.text


def test_work_handed_to_a_stopped_engine_is_answered_at_once(speech_model):
    from parakeet_desktop.engine.live.events import Outcome, StreamStopped
    from parakeet_desktop.engine.live.work import Stream

    engine = LiveEngine(speech_model, LiveSettings(), lambda e: None, microphone=False)
    queued: list[FileDone] = []
    engine.submit(_request(silence(5.0), "queued", queued))
    engine.shutdown()
    engine.run()  # returns at once: the shutdown was waiting
    late: list[FileDone] = []
    engine.submit(_request(silence(5.0), "late", late))
    stopped = []
    engine.open_stream(Stream(stopped.append))
    assert [(e.path.name, e.outcome) for e in queued + late] == [("queued", Outcome.SHUT_DOWN),
                                                               ("late", Outcome.SHUT_DOWN)]
    assert len(stopped) == 1 and isinstance(stopped[0], StreamStopped)

"""The live engine end to end: recordings played through the stand-in microphone, gated by
webrtcvad, recognised by chunked streaming with the speech fixture model."""

from __future__ import annotations

import dataclasses
import queue
import threading

import jiwer
import numpy as np
import pytest

from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.live.dictation import DictationSession, LiveSettings, Mode, SessionState
from parakeet_desktop.engine.live.events import ErrorEvent, Final, MicrophoneState, Partial, StateChanged
from parakeet_desktop.engine.live.loop import LiveEngine
from parakeet_desktop.engine.live.modes import FinalPass
from parakeet_desktop.engine.recognize.streaming import StreamingTranscriber
from support.engine import STREAMED_ONLY, TEST_STREAMING, Recorder, gated, normalised, run_engine
from support.speech import held_out_utterances, silence, word_error_rate
from tools.waiting import wait_for


def dictated(model, settings: LiveSettings, recording: np.ndarray, block: int) -> Recorder:
    """One push-to-talk utterance: the key held over all of *recording*, fed in blocks of
    *block* samples as a microphone would, then released."""
    recorder = Recorder()
    session = DictationSession(model, settings, recorder)
    session.start(Mode.PUSH_TO_TALK)
    for start in range(0, len(recording), block):
        session.feed(recording[start : start + block])
    session.stop()
    return recorder


@pytest.fixture(scope="module")
def utterances():
    return held_out_utterances(60)


@pytest.fixture(scope="module")
def streamed_vs_offline(speech_model, utterances):
    """For each utterance, with silence around it: (reference, offline text of the audio the
    model was given, streamed final text, seconds of that audio, number of captions)."""
    rows = []
    for text, speech in utterances:
        recording = np.concatenate([silence(0.6), speech, silence(0.6)])
        offline = speech_model.recognize([gated(recording)])[0].text
        recorder = run_engine(speech_model, FileSoundDevice(samples=recording, realtime=False),
                              STREAMED_ONLY, Mode.PUSH_TO_TALK)
        finals = recorder.of(Final)
        assert len(finals) == 1, recorder.events
        assert not finals[0].full_context
        rows.append((text, normalised(offline), normalised(finals[0].text), finals[0].seconds,
                     len(recorder.of(Partial))))
    return rows


def test_streamed_text_matches_offline_transcription(streamed_vs_offline):
    references = [r[0] for r in streamed_vs_offline]
    offline = [r[1] for r in streamed_vs_offline]
    streamed = [r[2] for r in streamed_vs_offline]
    same = sum(o == s for o, s in zip(offline, streamed))
    assert len(streamed_vs_offline) >= 50
    assert same / len(streamed_vs_offline) >= 0.95, [(o, s) for o, s in zip(offline, streamed) if o != s]
    assert word_error_rate(references, streamed) <= word_error_rate(references, offline) + 0.02


def test_chunks_much_shorter_than_utterances(streamed_vs_offline):
    seconds = [r[3] for r in streamed_vs_offline]
    assert min(seconds) >= 3 * TEST_STREAMING.chunk
    # Each utterance really went through several streaming steps, with captions on the way.
    assert all(r[4] >= 2 for r in streamed_vs_offline), [r[4] for r in streamed_vs_offline]


def test_no_word_doubled_or_dropped_at_chunk_boundaries(streamed_vs_offline):
    offline = [r[1] for r in streamed_vs_offline]
    streamed = [r[2] for r in streamed_vs_offline]
    alignment = jiwer.process_words(offline, streamed)
    assert alignment.insertions == 0 and alignment.deletions == 0
    for text in streamed:
        words = text.split()
        assert all(a != b for a, b in zip(words, words[1:])), text


def test_streaming_gives_captions_before_the_end(speech_model, utterances):
    text, speech = utterances[0]
    transcriber = StreamingTranscriber(speech_model, TEST_STREAMING)
    partials = []
    for start in range(0, len(speech), 320):
        partial = transcriber.accept(speech[start : start + 320])
        if partial is not None:
            partials.append((start / 16000, partial))
    final = transcriber.finish().text.strip()
    assert partials and partials[0][0] < len(speech) / 16000 / 2
    assert len({p for _, p in partials}) >= 2
    assert word_error_rate([final], [partials[-1][1]]) <= 0.25


def test_the_first_word_survives_a_late_start(speech_model, utterances):
    """Speech that begins up to 50 ms before the hotkey goes down (or just after) keeps its first
    word: the microphone's pre-roll holds it."""
    cases = 0
    for text, speech in utterances[:8]:
        offline_first = speech_model.recognize([speech])[0].text.split()[0]
        recording = np.concatenate([silence(1.0), speech, silence(0.4)])
        onset = 16000 + _first_voiced_sample(speech)
        for offset_ms in (-30, 0, 20, 50):
            recorder = Recorder()
            session = DictationSession(speech_model, STREAMED_ONLY, recorder)
            press = onset + offset_ms * 16
            block = 320
            position = 0
            while position < len(recording):
                if position <= press < position + block:
                    session.feed(recording[position:press])
                    session.start(Mode.PUSH_TO_TALK)
                    session.feed(recording[press : position + block])
                else:
                    session.feed(recording[position : position + block])
                position += block
            session.stop()
            final = recorder.of(Final)[0]
            assert final.text.split()[:1] == [offline_first], (text, offset_ms, final.text)
            cases += 1
    assert cases == 32


def _first_voiced_sample(speech: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(speech) > 0.02)
    return int(loud[0])


def test_hands_free_splits_three_sentences_at_their_pauses(speech_model, utterances):
    sentences = utterances[10:13]
    recording = np.concatenate(
        [silence(0.5)] + [part for _, speech in sentences for part in (speech, silence(1.5))])
    recorder = run_engine(speech_model, FileSoundDevice(samples=recording, realtime=False),
                          STREAMED_ONLY, Mode.HANDS_FREE)
    finals = recorder.of(Final)
    assert [f.reason for f in finals] == ["pause", "pause", "pause"]
    assert word_error_rate([t for t, _ in sentences], [f.text for f in finals]) <= 0.2
    assert [f.utterance for f in finals] == [1, 2, 3]
    states = [e.state for e in recorder.of(StateChanged)]
    assert states == [SessionState.LISTENING, SessionState.FINALISING, SessionState.IDLE]


def test_push_to_talk_keeps_one_utterance_across_pauses(speech_model, utterances):
    sentences = utterances[13:15]
    recording = np.concatenate([silence(0.3), sentences[0][1], silence(1.5), sentences[1][1], silence(0.3)])
    recorder = run_engine(speech_model, FileSoundDevice(samples=recording, realtime=False),
                          STREAMED_ONLY, Mode.PUSH_TO_TALK)
    finals = recorder.of(Final)
    assert len(finals) == 1 and finals[0].reason == "stop"
    # Both sentences reached the model, the 1.5 s pause between them shortened to at most
    # hang-over plus pre-roll. (The fixture model knows one sentence per utterance, so only
    # the first one's words can be checked.)
    spoken = (len(sentences[0][1]) + len(sentences[1][1])) / 16000
    assert spoken <= finals[0].seconds < spoken + 0.6 + 0.6
    first = sentences[0][0].split()
    assert word_error_rate([" ".join(first)], [" ".join(finals[0].text.split()[: len(first)])]) <= 0.2


def test_unplugging_keeps_the_words_spoken_so_far(speech_model, utterances):
    """The microphone dies while the key is still held, just after the sentence was spoken."""
    text, speech = utterances[20]
    recording = np.concatenate([silence(0.3), speech, silence(2.0)])
    cut = 0.3 + len(speech) / 16000 + 0.1
    device = FileSoundDevice(samples=recording, realtime=False, fail_after=cut)
    recorder = Recorder()
    engine = LiveEngine(speech_model, STREAMED_ONLY, recorder, sd=device)
    engine.start(Mode.PUSH_TO_TALK)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: recorder.of(Final), 30)
        finals = recorder.of(Final)
        assert len(finals) == 1 and finals[0].reason == "device"
        assert finals[0].text == speech_model.recognize([gated(recording[: round(cut * 16000)])])[0].text.strip()
        assert word_error_rate([text], [finals[0].text]) <= 0.2
        errors = [e.message for e in recorder.of(ErrorEvent)]
        assert any("unplugged" in m for m in errors), errors
        assert engine.session.state is SessionState.IDLE

        # The microphone comes back: capture resumes by itself.
        device.missing = False
        device.fail_after = None
        def came_back() -> bool:
            return any(m.available and "“file”" in m.message for m in recorder.of(MicrophoneState)[1:])

        # The state follows the reopening on the engine thread; a busy machine may take a while.
        wait_for(came_back, 60)
        assert device.opened == 2 and came_back()
    finally:
        engine.shutdown()
        thread.join(30)


@pytest.mark.parametrize("fault, says", [
    ("missing", "No microphone found"),
    ("busy", "Cannot open the microphone “file”: Device unavailable"),  # held by another program
])
def test_no_microphone_or_a_busy_one_is_a_clear_error_then_capture_begins(speech_model, fault, says):
    device = FileSoundDevice(samples=silence(1.0), realtime=True, **{fault: True})
    recorder = Recorder()
    engine = LiveEngine(speech_model, STREAMED_ONLY, recorder, sd=device)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: recorder.of(ErrorEvent), 30)
        assert recorder.of(ErrorEvent)[0].message.startswith(says)
        setattr(device, fault, False)  # plugged in, or the other program let go of it
        wait_for(lambda: any(m.available for m in recorder.of(MicrophoneState)), 60)
        opened = [m for m in recorder.of(MicrophoneState) if m.available]
        assert "Microphone: “file”" in opened[0].message and device.opened == 1
    finally:
        engine.shutdown()
        thread.join(30)


@pytest.mark.parametrize("pause, alarm", [(4.0, False), (1000.0, True)])
def test_only_a_microphone_that_really_stopped_raises_the_alarm(speech_model, pause, alarm):
    """Callbacks stop for 4 s with the stream still active (a machine too busy to run them, as
    while a model loads): no alarm, and capture goes on. Stopped for good: the alarm comes."""
    device = FileSoundDevice(samples=silence(60.0), realtime=True, pause=(1.0, pause))
    device.plays_file = False  # a microphone, not a file that ends
    recorder = Recorder()
    engine = LiveEngine(speech_model, STREAMED_ONLY, recorder, sd=device)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        lost = lambda: [m for m in recorder.of(MicrophoneState) if not m.available]  # noqa: E731
        if alarm:
            wait_for(lost, 60)
            assert "stopped working or was unplugged" in lost()[0].message
        else:
            wait_for(lambda: device.played > 4.0 * 16000 or lost(), 60)  # 3 s of audio after the pause
            assert device.played > 4.0 * 16000 and not lost(), lost()
    finally:
        engine.shutdown()
        thread.join(30)


def test_a_consumer_that_woke_late_does_not_count_the_silence():
    from parakeet_desktop.engine.audio.capture import STALL_SECONDS, Microphone

    now = [100.0]
    microphone = Microphone(queue.Queue(), sd=FileSoundDevice(samples=silence(60.0), realtime=True),
                            clock=lambda: now[0])
    microphone.open()
    microphone._stream.abort()  # no callbacks from here on, and it says so
    now[0] += STALL_SECONDS + 1
    assert microphone.check_stalled(late=STALL_SECONDS + 1) is None  # the machine was starved
    now[0] += STALL_SECONDS + 1
    assert microphone.check_stalled(late=0.0) is not None
    microphone.close()


def test_the_start_tone_heard_by_the_microphone_never_reaches_the_recogniser(speech_model, utterances, tmp_path):
    """Speakers beside the microphone: our start tone is recorded right after the key goes down,
    and the user starts speaking at once. With tones on, the tone's frequencies are filtered out
    of that stretch: what is spooled (what the recogniser gets) no longer holds the tone, and the
    sentence's words survive."""
    from parakeet_desktop.engine.audio.decode import resample
    from parakeet_desktop.engine.audio.spool import read_spool
    from parakeet_desktop.ui import sounds

    text, speech = utterances[34]
    tone = resample(sounds.START, sounds.RATE, 16000) * 2.5  # loud: the speaker is close
    recording = np.concatenate([silence(0.05), tone, silence(0.02), speech, silence(0.6)])

    def tone_in(audio: np.ndarray) -> float:
        """The amplitude of the tone in *audio*, relative to the tone as recorded (1: all of it)."""
        return float(np.max(np.abs(np.correlate(audio, tone, "valid"))) / np.dot(tone, tone))

    results = {}
    for filtered in (False, True):
        settings = dataclasses.replace(
            STREAMED_ONLY, spool_dir=tmp_path / str(filtered), start_tone_hz=sounds.START_HZ,
            start_tone_seconds=sounds.START_TONE_SECONDS if filtered else 0.0)
        final = dictated(speech_model, settings, recording, 1600).of(Final)[0]
        results[filtered] = (final.text, tone_in(read_spool(final.spool)))
    assert results[False][1] > 0.8, results  # unfiltered, the tone reached the recogniser
    assert results[True][1] < 0.1, results  # at least 20 dB down
    assert word_error_rate([text], [results[True][0]]) <= word_error_rate([text], [results[False][0]]) + 0.1
    assert word_error_rate([text], [results[True][0]]) <= 0.25, results


def test_final_pass_gives_offline_text(speech_model, utterances):
    text, speech = utterances[30]
    recording = np.concatenate([silence(0.4), speech, silence(0.4)])
    settings = LiveSettings(streaming=TEST_STREAMING, final_pass=FinalPass.ALWAYS)
    recorder = run_engine(speech_model, FileSoundDevice(samples=recording, realtime=False),
                          settings, Mode.PUSH_TO_TALK)
    final = recorder.of(Final)[0]
    assert final.full_context
    assert final.text == speech_model.recognize([gated(recording)])[0].text.strip()


def test_streaming_failure_falls_back_to_a_full_pass(speech_model, utterances, monkeypatch):
    text, speech = utterances[31]
    recording = np.concatenate([silence(0.4), speech, silence(0.4)])
    failures = []

    def broken_encode(samples, cancel=None):
        failures.append(len(samples))
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(speech_model, "encode", broken_encode)
    recorder = dictated(speech_model, STREAMED_ONLY, recording, 320)
    monkeypatch.undo()
    assert len(failures) == 1  # no further streaming steps once one failed
    assert "Live captions stopped" in recorder.of(ErrorEvent)[0].message
    final = recorder.of(Final)[0]
    assert final.full_context
    assert final.text == speech_model.recognize([gated(recording)])[0].text.strip()


def test_a_failing_last_streaming_step_falls_back_to_a_full_pass(speech_model, utterances, monkeypatch):
    text, speech = utterances[33]
    recording = np.concatenate([silence(0.4), speech, silence(0.4)])

    def broken_finish():
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    recorder = Recorder()
    session = DictationSession(speech_model, STREAMED_ONLY, recorder)
    session.start(Mode.PUSH_TO_TALK)
    session.feed(recording)
    monkeypatch.setattr(session._transcriber, "finish", broken_finish)
    session.stop()
    final = recorder.of(Final)[0]
    assert final.full_context
    assert final.text == speech_model.recognize([gated(recording)])[0].text.strip()


def test_audio_that_cannot_be_recognised_is_saved(speech_model, utterances, monkeypatch, tmp_path):
    import soundfile

    text, speech = utterances[32]
    recorder = Recorder()
    session = DictationSession(speech_model, LiveSettings(streaming=TEST_STREAMING, rescue_dir=tmp_path),
                               recorder)
    session.start(Mode.PUSH_TO_TALK)
    session.feed(np.concatenate([silence(0.3), speech]))

    def broken(*_args, **_kwargs):
        raise RuntimeError("the model crashed")

    monkeypatch.setattr(speech_model, "recognize", broken)
    monkeypatch.setattr(speech_model, "encode", broken)
    session.stop()
    monkeypatch.undo()
    message = recorder.of(ErrorEvent)[-1].message
    saved = list(tmp_path.glob("*.wav"))
    assert len(saved) == 1 and str(saved[0]) in message
    audio, rate = soundfile.read(saved[0])
    assert rate == 16000 and len(audio) >= len(speech) * 0.9
    assert speech_model.recognize([audio.astype(np.float32)])[0].text.strip()
    assert not recorder.of(Final)


def test_partials_belong_to_their_utterance(speech_model, utterances):
    sentences = utterances[40:42]
    recording = np.concatenate(
        [silence(0.5)] + [part for _, speech in sentences for part in (speech, silence(1.2))])
    recorder = run_engine(speech_model, FileSoundDevice(samples=recording, realtime=True),
                          STREAMED_ONLY, Mode.HANDS_FREE)
    partials = recorder.of(Partial)
    assert {p.utterance for p in partials} == {1, 2}
    order = [(type(e).__name__, e.utterance) for e in recorder.events if isinstance(e, (Partial, Final))]
    first_final = order.index(("Final", 1))
    assert all(u == 1 for _, u in order[:first_final])


def test_the_utterance_in_progress_is_on_disk_and_handed_over_with_its_final(speech_model, tmp_path):
    """While the user speaks, the speech is appended to a spool file about every second; the
    final names the file (deleted once its text is safe); silence spools nothing."""
    from parakeet_desktop.engine.audio import spool
    from parakeet_desktop.engine.live.dictation import DictationSession, LiveSettings, Mode
    from parakeet_desktop.engine.live.events import Final

    events = []
    session = DictationSession(speech_model, LiveSettings(spool_dir=tmp_path), events.append)
    text, speech = held_out_utterances(1)[0]
    session.start(Mode.PUSH_TO_TALK)
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(8000, np.float32)])
    for offset in range(0, len(audio) - 16000, 1600):
        session.feed(audio[offset : offset + 1600])
    on_disk = spool.spool_leftovers(tmp_path)
    assert len(on_disk) == 1 and on_disk[0].stat().st_size >= 2 * 16000  # a second or more, already
    for offset in range(len(audio) - len(audio) % 1600 - 16000, len(audio), 1600):
        session.feed(audio[offset : offset + 1600])
    session.stop()
    final = next(e for e in events if isinstance(e, Final))
    assert final.spool == on_disk[0] and final.text
    heard = spool.read_spool(final.spool)
    assert abs(len(heard) - final.seconds * 16000) <= 16  # all the speech the model heard
    spool.discard_spool(final.spool)
    assert spool.spool_leftovers(tmp_path) == []

    events.clear()
    session.start(Mode.PUSH_TO_TALK)
    session.feed(np.zeros(32000, np.float32))
    session.stop()
    assert next(e for e in events if isinstance(e, Final)).spool is None and spool.spool_leftovers(tmp_path) == []

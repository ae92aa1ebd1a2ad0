"""Giving the GPU back while idle: the live engine rests its model after the idle time and wakes
it for dictation, file jobs and streams, with no audio lost while it wakes. There is no GPU
here, so the move itself is a slow stand-in (a second each way); everything around it, the
speech model, the microphone stand-in and the speech gate, is real."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.live.dictation import SessionState
from parakeet_desktop.engine.live.events import FileDone, Final, ModelResting, StateChanged, WakingUp
from parakeet_desktop.engine.live.loop import LiveEngine
from parakeet_desktop.engine.live.work import FileJob
from parakeet_desktop.engine.model import speech
from parakeet_desktop.engine.recognize.files import AudioInput
from support.engine import STREAMED_ONLY, Recorder
from support.speech import held_out_utterances, silence, word_error_rate
from tools.waiting import wait_for

MOVE_SECONDS = 1.0


@pytest.fixture
def slow_moves(speech_model, monkeypatch):
    """The speech model as if it lived on a GPU whose moves take a second; the moves made."""
    moves: list[str] = []

    def move(nemo, device: str) -> None:
        assert nemo is speech_model.nemo
        assert device == ("cpu" if not moves or moves[-1] != "cpu" else speech_model.device)
        time.sleep(MOVE_SECONDS)
        moves.append(device)

    monkeypatch.setattr(speech_model, "can_rest", lambda: not speech_model.resting)
    monkeypatch.setattr(speech, "move_weights", move)  # the GPU's edge (engine/model/gpu.py), as speech.py calls it
    yield moves
    speech_model.resting = False


def _running(model, samples: np.ndarray, settings) -> tuple[LiveEngine, Recorder, threading.Thread]:
    recorder = Recorder()
    engine = LiveEngine(model, settings, recorder, sd=FileSoundDevice(samples=samples), until_input_ends=True)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    return engine, recorder, thread


def test_dictation_wakes_the_model_and_keeps_what_was_said_while_it_woke(speech_model, slow_moves):
    text, speech = held_out_utterances(2)[1]
    offline = speech_model.recognize([speech])[0].text
    settings = dataclasses.replace(STREAMED_ONLY, rest_after_seconds=0.3)
    engine, recorder, thread = _running(speech_model, np.concatenate([silence(2.0), speech, silence(1.0)]),
                                        settings)
    wait_for(lambda: recorder.of(ModelResting), 30)
    assert recorder.of(ModelResting) == [ModelResting(True, recorder.of(ModelResting)[0].seconds)]
    assert speech_model.resting and slow_moves == ["cpu"]
    engine.start()  # the speech begins while the model is still on its way back
    thread.join(120)
    assert not thread.is_alive()
    events = [e for e in recorder.events if isinstance(e, (ModelResting, WakingUp, StateChanged, Final))]
    listening = next(i for i, e in enumerate(events)
                     if isinstance(e, StateChanged) and e.state is SessionState.LISTENING)
    awake = next(i for i, e in enumerate(events) if isinstance(e, ModelResting) and not e.resting)
    assert listening < awake, "capture starts at once, before the model is back"
    assert any(isinstance(e, WakingUp) for e in events[listening:awake]), "a slow wake-up is announced"
    assert events[awake].seconds >= MOVE_SECONDS and not speech_model.resting
    final = recorder.of(Final)[0].text
    assert final.split()[:1] == offline.split()[:1] and final.split()[-1:] == offline.split()[-1:], (offline, final)
    assert word_error_rate([offline], [final]) <= 0.15, (text, offline, final)


def test_a_file_job_wakes_the_model_and_nothing_rests_while_it_runs(speech_model, slow_moves):
    sentences = held_out_utterances(4)
    settings = dataclasses.replace(STREAMED_ONLY, rest_after_seconds=0.3)
    engine, recorder, thread = _running(speech_model, silence(30.0), settings)
    try:
        wait_for(lambda: recorder.of(ModelResting), 30)
        assert speech_model.resting
        done: list[FileDone] = []
        job = FileJob([AudioInput(f"s{i}.wav", s) for i, (_, s) in enumerate(sentences)],
                      listener=lambda event: isinstance(event, FileDone) and done.append(event))
        engine.submit(job)
        wait_for(lambda: len(done) == len(sentences), 120)
        assert [d.error for d in done] == [None] * len(sentences)
        rests = recorder.of(ModelResting)
        assert [r.resting for r in rests[:2]] == [True, False]  # woken before the job, not during it
        texts = [d.transcript.text for d in done]
        assert texts == [r.text for r in speech_model.recognize([s for _, s in sentences])]
        wait_for(lambda: len(recorder.of(ModelResting)) == 3, 30)  # idle again: rests again
        assert [r.resting for r in recorder.of(ModelResting)] == [True, False, True]
    finally:
        engine.shutdown()
        thread.join(60)


def test_no_rest_when_turned_off_or_on_the_cpu(speech_model, slow_moves, monkeypatch):
    engine, recorder, thread = _running(speech_model, silence(2.0), STREAMED_ONLY)  # rest_after None
    thread.join(60)
    monkeypatch.undo()  # the model as it is: on the CPU, where resting frees nothing
    assert not speech_model.can_rest()
    settings = dataclasses.replace(STREAMED_ONLY, rest_after_seconds=0.1)
    engine, second, thread = _running(speech_model, silence(2.0), settings)
    thread.join(60)
    assert recorder.of(ModelResting) == second.of(ModelResting) == [] and slow_moves == []

"""The speaker models beside the engine's recognizer (engine/live/speaker_models.py): loaded on
the first job that asks, let go when the engine rests, and a long file's diarization giving way
to dictation between its chunks and stopping when its job is cancelled."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from parakeet_desktop.engine.live.speaker_models import SpeakerModels
from parakeet_desktop.engine.model import ModelError, RecognitionCancelled
from parakeet_desktop.engine.recognize import FileTranscriber
from parakeet_desktop.engine.speakers import SpeakerRequest
from support.conversations import DIARIZATION_MODEL, make_conversation
from support.models import SPEECH_MODEL


def test_a_long_files_diarization_gives_way_between_chunks_and_stops_when_cancelled(speech_model):
    conversation = make_conversation(120, 2, seed=50)  # past 90 s: streamed chunk by chunk
    models = SpeakerModels(str(DIARIZATION_MODEL))
    served = []
    finish = models.finish(SpeakerRequest(), threading.Event(), lambda: served.append(1))
    transcript = FileTranscriber(speech_model, finish=finish).transcribe_array(conversation.audio)
    chunks = math.ceil((len(conversation.audio) // 160 + 1) / (188 * 8))  # the model's chunks of 15.04 s
    assert len(served) == chunks + 1 and len(transcript.speakers) >= 2  # after each chunk, and at the end

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RecognitionCancelled):
        FileTranscriber(speech_model, finish=models.finish(SpeakerRequest(), cancel)).transcribe_array(
            conversation.audio)
    models.rest()
    assert models._diarizer is None  # let go; the next job loads it again
    assert FileTranscriber(speech_model, finish=models.finish(SpeakerRequest())).transcribe_array(
        conversation.audio[: 20 * 16000]).speakers


def test_no_request_no_step_and_a_model_that_cannot_load_fails_the_file(speech_model):
    assert SpeakerModels().finish(None) is None
    finish = SpeakerModels(str(SPEECH_MODEL)).finish(SpeakerRequest())
    with pytest.raises(ModelError, match="not a speaker diarization model"):
        FileTranscriber(speech_model, finish=finish).transcribe_array(np.zeros(16000, np.float32))


def test_a_moment_of_audio_has_nobody_in_it():
    diarizer = SpeakerModels(str(DIARIZATION_MODEL)).diarizer()
    assert diarizer.diarize(np.zeros(0, np.float32)).turns == []
    assert diarizer.diarize(np.full(500, 0.3, np.float32)).speakers == 0

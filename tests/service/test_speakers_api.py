"""Speakers over the API: OpenAI's ``diarized_json`` (typed by the real ``openai`` client, plain and
streamed), ``known_speaker_names[]`` with ``known_speaker_references[]`` as data URLs,
``verbose_json`` with ``speakers``, jobs, the cluster; and the requests it must refuse, each a 400
in OpenAI's envelope. A ``serve`` of the speech fixture with the trained diarization and speaker
fixtures, on conversations made here."""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import openai
import pytest
import soundfile

from support.conversations import (
    DIARIZATION_MODEL,
    SPEAKER_MODEL,
    attributed,
    make_conversation,
    reference_clip,
    voice_pool,
)
from support.models import SPEECH_MODEL
from tools.waiting import wait_for

SPEAKER_ARGS = ("--diarization-model", str(DIARIZATION_MODEL), "--speaker-model", str(SPEAKER_MODEL))


@pytest.fixture(scope="module")
def served_speakers(tmp_path_factory, service_process):
    with service_process(SPEECH_MODEL, tmp_path_factory.mktemp("config"), *SPEAKER_ARGS) as running:
        yield running


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    conversation = make_conversation(30, 2, seed=31)
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    soundfile.write(path, conversation.audio, 16000)
    return path, conversation


def client(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url, api_key=served.token)


def data_url(samples: np.ndarray) -> str:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16000, format="WAV")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def as_words(segments) -> list[dict]:
    return [{"start": s.start, "end": s.end, "speaker": s.speaker} for s in segments]


def test_diarized_json_as_openai_types_it(served_speakers, talk):
    path, conversation = talk
    result = client(served_speakers).audio.transcriptions.create(
        model="x", file=path.open("rb"), response_format="diarized_json", chunking_strategy="auto")
    assert type(result).__name__ == "TranscriptionDiarized" and result.task == "transcribe"
    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert all(s.type == "transcript.text.segment" for s in result.segments)
    assert result.usage.seconds == pytest.approx(len(conversation.audio) / 16000, abs=0.01)
    assert " ".join(s.text for s in result.segments) == result.text
    assert attributed(as_words(result.segments), ["A", "B"], conversation) >= 0.85


def test_streamed_diarized_json_sends_segment_events_then_the_text(served_speakers, talk):
    path, _ = talk
    events = list(client(served_speakers).audio.transcriptions.create(
        model="x", file=path.open("rb"), response_format="diarized_json", stream=True))
    kinds = [type(e).__name__ for e in events]
    assert kinds[-1] == "TranscriptionTextDoneEvent" and set(kinds[:-1]) == {"TranscriptionTextSegmentEvent"}
    assert " ".join(e.text for e in events[:-1]) == events[-1].text
    assert {e.speaker for e in events[:-1]} == {"A", "B"}


def test_verbose_json_gets_a_speaker_per_segment_and_word_when_asked(served_speakers, talk):
    path, conversation = talk
    response = httpx.post(f"{served_speakers.base_url}/audio/transcriptions", headers=served_speakers.headers(),
                          files={"file": path.open("rb")}, timeout=300,
                          data={"response_format": "verbose_json", "speakers": "2",
                                "timestamp_granularities[]": ["word", "segment"]})
    document = response.json()
    assert response.status_code == 200, document
    assert document["speakers"] == ["A", "B"] and {s["speaker"] for s in document["segments"]} == {"A", "B"}
    assert attributed(document["words"], ["A", "B"], conversation) >= 0.9


def test_known_speakers_are_named_from_their_reference_clips(served_speakers, talk):
    path, conversation = talk
    report = json.loads(SPEAKER_MODEL.with_suffix(".training.json").read_text())
    ana, ben = (reference_clip(v) for v in conversation.voices)
    result = client(served_speakers).audio.transcriptions.create(
        model="x", file=path.open("rb"), response_format="diarized_json",
        known_speaker_names=["Ben", "Ana"], known_speaker_references=[data_url(ben), data_url(ana)],
        extra_body={"speaker_threshold": report["threshold"]})
    assert attributed(as_words(result.segments), ["Ana", "Ben"], conversation) >= 0.85
    assert result.segments[0].speaker == "Ana"
    matches = result.model_extra["speaker_matches"]
    assert {m["name"] for m in matches} == {"Ana", "Ben"} and all(m["similarity"] >= report["threshold"]
                                                                  for m in matches)


def test_a_job_carries_its_speakers(served_speakers, talk):
    path, _ = talk
    headers = served_speakers.headers()
    created = httpx.post(f"{served_speakers.base_url}/jobs", headers=headers, files={"file": path.open("rb")},
                         data={"response_format": "diarized_json"}).json()
    wait_for(lambda: httpx.get(f"{served_speakers.base_url}/jobs/{created['id']}", headers=headers).json()["status"]
             == "completed", 300, "the job to finish")
    result = httpx.get(f"{served_speakers.base_url}/jobs/{created['id']}", headers=headers).json()["result"]
    assert {s["speaker"] for s in result["segments"]} == {"A", "B"}


def test_the_models_card_names_the_diarization_model(served_speakers):
    card = httpx.get(f"{served_speakers.base_url}/models", headers=served_speakers.headers()).json()["data"][0]
    assert card["capabilities"]["diarization"]["model"] == str(DIARIZATION_MODEL)
    assert card["capabilities"]["diarization"]["max_speakers"] == 4


def _short_wav() -> np.ndarray:
    audio, start, _ = voice_pool()[0][0]
    return audio[start : start + 8000]


@pytest.mark.parametrize(("fields", "param", "message"), [
    ({"known_speaker_names[]": ["a", "b", "c", "d", "e"]}, "known_speaker_names", "at most 4"),
    ({"known_speaker_names[]": ["Ana"], "known_speaker_references[]": ["data:audio/wav;base64,AAAA"]},
     "known_speaker_references", "(Ana)"),
    ({"known_speaker_names[]": ["Ana"], "known_speaker_references[]": ["https://example.com/ana.wav"]},
     "known_speaker_references", "not a data URL"),
    ({"known_speaker_names[]": ["Ana"], "known_speaker_references[]": [data_url(np.zeros(100))]},
     "known_speaker_references", "needs at least 1 s"),
    ({"known_speaker_names[]": ["Ana", "Ben"], "known_speaker_references[]": ["data:,x"]},
     "known_speaker_references", "one clip for each name"),
    ({"speakers": "7"}, "speakers", "speakers"),
    ({"chunking_strategy": "by_the_moon"}, "chunking_strategy", "chunking_strategy"),
    ({"response_format": "diarized_json", "timestamp_granularities[]": ["word"]}, "timestamp_granularities",
     "verbose_json"),
])
def test_requests_it_cannot_meet_are_400s_naming_the_field(served_speakers, talk, fields, param, message):
    path, _ = talk
    data = {"response_format": "diarized_json", **fields}
    response = httpx.post(f"{served_speakers.base_url}/audio/transcriptions", headers=served_speakers.headers(),
                          files={"file": path.open("rb")}, data=data, timeout=120)
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == param and message in error["message"], error
    # nothing else lost: the same upload with good fields is answered
    assert client(served_speakers).audio.transcriptions.create(model="x", file=path.open("rb")).text


def test_too_short_a_reference_clip_is_refused(served_speakers, talk):
    path, _ = talk
    with pytest.raises(openai.BadRequestError, match="at least 1 s"):
        client(served_speakers).audio.transcriptions.create(
            model="x", file=path.open("rb"), response_format="diarized_json", known_speaker_names=["Ana"],
            known_speaker_references=[data_url(_short_wav())])


def test_the_cluster_serves_speakers_too(cluster_service, talk):
    path, conversation = talk
    result = client(cluster_service).audio.transcriptions.create(
        model="x", file=path.open("rb"), response_format="diarized_json")
    assert attributed(as_words(result.segments), ["A", "B"], conversation) >= 0.85

"""A transcription request's options, read from its form as the routes read them: what a client
sends becomes one typed value, and what does not validate is a 400 naming the field (the routes
send it in OpenAI's error envelope: tests/service/test_service.py)."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from parakeet_desktop.service.errors import ApiError
from parakeet_desktop.service.options import TranscriptionOptions


def test_a_clients_fields_become_one_typed_value():
    form = FormData([("response_format", "verbose_json"), ("timestamp_granularities[]", "word"),
                     ("timestamp_granularities[]", "segment"), ("language", " DE "), ("model", " parakeet "),
                     ("temperature", "0.2")])
    options = TranscriptionOptions.of_form(form)
    assert options == TranscriptionOptions(response_format="verbose_json", timestamp_granularities=("word", "segment"),
                                           language="de", model="parakeet")
    assert TranscriptionOptions.of_form(FormData([("stream", "true"), ("language", "")])).stream
    assert TranscriptionOptions.of_form(FormData()) == TranscriptionOptions()


@pytest.mark.parametrize(("fields", "param", "words"), [
    ([("response_format", "docx")], "response_format", "'json'"),
    ([("response_format", "verbose_json"), ("timestamp_granularities[]", "sentence")], "timestamp_granularities",
     "timestamp_granularities[]"),
    ([("timestamp_granularities[]", "word")], "timestamp_granularities", "needs response_format verbose_json"),
    ([("stream", "true"), ("response_format", "srt")], "stream", "sends text events"),
    ([("stream", "sometimes")], "stream", "boolean"),
])
def test_a_field_that_does_not_validate_is_a_400_naming_it(fields, param, words):
    with pytest.raises(ApiError) as raised:
        TranscriptionOptions.of_form(FormData(fields))
    assert raised.value.status == 400 and raised.value.param == param and words in raised.value.message


def test_speakers_fields_as_the_openai_client_sends_them():
    """OpenAI's names: ``known_speaker_names[]``, ``known_speaker_references[]`` (data URLs),
    ``chunking_strategy`` as "auto" or an object's fields; ours: ``speakers``, ``speaker_threshold``."""
    import base64
    import io

    import numpy as np
    import soundfile

    from parakeet_desktop.service.speakers import speaker_request

    buffer = io.BytesIO()
    soundfile.write(buffer, 0.3 * np.sin(np.arange(32000) / 9.0), 16000, format="WAV")
    clip = "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()
    form = FormData([("response_format", "diarized_json"), ("known_speaker_names[]", "Ana"),
                     ("known_speaker_references[]", clip), ("chunking_strategy[type]", "server_vad"),
                     ("chunking_strategy[threshold]", "0.5"), ("speaker_threshold", "0.4")])
    options = TranscriptionOptions.of_form(form)
    assert options.wants_speakers and options.chunking_strategy == "server_vad" and options.speaker_count is None
    request = speaker_request(options)
    assert request is not None and request.letters and request.threshold == 0.4
    assert [name for name, _ in request.references] == ["Ana"] and len(request.references[0][1]) == 32000
    named = speaker_request(TranscriptionOptions.of_form(FormData([("speakers", "3"),
                                                                  ("known_speaker_names[]", "Ana"),
                                                                  ("known_speaker_names[]", "Ben")])))
    assert named is not None and named.count == 3 and named.names == ("Ana", "Ben") and not named.references
    assert speaker_request(TranscriptionOptions.of_form(FormData([("chunking_strategy", "auto")]))) is None


@pytest.mark.parametrize(("fields", "param", "words"), [
    ([("known_speaker_names[]", n) for n in "abcde"], "known_speaker_names", "at most 4"),
    ([("known_speaker_names[]", "Ana"), ("known_speaker_references[]", "data:audio/wav;base64,%%%")],
     "known_speaker_references", "damaged"),
    ([("known_speaker_names[]", "Ana"), ("known_speaker_references[]", "data:audio/wav;base64,AAAA")],
     "known_speaker_references", "(Ana)"),
    ([("known_speaker_names[]", "Ana"), ("known_speaker_names[]", "ana")], "known_speaker_names", "twice"),
    ([("speaker_threshold", "1.5")], "speaker_threshold", "speaker_threshold"),
    ([("chunking_strategy", '{"type": "semantic"}')], "chunking_strategy", "chunking_strategy"),
])
def test_speaker_fields_that_cannot_be_met_are_400s_naming_the_field(fields, param, words):
    from parakeet_desktop.service.speakers import speaker_request

    with pytest.raises(ApiError) as raised:
        speaker_request(TranscriptionOptions.of_form(FormData([("response_format", "diarized_json"), *fields])))
    assert raised.value.status == 400 and raised.value.param == param and words in raised.value.message

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

"""A transcription request's options, read once from its form fields (OpenAI's names) into one
validated model; a field that does not validate is a 400 in OpenAI's error envelope, naming it.
What depends on the loaded model (is it the one asked for, does it know the language) is checked
by the route, which knows the model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData

from .errors import ApiError

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
Granularity = Literal["word", "segment"]


class TranscriptionOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    response_format: ResponseFormat = "json"
    timestamp_granularities: tuple[Granularity, ...] = ()
    model: str = ""
    language: str | None = None  # lower case; None: the model finds it
    stream: bool = False

    @field_validator("model", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _together(self) -> TranscriptionOptions:
        # A rule of two fields: the error's type names the field the client is told of.
        if self.timestamp_granularities and self.response_format != "verbose_json":
            raise PydanticCustomError("timestamp_granularities",
                                      "timestamp_granularities[] needs response_format verbose_json.")
        if self.stream and self.response_format not in ("json", "text"):
            raise PydanticCustomError("stream",
                                      "stream=true sends text events; use response_format json or text with it.")
        return self

    @classmethod
    def of_form(cls, form: FormData) -> TranscriptionOptions:
        """The options of a multipart form; ApiError 400 for a field that does not validate."""
        fields: dict[str, object] = {
            "timestamp_granularities": [str(g) for g in form.getlist("timestamp_granularities[]")
                                        + form.getlist("timestamp_granularities")]}
        for name in ("response_format", "model", "language", "stream"):
            if (value := form.get(name)) not in (None, ""):
                fields[name] = str(value)
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise _api_error(exc) from None


def _api_error(exc: ValidationError) -> ApiError:
    error = exc.errors(include_url=False)[0]
    if not error["loc"]:  # a rule of two fields together: its message names them both
        return ApiError(400, error["msg"], param=error["type"])
    field = str(error["loc"][0])
    shown = "timestamp_granularities[]" if field == "timestamp_granularities" else field
    return ApiError(400, f"{shown}: {error['msg']}.", param=field)

"""A transcription request's options, read once from its form fields (OpenAI's names) into one
validated model; a field that does not validate is a 400 in OpenAI's error envelope, naming it.
What depends on the loaded model (is it the one asked for, does it know the language) is checked
by the route, which knows the model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData

from .errors import ApiError

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json", "diarized_json"]
Granularity = Literal["word", "segment"]
SpeakerCount = Literal["auto", "2", "3", "4"]
# The most speakers the diarization models tell apart, and so the most names a request may give.
MOST_SPEAKERS = 4


class TranscriptionOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    response_format: ResponseFormat = "json"
    timestamp_granularities: tuple[Granularity, ...] = ()
    model: str = ""
    language: str | None = None  # lower case; None: the model finds it
    stream: bool = False
    # Who said what (engine/speakers/): ours, how many speakers ("auto" when only diarized_json
    # or names ask for them); OpenAI's names and their reference clips as data URLs, in pairs.
    speakers: SpeakerCount | None = None
    known_speaker_names: tuple[str, ...] = ()
    known_speaker_references: tuple[str, ...] = ()
    # Ours: how alike (cosine, 0-1) a speaker and a reference must be for the name (None: the default).
    speaker_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    # OpenAI's "auto" or server_vad object: taken, as this service always cuts at pauses.
    chunking_strategy: Literal["auto", "server_vad"] | None = None

    @property
    def wants_speakers(self) -> bool:
        return (self.response_format == "diarized_json" or self.speakers is not None
                or bool(self.known_speaker_names) or bool(self.known_speaker_references))

    @property
    def speaker_count(self) -> int | None:
        return None if self.speakers in (None, "auto") else int(self.speakers)

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
        if self.stream and self.response_format not in ("json", "text", "diarized_json"):
            raise PydanticCustomError("stream", "stream=true sends text events; use response_format json, text "
                                                "or diarized_json with it.")
        names, references = self.known_speaker_names, self.known_speaker_references
        if len(names) > MOST_SPEAKERS:
            raise PydanticCustomError("known_speaker_names", f"known_speaker_names[]: {len(names)} names were given; "
                                      f"at most {MOST_SPEAKERS} speakers can be told apart.")
        if references and len(references) != len(names):
            raise PydanticCustomError("known_speaker_references",
                                      f"known_speaker_references[] has {len(references)} clips for {len(names)} "
                                      "known_speaker_names[]: give one clip for each name, in the same order.")
        if any(not name.strip() for name in names):
            raise PydanticCustomError("known_speaker_names", "known_speaker_names[]: a name is empty.")
        return self

    @classmethod
    def of_form(cls, form: FormData) -> TranscriptionOptions:
        """The options of a multipart form; ApiError 400 for a field that does not validate."""
        fields: dict[str, object] = {
            "timestamp_granularities": [str(g) for g in form.getlist("timestamp_granularities[]")
                                        + form.getlist("timestamp_granularities")]}
        for name in ("response_format", "model", "language", "stream", "speakers", "speaker_threshold"):
            if (value := form.get(name)) not in (None, ""):
                fields[name] = str(value)
        for name in ("known_speaker_names", "known_speaker_references"):
            if values := form.getlist(f"{name}[]") + form.getlist(name):
                fields[name] = [str(v) for v in values]
        # "auto", or an object's fields as the openai client sends them (chunking_strategy[type]).
        strategy = form.get("chunking_strategy") or form.get("chunking_strategy[type]")
        if strategy not in (None, ""):
            fields["chunking_strategy"] = _strategy(str(strategy))
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise _api_error(exc) from None


def _strategy(value: str) -> str:
    """The strategy's type: "auto", or "server_vad" from a JSON object or the type field."""
    import json

    if value.lstrip().startswith("{"):
        try:
            document = json.loads(value)
        except ValueError:
            return value
        return str(document.get("type", "")) if isinstance(document, dict) else value
    return value


def _api_error(exc: ValidationError) -> ApiError:
    error = exc.errors(include_url=False)[0]
    if not error["loc"]:  # a rule of two fields together: its message names them both
        return ApiError(400, error["msg"], param=error["type"])
    field = str(error["loc"][0])
    shown = f"{field}[]" if field in ("timestamp_granularities", "known_speaker_names",
                                      "known_speaker_references") else field
    return ApiError(400, f"{shown}: {error['msg']}.", param=field)

"""Settings: one typed object, stored as JSON under the platform's config folder.

The file carries a schema version. Unknown keys are ignored and a value of the wrong type falls
back to its default, each with a warning; a file that cannot be read at all is kept aside (renamed
``settings.json.corrupt-<time>``) and replaced by defaults, with a warning the app shows.
Writes are atomic: a crash mid-write leaves the previous file.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from ..engine.model import DEFAULT_DIARIZATION_MODEL, DEFAULT_MODEL_ID, DEFAULT_SPEAKER_EMBEDDING_MODEL
from ..storage import write_atomic
from .choices import Device, FinalPass, GpuRest, Injection, KeepAudio, Latency, Mode, OverlayPosition, PasteKeys
from .spoken import ACTIONS, DEFAULT_COMMANDS

SCHEMA_VERSION = 1
APP_NAME = "parakeet-desktop"
# Where the local speech service listens unless told otherwise.
DEFAULT_API_PORT = 8765


@dataclass
class Settings:
    model: str = DEFAULT_MODEL_ID
    device: Device = Device.AUTO
    microphone: str | None = None  # by name; None: the system default
    hotkey: str = "ctrl+alt+space"
    mode: Mode = Mode.PUSH_TO_TALK
    injection: Injection = Injection.AUTO
    paste_keys: PasteKeys = PasteKeys.AUTO
    trailing_space: bool = True
    vad_aggressiveness: int = 2
    pause_ms: int = 800
    final_pass: FinalPass = FinalPass.AUTO
    latency: Latency = Latency.BALANCED  # the streaming chunk and right context
    overlay_position: OverlayPosition = OverlayPosition.BOTTOM
    overlay_opacity: float = 0.85
    overlay_width: float = 0.5  # share of the screen's width
    sounds: bool = True
    start_at_login: bool = False
    # [heard, write] pairs; the spoken line breaks and full stop are there from the start
    replacements: list[list[str]] = field(default_factory=lambda: [["new line", "\\n"], ["new paragraph", "\\n\\n"],
                                                                     ["full stop", "."]])
    api_enabled: bool = False  # the local speech service ("Local API"), loopback only
    api_port: int = DEFAULT_API_PORT
    # WebSocket streams from this computer without the token (eaRS's clients cannot send one).
    api_streams_without_token: bool = False
    keep_audio: KeepAudio = KeepAudio.WEEK  # each history entry's audio
    keep_audio_mb: int = 1000  # at most this much kept audio; the oldest goes first
    # Words and phrases favoured while decoding, written as they should appear, and how strongly
    # (1 a nudge, 10 strong): names, product words, jargon (engine/recognize/vocabulary.py).
    vocabulary: list[str] = field(default_factory=list)
    vocabulary_strength: int = 5
    # Minutes without dictation, files or API work before the model gives the GPU's memory back
    # (0: never). Only a model on an NVIDIA GPU rests; on the CPU there is nothing to give back.
    free_gpu_after_minutes: GpuRest = GpuRest.FIFTEEN
    # Spoken commands at the end of an utterance: [phrase, action] pairs (desktop/spoken.py).
    commands_enabled: bool = True
    commands: list[list[str]] = field(default_factory=lambda: [list(c) for c in DEFAULT_COMMANDS])
    # Who said what in the file window's transcripts: the models that tell speakers apart
    # (hub ids or .nemo files), loaded when a file asks for speakers.
    diarization_model: str = DEFAULT_DIARIZATION_MODEL
    speaker_model: str = DEFAULT_SPEAKER_EMBEDDING_MODEL

    def __post_init__(self) -> None:
        # A choice given as its value (a test, a caller's string) becomes its enum member; an
        # unknown value is refused here, not where it is used.
        for name, choice in _CHOICES.items():
            setattr(self, name, choice(getattr(self, name)))

    @property
    def phrase_boosting(self) -> bool:
        """Whether the model loads ready for phrase lists: for the vocabulary, and for the local
        API's per-request keywords. Off otherwise: the decoder keeps NeMo's plain path (a first
        CI run with it always on saw a 25-minute file's peak memory pass 2 GB, not seen since)."""
        return bool(self.vocabulary) or self.api_enabled


def _choice_fields() -> dict[str, type[enum.Enum]]:
    """The settings whose values come from an enum (choices.py): the field's type says which."""
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], enum.Enum)}


_CHOICES: dict[str, type[enum.Enum]] = {}


_CHOICES.update(_choice_fields())

# Numbers outside these ranges (inclusive) are refused, as the settings dialog's controls refuse
# them: a hand-edited 99 must not reach the speech gate and stop the engine.
_RANGES = {
    "vad_aggressiveness": (0, 3),
    "pause_ms": (300, 5000),
    "overlay_opacity": (0.3, 1.0),
    "overlay_width": (0.25, 0.9),
    "api_port": (1, 65535),
    "keep_audio_mb": (10, 1_000_000),
    "vocabulary_strength": (1, 10),
}


def config_dir() -> Path:
    override = os.environ.get("PARAKEET_DESKTOP_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    override = os.environ.get("PARAKEET_DESKTOP_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "settings.json"


def unwritable(folder: Path | None = None) -> str | None:
    """Why settings cannot be saved in *folder* (the config folder), or None when they can."""
    folder = folder or config_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return (f"Settings cannot be saved in {folder} ({exc.strerror or exc}); changes last until the app "
                "quits.")
    return None


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The saved settings (defaults when there are none) and warnings for the user."""
    path = path or settings_path()
    if not path.exists():
        return Settings(), []
    try:
        document = json.loads(path.read_text("utf-8"))
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        kept = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            path.replace(kept)
            where = f"it was kept as {kept.name}"
        except OSError:
            where = "it could not be moved aside"
        return Settings(), [f"The settings file could not be read ({exc}); defaults are used and {where}."]
    return _from_document(document)


def _from_document(document: dict) -> tuple[Settings, list[str]]:
    warnings = []
    schema = document.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        warnings.append(f"The settings file has schema {schema}; this version reads {SCHEMA_VERSION}. "
                        "Settings it does not know were left at their defaults.")
    defaults = Settings()
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(Settings):
        if spec.name not in document:
            continue
        value = document[spec.name]
        if _valid(spec.name, value, getattr(defaults, spec.name)):
            values[spec.name] = _CHOICES[spec.name](value) if spec.name in _CHOICES else value
        else:
            allowed = (f" (it must be from {_RANGES[spec.name][0]} to {_RANGES[spec.name][1]})"
                       if spec.name in _RANGES else "")
            warnings.append(f"Setting “{spec.name}” had a value this version cannot use ({value!r}){allowed}; "
                            f"it is back to its default, {_plain(getattr(defaults, spec.name))!r}.")
    return Settings(**values), warnings


def _plain(value):
    return value.value if isinstance(value, enum.Enum) else value


def _valid(name: str, value, default) -> bool:
    if name in _CHOICES:
        return any(type(value) is type(member.value) and value == member.value for member in _CHOICES[name])
    if name in _RANGES:
        low, high = _RANGES[name]
        number = (int, float) if isinstance(default, float) else int
        return isinstance(value, number) and not isinstance(value, bool) and low <= value <= high
    if name == "microphone":
        return value is None or isinstance(value, str)
    if name == "vocabulary":
        return isinstance(value, list) and all(isinstance(p, str) for p in value)
    if name == "commands":
        return isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p)
            and p[1] in ACTIONS for p in value)
    if name == "replacements":
        return isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in value)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default)) and not isinstance(value, bool)


def save_settings(settings: Settings, path: Path | None = None) -> None:
    document = {"schema": SCHEMA_VERSION, **dataclasses.asdict(settings)}
    write_atomic(path or settings_path(), json.dumps(document, indent=2, ensure_ascii=False) + "\n")

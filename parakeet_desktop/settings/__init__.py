"""The user's settings: one typed object (config.py) whose closed choices are enums (choices.py,
spoken.py), kept in ``settings.json`` as their values, read before anything else (no numpy, torch
or Qt here)."""

from .choices import Device, FinalPass, GpuRest, Injection, KeepAudio, Latency, Mode, OverlayPosition, PasteKeys, label
from .config import (
    DEFAULT_API_PORT,
    Settings,
    config_dir,
    data_dir,
    load_settings,
    save_settings,
    settings_path,
    unwritable,
)
from .spoken import ACTIONS, DEFAULT_COMMANDS, SpokenAction, clean_commands, words_of

__all__ = [
    "ACTIONS", "DEFAULT_API_PORT", "DEFAULT_COMMANDS", "Device", "FinalPass", "GpuRest", "Injection", "KeepAudio",
    "Latency", "Mode", "OverlayPosition", "PasteKeys", "Settings", "SpokenAction", "clean_commands", "config_dir",
    "data_dir", "label", "load_settings", "save_settings", "settings_path", "unwritable", "words_of",
]

"""The settings' closed choices: one enum each (the engine's own in engine/live/modes.py). The value
is what ``settings.json`` keeps (and what the command line takes), the label what the settings
dialog shows; ``config`` checks a loaded value against its field's enum, so a new choice is a
member and its label here, and nothing else.

Plain enums, importable without numpy, torch or Qt (settings load before anything else).
"""

from __future__ import annotations

import enum

from ..engine.live import FinalPass, Mode
from ..engine.model import Device
from ..engine.recognize import Latency


class Injection(enum.StrEnum):
    """How text reaches the focused window (desktop/inject.py): the setting, and the way a
    desktop's route resolves it to (desktop/routes.py's typing_route, never AUTO)."""

    AUTO = "auto"
    PASTE = "paste"
    TYPE = "type"
    WTYPE = "wtype"
    YDOTOOL = "ydotool"
    PORTAL = "portal"  # Wayland: the paste chord through the RemoteDesktop portal
    CLIPBOARD = "clipboard"  # nothing typed: the text waits on the clipboard (chosen, or nothing may type)


class PasteKeys(enum.StrEnum):
    """The paste chord. Terminals take Ctrl+Shift+V; most other windows Ctrl+V. Where the focused
    window can be told (X11, sway) "auto" picks per window; elsewhere it is Ctrl+V."""

    AUTO = "auto"
    CTRL_V = "ctrl+v"
    CTRL_SHIFT_V = "ctrl+shift+v"


class OverlayPosition(enum.StrEnum):
    BOTTOM = "bottom"
    TOP = "top"


class KeepAudio(enum.StrEnum):
    """How long each history entry's audio is kept."""

    OFF = "off"
    DAY = "1 day"
    WEEK = "7 days"
    MONTH = "30 days"
    FOREVER = "forever"

    @property
    def days(self) -> int | None:
        """Days kept (0: none, None: no limit)."""
        return {KeepAudio.OFF: 0, KeepAudio.DAY: 1, KeepAudio.WEEK: 7, KeepAudio.MONTH: 30}.get(self)


class GpuRest(enum.IntEnum):
    """Idle minutes before the model gives the GPU's memory back (0: never)."""

    NEVER = 0
    FIVE = 5
    FIFTEEN = 15
    HOUR = 60


# (member, label) pairs, not a dict literal: members of different enums with one value (Device.AUTO,
# Injection.AUTO, FinalPass.AUTO are all "auto") are equal as keys, and the last would win.
_LABELLED: tuple[tuple[enum.Enum, str], ...] = (
    (Device.AUTO, "Automatic (the GPU when usable)"),
    (Device.CUDA, "GPU (CUDA)"),
    (Device.CPU, "CPU"),
    (Device.CPU_INT8, "CPU, int8 encoder (faster; may cost accuracy)"),
    (Injection.AUTO, "Automatic"),
    (Injection.PASTE, "Paste through the clipboard"),
    (Injection.TYPE, "Type the keys"),
    (Injection.WTYPE, "wtype (Wayland)"),
    (Injection.YDOTOOL, "ydotool (Wayland)"),
    (Injection.PORTAL, "Paste through the desktop's portal (Wayland: GNOME, KDE)"),
    (Injection.CLIPBOARD, "Copy to the clipboard only (paste it yourself)"),
    (PasteKeys.AUTO, "Automatic (Ctrl+Shift+V in terminals where it can be told)"),
    (PasteKeys.CTRL_V, "Ctrl+V"),
    (PasteKeys.CTRL_SHIFT_V, "Ctrl+Shift+V (terminals)"),
    (Latency.FAST, "Fast captions (0.5 s chunks)"),
    (Latency.BALANCED, "Balanced"),
    (Latency.ACCURATE, "Accurate captions (1.6 s chunks)"),
    (FinalPass.AUTO, "When it is cheap (GPU, short utterances)"),
    (FinalPass.ALWAYS, "Always"),
    (FinalPass.NEVER, "Never (streamed text only)"),
    (OverlayPosition.BOTTOM, "Bottom of the screen"),
    (OverlayPosition.TOP, "Top of the screen"),
    (KeepAudio.OFF, "Off: keep text only"),
    (KeepAudio.DAY, "1 day"),
    (KeepAudio.WEEK, "7 days"),
    (KeepAudio.MONTH, "30 days"),
    (KeepAudio.FOREVER, "Forever"),
    (GpuRest.NEVER, "Never"),
    (GpuRest.FIVE, "After 5 minutes idle"),
    (GpuRest.FIFTEEN, "After 15 minutes idle"),
    (GpuRest.HOUR, "After an hour idle"),
    (Mode.PUSH_TO_TALK, "Push-to-talk: hold the hotkey (a tap goes hands-free)"),
    (Mode.HANDS_FREE, "Hands-free: the hotkey starts and stops; what you say is typed at each pause"),
)
LABELS: dict[tuple[type, object], str] = {(type(member), member.value): text for member, text in _LABELLED}


def label(choice: enum.Enum) -> str:
    return LABELS.get((type(choice), choice.value), str(choice.value))

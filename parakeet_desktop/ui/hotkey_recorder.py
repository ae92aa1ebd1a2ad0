"""The settings' hotkey field: a button that records the next key combination pressed (Qt's key
names made the hotkey's words), with a warning for a combination that desktops or apps already
use and a refusal for one no app can be given."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QPushButton

from ..desktop.hotkey import MODIFIERS, HotkeyError, parse_hotkey

# Shortcuts that desktops and most apps already use: recording one of these warns.
TAKEN = {"ctrl+c", "ctrl+v", "ctrl+x", "ctrl+z", "ctrl+s", "ctrl+a", "ctrl+w", "ctrl+q", "ctrl+t",
         "alt+tab", "alt+f4", "ctrl+alt+delete", "ctrl+alt+t", "super+l", "super+d", "super+e",
         "ctrl+shift+escape", "alt+space", "super+space", "ctrl+space", "print_screen"}

_QT_KEYS = {Qt.Key.Key_Space: "space", Qt.Key.Key_Return: "enter", Qt.Key.Key_Enter: "enter",
            Qt.Key.Key_Tab: "tab", Qt.Key.Key_Escape: "escape", Qt.Key.Key_Backspace: "backspace",
            Qt.Key.Key_Insert: "insert", Qt.Key.Key_Delete: "delete", Qt.Key.Key_Home: "home",
            Qt.Key.Key_End: "end", Qt.Key.Key_PageUp: "page_up", Qt.Key.Key_PageDown: "page_down",
            Qt.Key.Key_Pause: "pause", Qt.Key.Key_Print: "print_screen", Qt.Key.Key_Menu: "menu"}
_MODIFIER_KEYS = {Qt.Key.Key_Control: "ctrl", Qt.Key.Key_Alt: "alt", Qt.Key.Key_Shift: "shift",
                  Qt.Key.Key_Meta: "super", Qt.Key.Key_Super_L: "super", Qt.Key.Key_Super_R: "super"}


def _modifiers(flags) -> list[str]:
    names = []
    for flag, name in ((Qt.KeyboardModifier.ControlModifier, "ctrl"), (Qt.KeyboardModifier.AltModifier, "alt"),
                       (Qt.KeyboardModifier.ShiftModifier, "shift"), (Qt.KeyboardModifier.MetaModifier, "super")):
        if flags & flag:
            names.append(name)
    return names


class HotkeyRecorder(QPushButton):
    """Click, then press the combination: a key with modifiers, a single function key, or two
    modifiers alone (recorded when they are released). Escape alone cancels."""

    recorded = Signal(str)

    def __init__(self, hotkey: str) -> None:
        super().__init__(hotkey)
        self.hotkey = hotkey
        self.setCheckable(True)
        self.toggled.connect(self._toggled)
        self._held: set[str] = set()  # every modifier pressed since recording began

    def _toggled(self, on: bool) -> None:
        self._held = set()
        self.setText("Press the keys…" if on else self.hotkey)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self.isChecked():
            return super().keyPressEvent(event)
        key = Qt.Key(event.key())
        modifiers = _modifiers(event.modifiers())
        if key in _MODIFIER_KEYS:
            self._held |= {_MODIFIER_KEYS[key], *modifiers}
            return
        if key == Qt.Key.Key_Escape and not modifiers:  # Escape alone cancels: the hotkey stays
            self.setChecked(False)
            return
        # Named from the key code, never from the event's text: with Ctrl held, the text of C is
        # a control character, and Ctrl+C must record as ctrl+c.
        if Qt.Key.Key_F1 <= key <= Qt.Key.Key_F24:
            name = f"f{key - Qt.Key.Key_F1 + 1}"
        elif key in _QT_KEYS:
            name = _QT_KEYS[key]
        elif 0x21 <= key <= 0x7E:  # letters, digits and punctuation: Qt's codes are their ASCII
            name = chr(key).lower()
        elif event.text().strip() and event.text().isprintable():  # a key beyond ASCII (ß, é)
            name = event.text().lower()
        else:
            name = ""
        if name:
            self._finish("+".join(modifiers + [name]))

    def keyReleaseEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.isChecked() and Qt.Key(event.key()) in _MODIFIER_KEYS and len(self._held) >= 2:
            self._finish("+".join(m for m in MODIFIERS if m in self._held))
        else:
            super().keyReleaseEvent(event)

    def _finish(self, combination: str) -> None:
        self.hotkey = combination
        self.setChecked(False)
        self.setText(combination)
        self.recorded.emit(combination)


def hotkey_warning(combination: str) -> tuple[str, bool]:
    """Why *combination* is a poor or impossible hotkey, and whether it is impossible
    (('', False) when it is fine)."""
    try:
        hotkey = parse_hotkey(combination)
    except HotkeyError as exc:
        return str(exc), True
    if str(hotkey) in TAKEN:
        return f"{hotkey} is a common shortcut of the desktop or of apps; pressing it would also do that.", False
    if not hotkey.modifiers and hotkey.key and len(hotkey.key) == 1:
        return f"“{hotkey.key}” alone would start dictation whenever you type it.", False
    return "", False

"""The app's menu entry on Linux: a .desktop file and its icon in the user's data folder.

The desktop shows the entry in its app menu, and the portals need it: since xdg-desktop-portal
1.21 an app outside a sandbox registers its app id, and the portal finds the app's name and icon
(for its approval dialogs and its list of shortcuts) in ``<app id>.desktop``.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..storage import write_atomic
from .autostart import command

# The app id the desktop and its portals know the app by (reverse-DNS, as the portal's registry
# requires); the .desktop file is named after it, and Qt gives it as the Wayland app id.
APP_ID = "io.github.parakeet_desktop.ParakeetDesktop"

ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
<circle cx="32" cy="32" r="31" fill="#009688"/>
<rect x="25" y="12" width="14" height="26" rx="7" fill="#fff"/>
<path d="M18 30a14 14 0 0 0 28 0" fill="none" stroke="#fff" stroke-width="4" stroke-linecap="round"/>
<rect x="30" y="44" width="4" height="8" fill="#fff"/><rect x="23" y="50" width="18" height="4" rx="2" fill="#fff"/>
</svg>
"""


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def entry_path() -> Path:
    return data_home() / "applications" / f"{APP_ID}.desktop"


def icon_path() -> Path:
    return data_home() / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"


def entry_text(exec_command: list[str] | None = None) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Parakeet Desktop",
        "GenericName=Dictation",
        "Comment=Dictate into any window with NVIDIA Parakeet, on this computer",
        f"Exec={shlex.join(exec_command or command())}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Utility;Accessibility;AudioVideo;",
        "Keywords=dictation;speech;voice;transcribe;",
        "StartupNotify=false",
        "",
    ])


def is_installed() -> bool:
    return entry_path().exists()


def install() -> Path:
    """Writes (or updates) the entry and its icon; returns the entry's path. Raises OSError."""
    write_atomic(icon_path(), ICON)
    path = entry_path()
    write_atomic(path, entry_text())
    return path


def remove() -> None:
    entry_path().unlink(missing_ok=True)
    icon_path().unlink(missing_ok=True)

"""Which way the hotkey is heard and the text is typed on this desktop, and why.

Pure choices from what was found (session type, desktop, portal versions, tools), so that the
app, ``doctor`` and the settings say the same thing, and tests can try every desktop.
"""

from __future__ import annotations

import enum
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import Injection
from . import entry
from .hotkey import Hotkey, HotkeyError, HotkeyListener

if TYPE_CHECKING:  # jeepney (D-Bus) only where a portal is used: Linux
    from .shortcuts import PortalShortcut

# Compositors built on wlroots (or otherwise offering the virtual-keyboard protocol wtype needs).
WLROOTS = ("sway", "river", "hyprland", "wayfire", "labwc", "niri", "dwl", "qtile", "cosmic")


class Session(enum.StrEnum):
    """The kind of graphical session the app runs in."""

    X11 = "x11"
    WAYLAND = "wayland"
    WINDOWS = "windows"
    MACOS = "macos"
    NONE = "none"  # no display at all (a console, a service): only the command line works


def session_type() -> Session:
    if sys.platform == "win32":
        return Session.WINDOWS
    if sys.platform == "darwin":
        return Session.MACOS
    if os.environ.get("WAYLAND_DISPLAY") or os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return Session.WAYLAND
    return Session.X11



class KeyRoute(enum.StrEnum):
    PYNPUT = "pynput"  # X11 and Windows: the app hears the key itself
    PORTAL = "portal"  # Wayland: the GlobalShortcuts portal
    COMMAND = "command"  # the desktop's own shortcut runs parakeet-desktop start/stop/toggle


class ClipboardRoute(enum.StrEnum):
    QT = "qt"  # the app's own (X11, Windows; on GNOME through XWayland)
    WL_COPY = "wl-copy"  # wl-copy/wl-paste: the compositor's data-control protocol


@dataclass(frozen=True)
class Route:
    way: KeyRoute | Injection | ClipboardRoute  # Injection: the way text is typed, never AUTO
    why: str
    todo: str = ""  # what the user must do, one sentence; empty when nothing


@dataclass(frozen=True)
class Desktop:
    """What was found about the session."""

    session: Session  # a Session's value is taken too
    name: str  # XDG_CURRENT_DESKTOP, lower case ("" when unknown)
    shortcuts_version: int | None = None  # GlobalShortcuts portal
    remote_version: int | None = None  # RemoteDesktop portal
    portal_running: bool = False
    xwayland: bool = False
    tools: frozenset[str] = frozenset()  # wtype, ydotool (with its daemon), wl-copy found
    entry_installed: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "session", Session(self.session))

    @property
    def wlroots(self) -> bool:
        return any(name in self.name for name in WLROOTS)


def sway_bindings(hotkey: str) -> list[str]:
    """The lines of a sway (or i3-style) config that give push-to-talk on *hotkey*."""
    keys = "+".join({"super": "Mod4", "alt": "Mod1", "ctrl": "Ctrl", "shift": "Shift"}.get(p, p)
                    for p in hotkey.split("+"))
    return [f"bindsym --no-repeat {keys} exec parakeet-desktop start",
            f"bindsym --release {keys} exec parakeet-desktop stop"]


def key_route(desktop: Desktop, hotkey: str) -> Route:
    if desktop.session is Session.NONE:
        return Route(KeyRoute.COMMAND, "there is no graphical session", "Start the app from a desktop session.")
    if desktop.session is not Session.WAYLAND:
        return Route(KeyRoute.PYNPUT, "the app hears the hotkey itself")
    if desktop.shortcuts_version is not None:
        todo = "" if desktop.entry_installed else (
            "Run “parakeet-desktop desktop-entry” once so the desktop knows the app by name.")
        return Route(KeyRoute.PORTAL, f"the desktop's GlobalShortcuts portal (version "
                                      f"{desktop.shortcuts_version}) gives press and release", todo)
    if desktop.wlroots:
        return Route(KeyRoute.COMMAND, "this compositor has no GlobalShortcuts portal",
                     "Add to your sway config: " + "; ".join(sway_bindings(hotkey)) + ".")
    return Route(KeyRoute.COMMAND, "this desktop has no GlobalShortcuts portal",
                 "Bind “parakeet-desktop toggle” to a key in the desktop's keyboard settings.")


def clipboard_route(desktop: Desktop) -> Route:
    """Where the pasted text is put. On Wayland an app without the focus cannot set the clipboard
    itself. GNOME's compositor takes over an X11 app's clipboard whatever has the focus, and has
    no data-control protocol (wl-copy would steal the focus for a moment there): the app's own,
    through XWayland. Elsewhere wl-copy, through data-control (sway, KDE, Hyprland)."""
    if desktop.session is not Session.WAYLAND:
        return Route(ClipboardRoute.QT, "the app's own clipboard")
    if "gnome" in desktop.name and desktop.xwayland:
        return Route(ClipboardRoute.QT, "the app's clipboard through XWayland, which GNOME hands to Wayland windows")
    if "wl-copy" in desktop.tools:
        return Route(ClipboardRoute.WL_COPY, "wl-copy sets the clipboard without the focus")
    return Route(ClipboardRoute.QT, "the app's own clipboard (wl-copy is not installed)",
                 "Install wl-clipboard: without it pasted text may not reach Wayland windows.")


def typing_route(desktop: Desktop, chosen: Injection | str = Injection.AUTO) -> Route:
    """The way text is typed for the setting *chosen* (an Injection or its value)."""
    if (way := Injection(chosen)) is not Injection.AUTO:
        missing = way in (Injection.WTYPE, Injection.YDOTOOL) and way.value not in desktop.tools
        return Route(way, "chosen in the settings",
                     f"Install {way.value} (and start its daemon) or choose another way." if missing else "")
    if desktop.session is Session.NONE:
        return Route(Injection.CLIPBOARD, "there is no graphical session")
    if desktop.session is not Session.WAYLAND:
        return Route(Injection.PASTE, "the clipboard and a synthetic Ctrl+V")
    # On Wayland synthetic X11 keys (XWayland) reach only X11 windows: type through Wayland.
    if desktop.remote_version is not None and not desktop.wlroots:
        # Version 1 (KDE Plasma 5.27) has no restore token: where it shows a dialog, it does so at
        # every start.
        once = "you approve it once" if desktop.remote_version >= 2 else "the desktop may ask at each start"
        return Route(Injection.PORTAL, f"the desktop's RemoteDesktop portal (version {desktop.remote_version}) "
                                         f"sends the paste chord; {once}")
    if "wtype" in desktop.tools and (desktop.wlroots or desktop.remote_version is None):
        return Route(Injection.WTYPE, "wtype types through the compositor's virtual keyboard")
    if "ydotool" in desktop.tools:
        return Route(Injection.YDOTOOL, "ydotool types through the kernel's uinput device")
    if desktop.wlroots:
        todo = "Install wtype (sudo apt-get install wtype) so the text is typed."
    else:
        todo = "Install ydotool and start ydotoold, or paste the text yourself with Ctrl+V."
    return Route(Injection.CLIPBOARD, "nothing here may type into other windows", todo)


def probe(bus: str = "SESSION", which: Callable[[str], str | None] = shutil.which) -> Desktop:
    """Looks at this session (the portal over D-Bus for at most a few seconds)."""
    session = session_type()
    name = os.environ.get("XDG_CURRENT_DESKTOP", "").lower()
    tools = frozenset(t for t in ("wtype", "wl-copy") if which(t))
    if which("ydotool") and ydotool_socket() is not None:
        tools |= {"ydotool"}
    found = Desktop(session, name, xwayland=bool(os.environ.get("DISPLAY")), tools=tools,
                    entry_installed=entry.is_installed())
    if session is not Session.WAYLAND:
        return found
    from .portal import GLOBAL_SHORTCUTS, REMOTE_DESKTOP, PortalConnection, PortalError

    try:
        connection = PortalConnection(bus, reply_seconds=3)
    except PortalError:
        return found
    try:
        running = connection.portal_running()
        shortcuts = connection.version(GLOBAL_SHORTCUTS) if running else None
        remote = connection.version(REMOTE_DESKTOP) if running else None
    finally:
        connection.close()
    return Desktop(session, name, shortcuts, remote, running, found.xwayland, tools, found.entry_installed)


def ydotool_socket() -> Path | None:
    """Where ydotoold listens, if it runs."""
    candidates = [os.environ.get("YDOTOOL_SOCKET", ""), f"/run/user/{os.getuid()}/.ydotool_socket",
                  "/tmp/.ydotool_socket"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def report(desktop: Desktop, hotkey: str, typing: Injection | str = Injection.AUTO) -> list[tuple[str, str]]:
    """(label, text) lines for doctor and the settings: the session, the portals, both routes and
    what to do."""
    def version(v: int | None) -> str:
        return f"version {v}" if v is not None else "not found"

    lines = [("session", desktop.session + (f" ({desktop.name})" if desktop.name else ""))]
    if desktop.session is Session.WAYLAND:
        lines += [("portal", "running" if desktop.portal_running else "not found on the session bus"),
                  ("GlobalShortcuts", version(desktop.shortcuts_version)),
                  ("RemoteDesktop", version(desktop.remote_version)),
                  ("XWayland", "yes" if desktop.xwayland else "no"),
                  ("captions overlay", "shown through XWayland, where it never takes the focus" if desktop.xwayland
                   else "not shown: without XWayland a Wayland window would take the focus (install Xwayland)"),
                  ("tools", ", ".join(sorted(desktop.tools)) or "none of wtype, ydotool, wl-copy")]
    for label, route in (("hotkey", key_route(desktop, hotkey)), ("typing", typing_route(desktop, typing)),
                         ("clipboard", clipboard_route(desktop))):
        lines.append((label, f"{route.way.value}: {route.why}"))
        if route.todo:
            lines.append(("to do", route.todo))
    return lines


def open_hotkey(route: Route, hotkey: Hotkey, on_press: Callable[[], None], on_release: Callable[[], None], *,
                on_bound: Callable[[str], None], on_lost: Callable[[str], None]) -> HotkeyListener | PortalShortcut:
    """Starts hearing the dictation hotkey the way *route* says. Raises HotkeyError (saying what
    the user can do) where this desktop lets no app hear it."""
    if route.way is KeyRoute.PORTAL:
        from .shortcuts import PortalShortcut

        shortcut = PortalShortcut(hotkey, on_press, on_release, on_bound=on_bound, on_lost=on_lost)
        shortcut.start()
        return shortcut
    if route.way is KeyRoute.COMMAND:
        raise HotkeyError(f"No app can hear a global hotkey here: {route.why}. {route.todo}")
    listener = HotkeyListener(hotkey, on_press, on_release)
    listener.start()
    return listener

"""Which way the hotkey is heard and text is typed on each desktop, and what the user is told."""

from __future__ import annotations

from parakeet_desktop.desktop.hotkey import parse_hotkey
from parakeet_desktop.desktop.routes import (
    ClipboardRoute,
    Desktop,
    KeyRoute,
    clipboard_route,
    key_route,
    report,
    sway_bindings,
    typing_route,
)
from parakeet_desktop.desktop.shortcuts import key_words, same_trigger
from parakeet_desktop.settings import Injection

GNOME = Desktop("wayland", "gnome", shortcuts_version=1, remote_version=2, portal_running=True, xwayland=True)
KDE = Desktop("wayland", "kde", shortcuts_version=1, remote_version=2, portal_running=True, xwayland=True,
              tools=frozenset({"wtype"}))
HYPRLAND = Desktop("wayland", "hyprland", shortcuts_version=1, portal_running=True, xwayland=True,
                   tools=frozenset({"wtype"}))
SWAY = Desktop("wayland", "sway", portal_running=True, xwayland=True, tools=frozenset({"wtype", "wl-copy"}))
OLD_GNOME = Desktop("wayland", "ubuntu:gnome", remote_version=1, portal_running=True, xwayland=True)


def test_the_hotkey_route_per_desktop():
    assert key_route(Desktop("x11", ""), "f9").way is KeyRoute.PYNPUT
    assert key_route(Desktop("windows", ""), "f9").way is KeyRoute.PYNPUT
    for desktop in (GNOME, KDE, HYPRLAND):
        assert key_route(desktop, "f9").way is KeyRoute.PORTAL
    sway = key_route(SWAY, "ctrl+alt+space")
    assert sway.way is KeyRoute.COMMAND
    assert "bindsym --no-repeat Ctrl+Mod1+space exec parakeet-desktop start" in sway.todo
    assert "bindsym --release Ctrl+Mod1+space exec parakeet-desktop stop" in sway.todo
    old = key_route(OLD_GNOME, "f9")
    assert old.way is KeyRoute.COMMAND and "parakeet-desktop toggle" in old.todo


def test_the_typing_route_per_desktop():
    assert typing_route(Desktop("x11", "")).way is Injection.PASTE
    assert typing_route(GNOME).way is Injection.PORTAL
    assert typing_route(KDE).way is Injection.PORTAL  # wtype cannot type on KWin: the portal first
    assert typing_route(HYPRLAND).way is Injection.WTYPE
    assert typing_route(SWAY).way is Injection.WTYPE
    # Version 1 (KDE Plasma 5.27) types through the portal too; it cannot keep the approval.
    assert typing_route(OLD_GNOME).way is Injection.PORTAL
    assert "at each start" in typing_route(OLD_GNOME).why and "once" in typing_route(GNOME).why
    # Without the portal: ydotool, else the clipboard.
    assert typing_route(Desktop("wayland", "gnome", tools=frozenset({"ydotool"}))).way is Injection.YDOTOOL
    no_portal = typing_route(Desktop("wayland", "gnome"))
    assert no_portal.way is Injection.CLIPBOARD and "ydotool" in no_portal.todo
    bare_sway = typing_route(Desktop("wayland", "sway"))
    assert bare_sway.way is Injection.CLIPBOARD and "wtype" in bare_sway.todo
    chosen = typing_route(SWAY, "ydotool")
    assert chosen.way is Injection.YDOTOOL and "Install ydotool" in chosen.todo


def test_the_clipboard_route_per_desktop():
    assert clipboard_route(Desktop("x11", "")).way is ClipboardRoute.QT
    assert clipboard_route(GNOME).way is ClipboardRoute.QT  # GNOME takes XWayland's clipboard over
    assert clipboard_route(SWAY).way is ClipboardRoute.WL_COPY
    assert clipboard_route(Desktop("wayland", "kde", xwayland=True, tools=frozenset({"wl-copy"}))).way \
        is ClipboardRoute.WL_COPY
    missing = clipboard_route(Desktop("wayland", "kde", xwayland=True))
    assert missing.way is ClipboardRoute.QT and "wl-clipboard" in missing.todo


def test_sway_lines_for_every_modifier():
    assert sway_bindings("super+shift+d") == ["bindsym --no-repeat Mod4+Shift+d exec parakeet-desktop start",
                                             "bindsym --release Mod4+Shift+d exec parakeet-desktop stop"]


def test_the_report_says_what_was_found_and_what_to_do():
    lines = dict(report(OLD_GNOME, "f9"))
    assert lines["session"] == "wayland (ubuntu:gnome)"
    assert lines["GlobalShortcuts"] == "not found" and lines["RemoteDesktop"] == "version 1"
    assert lines["hotkey"].startswith("command") and lines["typing"].startswith("portal")
    bare = Desktop("wayland", "ubuntu:gnome", portal_running=True, xwayland=True)
    todo = [text for label, text in report(bare, "f9") if label == "to do"]
    assert len(todo) == 2 and all(t.endswith(".") for t in todo)  # one sentence each
    without_entry = report(Desktop("wayland", "kde", shortcuts_version=1, entry_installed=False), "f9")
    assert any("parakeet-desktop desktop-entry" in text for label, text in without_entry if label == "to do")
    x11 = dict(report(Desktop("x11", ""), "f9"))
    assert "GlobalShortcuts" not in x11 and x11["typing"].startswith("paste")


def test_the_desktops_words_for_a_key():
    hotkey = parse_hotkey("ctrl+alt+space")
    assert same_trigger(hotkey, "Ctrl+Alt+Space") and same_trigger(hotkey, "<Control><Alt>space")
    assert not same_trigger(hotkey, "Meta+D")
    # GNOME describes keys in its accelerator format: shown and compared as people write them.
    assert key_words("Press <Control><Alt>space") == "Ctrl+Alt+Space"
    assert same_trigger(hotkey, key_words("Press <Control><Alt>space"))
    assert key_words("<Super>F9") == "Super+F9" and key_words("Ctrl+Alt+Space") == "Ctrl+Alt+Space"
    assert key_words("Press <Shift><Control>Return") == "Shift+Ctrl+Enter"
    assert same_trigger(parse_hotkey("super+f9"), "Meta+F9")

"""``doctor`` and ``desktop-entry`` in Wayland sessions: what was found on the session bus, the routes
chosen, and the exact sway lines for push-to-talk where no portal gives a hotkey."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from support.portal import PortalStandIn, private_session_bus

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon")


@pytest.fixture(scope="module")
def bus():
    with private_session_bus() as address:
        yield address


def _doctor(bus: str, desktop: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WAYLAND_DISPLAY": "wayland-9", "XDG_SESSION_TYPE": "wayland",
           "XDG_CURRENT_DESKTOP": desktop, "DBUS_SESSION_BUS_ADDRESS": bus, "XDG_DATA_HOME": str(tmp_path / "share"),
           "PARAKEET_DESKTOP_CONFIG_DIR": str(tmp_path / "config"), "PARAKEET_DESKTOP_DATA_DIR": str(tmp_path / "data"),
           "PATH": os.environ["PATH"]}
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "parakeet_desktop", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_sway_without_a_portal_gets_the_lines_for_its_config(bus, tmp_path):
    done = _doctor(bus, "sway", tmp_path, "doctor")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "session: wayland (sway)" in out and "portal: not found on the session bus" in out
    assert "hotkey: command: this compositor has no GlobalShortcuts portal" in out
    assert "bindsym --no-repeat Ctrl+Mod1+space exec parakeet-desktop start" in out
    assert "bindsym --release Ctrl+Mod1+space exec parakeet-desktop stop" in out
    assert "captions overlay: not shown" in out  # no XWayland in this session


def test_gnome_with_its_portals(bus, tmp_path):
    portal = PortalStandIn(bus, shortcuts_version=1, remote_version=2)
    try:
        done = _doctor(bus, "GNOME", tmp_path, "doctor", "--json")
    finally:
        portal.stop()
    assert done.returncode == 0, done.stderr
    desktop = json.loads(done.stdout)["desktop"]
    assert desktop["GlobalShortcuts"] == "version 1" and desktop["RemoteDesktop"] == "version 2"
    assert desktop["hotkey"].startswith("portal:") and desktop["typing"].startswith("portal:")
    assert "desktop-entry" in desktop["menu entry"]  # not installed yet: the command that does it


def test_the_menu_entry_is_written_and_removed(bus, tmp_path):
    done = _doctor(bus, "GNOME", tmp_path, "desktop-entry")
    assert done.returncode == 0, done.stderr
    entry = tmp_path / "share" / "applications" / "io.github.parakeet_desktop.ParakeetDesktop.desktop"
    text = entry.read_text("utf-8")
    assert "Exec=" in text and "Icon=io.github.parakeet_desktop.ParakeetDesktop" in text
    icon = tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / f"{entry.stem}.svg"
    assert icon.read_text("utf-8").startswith("<svg")
    assert _doctor(bus, "GNOME", tmp_path, "desktop-entry", "--remove").returncode == 0
    assert not entry.exists() and not icon.exists()
    shutil.rmtree(tmp_path / "share")
    (tmp_path / "share").write_text("a file where the data folder should be")  # cannot be written into
    refused = _doctor(bus, "GNOME", tmp_path, "desktop-entry")
    assert refused.returncode == 1 and "could not be written" in refused.stderr
    assert "Traceback" not in refused.stderr

"""GNOME 48 for tests, as Debian 13 (trixie) ships it: GNOME Shell headless on a virtual monitor
(Mutter, XWayland on demand), the real portal frontend (xdg-desktop-portal 1.20) with GNOME's
backend (xdg-desktop-portal-gnome 48) and Settings' shortcuts dialog, a session bus of their own,
and the PulseAudio virtual microphone of desktop_session.

The host is Debian 12, older than GNOME 48: the desktop runs from a Debian 13 tree made once with
debootstrap and apt (about 2.5 min and 1.6 GB here; kept under ~/.cache, named after what it
holds, so a second run reuses it) and entered with chroot, sharing the host's /proc (the portal
reads its callers' processes), /tmp (the sockets) and, read-only, the checkout and the Python the
app runs on (the portal checks that the app's menu entry names a program that exists).

Who runs what: GNOME Shell and GNOME's backend as an ordinary user of the tree, as in a person's
session; the portal frontend as root, the tests' and the app's user (see kde_session.py). GNOME
Shell runs with ``--unsafe-mode``: the tests' person presses keys through its own input path (a
Clutter virtual keyboard, through its ``Eval``) and takes screenshots through its Screenshot
interface; dialogs are answered through the accessibility tree (AT-SPI), as a screen reader's user
would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.accessibility import Accessibility
from tools.debian_tree import command_in, debian_tree, mounted
from tools.desktop_session import ROOT, Desktop, session_bus_config
from tools.waiting import wait_for

PACKAGES = ("gnome-shell", "mutter", "xdg-desktop-portal", "xdg-desktop-portal-gnome", "gnome-control-center",
            "dbus-daemon", "xwayland", "gsettings-desktop-schemas", "libglib2.0-bin", "at-spi2-core",
            "fonts-cantarell", "adwaita-icon-theme")
USER = "parakeet-gnome"



def tree() -> Path:
    """The Debian 13 tree with GNOME (made now unless one made from the same list is there)."""
    return debian_tree("gnome", PACKAGES, USER)


class GnomeSession(Desktop):
    """GNOME Shell + the portals + PulseAudio; ``env`` is what a client of it gets."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        for name in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
            self.env.pop(name, None)
        self.root = tree()
        self.runtime = Path(tempfile.mkdtemp(prefix="gnome-"))  # under /tmp: seen inside the tree too
        self.bus = f"unix:path={self.runtime / 'bus'}"
        # The app's menu entry goes where the portal (which looks it up) reads entries.
        self.data_home = self.runtime / "share"
        self.env.update({"XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "GNOME",
                         "DBUS_SESSION_BUS_ADDRESS": self.bus, "XDG_DATA_HOME": str(self.data_home)})
        shared = tuple(p for p in (ROOT, Path(sys.base_prefix)) if not str(p).startswith("/tmp/"))
        self._mounts = mounted(self.root, ("proc", "sys", "dev", "tmp"), read_only=shared)

    def _in_tree(self, command: list[str], env: dict[str, str], user: bool = True) -> list[str]:
        return command_in(command, env, tree=self.root, user=USER if user else None)

    def start(self) -> None:
        self.start_audio()
        # A new person each session: what an earlier session approved (in dconf) is forgotten.
        home = self.root / "home" / USER
        for kept in (".config", ".local", ".cache"):
            shutil.rmtree(home / kept, ignore_errors=True)
        self._mounts.__enter__()
        uid = int(subprocess.run(["chroot", str(self.root), "id", "-u", USER], capture_output=True, text=True,
                                 check=True).stdout)
        os.chown(self.runtime, uid, -1)
        self.runtime.chmod(0o711)
        self.data_home.mkdir(mode=0o755)
        config = session_bus_config(self.runtime, self.root)
        (self.root / "run" / "dbus").mkdir(parents=True, exist_ok=True)
        self.spawn("chroot", str(self.root), "dbus-daemon", "--system", "--nofork", "--nopidfile", log="system-bus")
        user_env = {"PATH": "/usr/bin:/bin", "HOME": f"/home/{USER}", "XDG_RUNTIME_DIR": str(self.runtime),
                    "DBUS_SESSION_BUS_ADDRESS": self.bus, "XDG_CURRENT_DESKTOP": "GNOME",
                    "XDG_SESSION_TYPE": "wayland", "LANG": "C.UTF-8"}
        self.spawn(*self._in_tree(["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"], user_env),
                   log="dbus")
        wait_for(lambda: (self.runtime / "bus").exists(), 20, "the session bus")
        # What GNOME's session manager would give the services the bus starts.
        done = self.run("busctl", "--user", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus", "UpdateActivationEnvironment", "a{ss}", "4",
                        "WAYLAND_DISPLAY", "wayland-0", "XDG_RUNTIME_DIR", str(self.runtime),
                        "XDG_SESSION_TYPE", "wayland", "XDG_CURRENT_DESKTOP", "GNOME")
        assert done.returncode == 0, done.stderr
        self.spawn(*self._in_tree(["gnome-shell", "--headless", "--wayland", "--virtual-monitor", "1280x720",
                                   "--unsafe-mode"], user_env), log="gnome-shell")
        wait_for(lambda: (self.runtime / "wayland-0").exists() and self.on_bus("org.gnome.Shell"), 120, "GNOME Shell")
        self.env["WAYLAND_DISPLAY"] = str(self.runtime / "wayland-0")
        # The frontend as root (see the module's words), once the shell is there.
        frontend_env = {"PATH": "/usr/bin:/bin", "DBUS_SESSION_BUS_ADDRESS": self.bus, "XDG_CURRENT_DESKTOP": "GNOME",
                        "XDG_RUNTIME_DIR": str(self.folder / "runtime"), "XDG_DATA_HOME": str(self.data_home),
                        "HOME": "/root"}
        self.spawn(*self._in_tree(["/usr/libexec/xdg-desktop-portal", "--verbose"], frontend_env, user=False),
                   log="portal")
        wait_for(lambda: self.on_bus("org.freedesktop.portal.Desktop"), 30, "the portal frontend")
        wait_for(lambda: self._started(), 120, "GNOME Shell's start")
        self.eval("Main.overview.hide()")  # a session starts in the overview
        display = self.eval("GLib.getenv('DISPLAY')")
        if display and display != "null":
            self.env["DISPLAY"] = display.strip('"')
            auth = next(iter(sorted(self.runtime.glob(".mutter-Xwaylandauth.*"))), None)
            if auth is not None:
                self.env["XAUTHORITY"] = str(auth)

    def _started(self) -> bool:
        try:
            return self.eval("Main.layoutManager._startingUp") == "false"
        except AssertionError:  # its objects are not there yet
            return False

    def eval(self, script: str) -> str:
        """GNOME Shell's answer to *script* (JavaScript, run in the shell) as JSON text; raises
        AssertionError when the script failed."""
        done = self.run("busctl", "--user", "--json=short", "call", "org.gnome.Shell", "/org/gnome/Shell",
                        "org.gnome.Shell", "Eval", "s", script)
        assert done.returncode == 0, done.stderr
        import json

        ok, result = json.loads(done.stdout)["data"]
        assert ok, result
        return result

    def keys(self, *names: str, state: str) -> None:
        """Presses (*state* "PRESSED") or releases ("RELEASED") the keys *names* (Clutter key
        names: "Control_L", "space", "Return") through GNOME's own input path."""
        keyvals = ", ".join(f"C.KEY_{name}" for name in names)
        self.eval("const C = imports.gi.Clutter; "
                  "global._testKeyboard = global._testKeyboard || global.stage.context.get_backend()"
                  ".get_default_seat().create_virtual_device(C.InputDeviceType.KEYBOARD_DEVICE); "
                  "const t = GLib.get_monotonic_time(); "
                  f"[{keyvals}].forEach((k, i) => global._testKeyboard.notify_keyval(t + i, k, C.KeyState.{state}));")

    def activate(self, title: str) -> None:
        found = self.eval("const w = global.display.list_all_windows().find(w => w.get_title() === "
                          f"{title!r}); if (w) w.activate(global.get_current_time()); !!w")
        assert found == "true", f"no window titled {title}"

    def screenshot(self, path: Path) -> Path:
        shot = self.runtime / "shot.png"
        done = self.run("busctl", "--user", "call", "org.gnome.Shell", "/org/gnome/Shell/Screenshot",
                        "org.gnome.Shell.Screenshot", "Screenshot", "bbs", "false", "false", str(shot))
        assert done.returncode == 0, done.stderr
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(shot, path)
        return path

    def accessibility(self) -> Accessibility:
        # The accessibility bus's socket is in the user's home inside the tree.
        return Accessibility.of(self.bus, self.root)

    def stop(self) -> None:
        super().stop()
        self._mounts.__exit__()
        shutil.rmtree(self.runtime, ignore_errors=True)

"""KDE Plasma 5.27 for tests, as Debian 12 ships it: KWin on a virtual output with XWayland
(and the global shortcuts daemon, kglobalaccel, that runs inside it), the real portal frontend
(xdg-desktop-portal 1.16) with KDE's backend (xdg-desktop-portal-kde), a session bus of their
own, and the PulseAudio virtual microphone of desktop_session.

Who runs what: KWin and KDE's backend run as an ordinary user (``parakeet-kde``), as in a
person's session. The portal frontend runs as root, the user the tests and the app under test run
as: it reads each caller's ``/proc/<pid>/root`` to tell a sandboxed app from a host one, which a
frontend of another user may not. The bus lets both users on. KWin's binary carries a file
capability this container cannot exec with: a copy without it runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from tools.desktop_session import Desktop
from tools.waiting import wait_for

USER = "parakeet-kde"
KWIN = "/usr/bin/kwin_wayland"
FRONTEND = "/usr/libexec/xdg-desktop-portal"
BACKENDS = ("/usr/lib/x86_64-linux-gnu/libexec/xdg-desktop-portal-kde", "/usr/libexec/xdg-desktop-portal-kde")
TOOLS = (KWIN, FRONTEND, "dbus-daemon", "pulseaudio", "Xwayland")
SOCKET = "wayland-kde"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <standard_session_servicedirs />
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def backend() -> str | None:
    return next((path for path in BACKENDS if Path(path).exists()), None)


def missing() -> list[str]:
    """What this machine lacks for the session (Debian 12: kwin-wayland, xdg-desktop-portal,
    xdg-desktop-portal-kde, qtwayland5)."""
    lacking = [tool for tool in TOOLS if shutil.which(tool) is None and not Path(tool).exists()]
    return lacking + ([] if backend() else ["xdg-desktop-portal-kde"])


class KdeSession(Desktop):
    """KWin + kglobalaccel + the portals + PulseAudio; ``env`` is what a client of it gets."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        for name in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
            self.env.pop(name, None)
        self.runtime = Path(tempfile.mkdtemp(prefix="kde-"))  # outside tmp_path: the user enters it
        self.user = USER if os.getuid() == 0 else None
        self.bus = f"unix:path={self.runtime / 'bus'}"
        self.env.update({"XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "KDE", "KDE_FULL_SESSION": "true",
                         "KDE_SESSION_VERSION": "5", "DBUS_SESSION_BUS_ADDRESS": self.bus})

    def _as_user(self, command: list[str], env: dict[str, str]) -> list[str]:
        if self.user is None:
            return command
        return ["runuser", "-u", self.user, "--", "env", "-i"] + [f"{k}={v}" for k, v in env.items()] + command

    def _spawn(self, command: list[str], env: dict[str, str], log: str) -> subprocess.Popen:
        stream = open(self.folder / f"{log}.log", "w")
        process = subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start(self) -> None:
        self.start_audio()
        Path("/tmp/.X11-unix").mkdir(mode=0o1777, exist_ok=True)  # XWayland's sockets
        home = self.runtime / "home"
        home.mkdir()
        if self.user is not None:
            if subprocess.run(["id", "-u", self.user], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                                self.user], check=True)
            for path in (self.runtime, home):
                shutil.chown(path, self.user)
        self.runtime.chmod(0o711)
        kwin = self.runtime / "kwin_wayland"
        shutil.copyfile(KWIN, kwin)  # the copy has no file capability
        kwin.chmod(0o755)
        config = self.runtime / "bus.conf"
        config.write_text(BUS_CONFIG.format(path=self.runtime / "bus"), "utf-8")
        display_file = self.runtime / "display"
        started = self.runtime / "started.sh"  # KWin's child: it has XWayland's DISPLAY and cookie
        started.write_text("#!/bin/sh\n" + ("xhost +si:localuser:root\n" if self.user else "")
                           + f'echo "$DISPLAY" > {display_file}\nexec sleep infinity\n', "utf-8")
        config.chmod(0o644)
        started.chmod(0o755)  # KWin starts each of its arguments as a program of its own
        user_env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(self.runtime), "PATH": os.environ["PATH"],
                    "DBUS_SESSION_BUS_ADDRESS": self.bus, "XDG_CURRENT_DESKTOP": "KDE", "KDE_FULL_SESSION": "true",
                    "KDE_SESSION_VERSION": "5", "XDG_SESSION_TYPE": "wayland", "LANG": "C.UTF-8",
                    # Screenshots through KWin's own D-Bus interface, for the tests' record.
                    "KWIN_SCREENSHOT_NO_PERMISSION_CHECKS": "1"}
        self._spawn(self._as_user(["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"], user_env),
                    user_env, "dbus")
        wait_for(lambda: (self.runtime / "bus").exists(), 20, "the session bus")
        self._spawn(self._as_user([str(kwin), "--virtual", "--xwayland", "--socket", SOCKET, "--width", "1280",
                                   "--height", "720", str(started)], user_env), user_env, "kwin")
        wait_for(lambda: (self.runtime / SOCKET).exists(), 60, "KWin's socket")
        self.env["WAYLAND_DISPLAY"] = str(self.runtime / SOCKET)  # a path: the client's runtime folder is its own
        self.env["DISPLAY"] = wait_for(lambda: display_file.exists() and display_file.read_text().strip(), 60,
                                       "XWayland")
        wait_for(lambda: self.owner("org.kde.kglobalaccel"), 30, "kglobalaccel in KWin")
        # Its log says what it was asked (the tests count the dialogs it opened).
        backend_env = {**user_env, "WAYLAND_DISPLAY": SOCKET, "QT_QPA_PLATFORM": "wayland",
                       "QT_LOGGING_RULES": "xdp-kde-*.debug=true"}
        self._spawn(self._as_user([backend()], backend_env), backend_env, "portal-kde")
        wait_for(lambda: self.owner("org.freedesktop.impl.portal.desktop.kde"), 30, "KDE's portal backend")
        frontend_env = {"PATH": os.environ["PATH"], "DBUS_SESSION_BUS_ADDRESS": self.bus,
                        "XDG_CURRENT_DESKTOP": "KDE", "XDG_RUNTIME_DIR": str(self.folder / "runtime"),
                        "HOME": str(self.folder)}
        self._spawn([FRONTEND, "--verbose"], frontend_env, "portal")
        wait_for(lambda: self.owner("org.freedesktop.portal.Desktop"), 30, "the portal frontend")

    def owner(self, name: str) -> bool:
        done = self.run("busctl", "--user", "status", name)
        return done.returncode == 0

    def activate(self, title: str) -> None:
        """Gives the keyboard focus to the window titled *title*, as a click on it would (a KWin
        script, loaded and run through KWin's D-Bus interface)."""
        script = self.runtime / f"activate-{len(self.processes)}-{os.getpid()}.js"
        script.write_text("for (const window of workspace.clientList()) {\n"
                          f"  if (window.caption === {title!r}) workspace.activeClient = window;\n"
                          "}\n", "utf-8")
        script.chmod(0o644)
        loaded = self.run("busctl", "--user", "call", "org.kde.KWin", "/Scripting", "org.kde.kwin.Scripting",
                          "loadScript", "ss", str(script), script.stem)
        number = loaded.stdout.split()[-1] if loaded.returncode == 0 else ""
        assert number.lstrip("-").isdigit() and int(number) >= 0, loaded.stderr or loaded.stdout
        done = self.run("busctl", "--user", "call", "org.kde.KWin", "/Scripting", "org.kde.kwin.Scripting", "start")
        assert done.returncode == 0, done.stderr  # runs the scripts loaded and not yet run

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole virtual output, taken by KWin itself (its ScreenShot2 interface)."""
        from jeepney import DBusAddress, FileDescriptor, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from PySide6.QtGui import QImage

        read, write = os.pipe()
        sent = FileDescriptor(write)  # closed once sent: KWin writes into its own copy
        with open_dbus_connection(self.bus, enable_fds=True) as connection:
            call = new_method_call(DBusAddress("/org/kde/KWin/ScreenShot2", "org.kde.KWin",
                                               "org.kde.KWin.ScreenShot2"), "CaptureWorkspace", "a{sv}h",
                                   ({"native-resolution": ("b", True)}, sent))
            reply = connection.send_and_get_reply(call, timeout=30)
        sent.close()
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        assert reply.body and isinstance(reply.body[0], dict), reply.body
        meta = {key: value for key, (_signature, value) in reply.body[0].items()}
        image = QImage(data, meta["width"], meta["height"], meta["stride"], QImage.Format(meta["format"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(path)), f"could not save {path}"
        return path

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.runtime, ignore_errors=True)



class Hands:
    """A person's keys, through KDE's own input path: a RemoteDesktop session of the test's own
    on the real portal (a process without an app id gets it without a dialog on Plasma 5.27:
    KDE only notifies), its keys going where KWin sends a keyboard's. Keys are evdev key codes."""

    CTRL, ALT, SHIFT, SPACE, ENTER, TAB, ESCAPE = 29, 56, 42, 57, 28, 15, 1

    def __init__(self, bus: str) -> None:
        from parakeet_desktop.desktop.portal import PortalConnection
        from parakeet_desktop.desktop.portal import REMOTE_DESKTOP
        from parakeet_desktop.desktop.remote_desktop import KEYBOARD

        self.interface = REMOTE_DESKTOP
        self.connection = PortalConnection(bus, answer_seconds=30)
        made = self.connection.request(REMOTE_DESKTOP, "CreateSession", "a{sv}", (),
                                       {"session_handle_token": ("s", "hands")})
        self.session = str(made["session_handle"])
        self.connection.request(REMOTE_DESKTOP, "SelectDevices", "oa{sv}", (self.session,),
                                {"types": ("u", KEYBOARD)})
        started = self.connection.request(REMOTE_DESKTOP, "Start", "osa{sv}", (self.session, ""))
        assert int(started.get("devices", 0)) & KEYBOARD, started

    def _key(self, code: int, state: int) -> None:
        self.connection.call(self.interface, "NotifyKeyboardKeycode", "oa{sv}iu", (self.session, {}, code, state))

    def hold(self, *codes: int) -> None:
        for code in codes:
            self._key(code, 1)

    def let_go(self, *codes: int) -> None:
        for code in reversed(codes):
            self._key(code, 0)

    def tap(self, *codes: int) -> None:
        self.hold(*codes)
        self.let_go(*codes)

    def close(self) -> None:
        self.connection.close_session(self.session)
        self.connection.close()


def in_app_scope(app_id: str, number: int) -> Callable[[], None]:
    """A preexec_fn that puts the child in a systemd app scope named after *app_id*, as the
    desktop launches apps from its menu: the cgroup that ``systemd-run --user --scope`` would
    make, made by hand (no systemd runs here). The portal reads the app id from it."""
    folders = []
    for root in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"):
        if Path(root).is_dir():
            folder = Path(root, f"user.slice/user-{os.getuid()}.slice/user@{os.getuid()}.service/app.slice",
                          f"app-{app_id}-{number}.scope")
            folder.mkdir(parents=True, exist_ok=True)
            folders.append(folder)

    def enter() -> None:
        for folder in folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))
    return enter

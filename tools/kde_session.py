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
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tools.debian_tree import command_in, debian_tree, mounted
from tools.desktop_session import ROOT, Desktop, session_bus_config
from tools.waiting import wait_for

USER = "parakeet-kde"
KWIN = "/usr/bin/kwin_wayland"
FRONTEND = "/usr/libexec/xdg-desktop-portal"
BACKENDS = ("/usr/lib/x86_64-linux-gnu/libexec/xdg-desktop-portal-kde", "/usr/libexec/xdg-desktop-portal-kde")
TOOLS = (KWIN, FRONTEND, "dbus-daemon", "pulseaudio", "Xwayland")
SOCKET = "wayland-kde"
KGLOBALACCELD = "/usr/lib/x86_64-linux-gnu/libexec/kglobalacceld"
PLASMA6 = ("kwin-wayland", "kglobalacceld", "xdg-desktop-portal", "xdg-desktop-portal-kde", "qt6-wayland",
           "dbus-daemon", "xwayland", "plasma-workspace", "qml6-module-org-kde-kirigami",
           "qml6-module-qtquick-controls", "qml6-module-qtquick-layouts", "x11-xserver-utils", "systemd")


def plasma6_tree() -> Path:
    """The Debian 13 tree with Plasma 6 (made now unless one made from the same list is there)."""
    return debian_tree("plasma", PLASMA6, USER)



def backend(tree: Path | None = None) -> str | None:
    return next((str(tree or "") + path for path in BACKENDS if Path(str(tree or "") + path).exists()), None)


def missing() -> list[str]:
    """What this machine lacks for the session (Debian 12: kwin-wayland, xdg-desktop-portal,
    xdg-desktop-portal-kde, qtwayland5)."""
    lacking = [tool for tool in TOOLS if shutil.which(tool) is None and not Path(tool).exists()]
    return lacking + ([] if backend() else ["xdg-desktop-portal-kde"])


class KdeSession(Desktop):
    """KWin + kglobalaccel + the portals + PulseAudio; ``env`` is what a client of it gets."""

    def __init__(self, folder: Path, tree: Path | None = None) -> None:
        """*tree*: a Debian 13 tree (tools/debian_tree.py) to run Plasma 6 from; None: this
        host's Plasma 5.27."""
        super().__init__(folder)
        for name in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
            self.env.pop(name, None)
        self.tree = tree
        self.version = "6" if tree else "5"
        self.runtime = Path(tempfile.mkdtemp(prefix="kde-"))  # outside tmp_path: the user enters it
        self.user = USER if os.getuid() == 0 else None
        self.bus = f"unix:path={self.runtime / 'bus'}"
        # The app's menu entry goes where the portal (1.20 looks it up to register the app) reads it.
        self.data_home = self.runtime / "share"
        self.env.update({"XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "KDE", "KDE_FULL_SESSION": "true",
                         "KDE_SESSION_VERSION": self.version, "DBUS_SESSION_BUS_ADDRESS": self.bus,
                         "XDG_DATA_HOME": str(self.data_home)})
        shared = tuple(p for p in (ROOT, Path(sys.base_prefix)) if not str(p).startswith("/tmp/"))
        self._mounts = mounted(tree, ("proc", "sys", "dev", "tmp"), read_only=shared) if tree else None

    def _as_user(self, command: list[str], env: dict[str, str]) -> list[str]:
        return command_in(command, env, tree=self.tree, user=self.user)

    def start(self) -> None:
        self.start_audio()
        Path("/tmp/.X11-unix").mkdir(mode=0o1777, exist_ok=True)  # XWayland's sockets
        home = self.runtime / "home"
        home.mkdir()
        # KWin's screenshot effect on, for the tests' record (Plasma 6 leaves it off on this output).
        (home / ".config").mkdir()
        (home / ".config" / "kwinrc").write_text("[Plugins]\nscreenshotEnabled=true\n", "utf-8")
        self.data_home.mkdir(mode=0o755)
        if self._mounts is not None:
            self._mounts.__enter__()
            assert self.tree is not None  # its user is made with it: runuser finds the user there
            uid = int(subprocess.run(["chroot", str(self.tree), "id", "-u", USER], capture_output=True, text=True,
                                     check=True).stdout)
            for path in (self.runtime, home, home / ".config", home / ".config" / "kwinrc"):
                os.chown(path, uid, -1)
        elif self.user is not None:
            if subprocess.run(["id", "-u", self.user], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                                self.user], check=True)
            for path in (self.runtime, home, home / ".config", home / ".config" / "kwinrc"):
                shutil.chown(path, self.user)
        self.runtime.chmod(0o711)
        kwin = self.runtime / "kwin_wayland"
        shutil.copyfile(self._path(KWIN), kwin)  # the copy has no file capability
        kwin.chmod(0o755)
        config = session_bus_config(self.runtime, self.tree or Path("/"))
        display_file = self.runtime / "display"
        started = self.runtime / "started.sh"  # KWin's child: it has XWayland's DISPLAY and cookie
        started.write_text("#!/bin/sh\n" + ("xhost +si:localuser:root\n" if self.user else "")
                           + f'echo "$DISPLAY" > {display_file}\nexec sleep infinity\n', "utf-8")
        started.chmod(0o755)  # KWin starts each of its arguments as a program of its own
        user_env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(self.runtime), "PATH": os.environ["PATH"],
                    "DBUS_SESSION_BUS_ADDRESS": self.bus, "XDG_CURRENT_DESKTOP": "KDE", "KDE_FULL_SESSION": "true",
                    "KDE_SESSION_VERSION": self.version, "XDG_SESSION_TYPE": "wayland", "LANG": "C.UTF-8",
                    # Screenshots through KWin's own D-Bus interface, for the tests' record.
                    "KWIN_SCREENSHOT_NO_PERMISSION_CHECKS": "1"}
        self.spawn(*self._as_user(["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"], user_env),
                   log="dbus", env=user_env)
        wait_for(lambda: (self.runtime / "bus").exists(), 20, "the session bus")
        # KWin 6 lets only the programs whose menu entries name its privileged interfaces use them
        # (KDE's portal backend, for the keyboard); in the tree it does not match the backend to
        # its entry, so that check is off for this session.
        kwin_env = {**user_env, "KWIN_WAYLAND_NO_PERMISSION_CHECKS": "1"} if self.version == "6" else user_env
        self.spawn(*self._as_user([str(kwin), "--virtual", "--xwayland", "--socket", SOCKET, "--width", "1280",
                                   "--height", "720", str(started)], kwin_env), log="kwin", env=kwin_env)
        wait_for(lambda: (self.runtime / SOCKET).exists(), 60, "KWin's socket")
        self.env["WAYLAND_DISPLAY"] = str(self.runtime / SOCKET)  # a path: the client's runtime folder is its own
        self.env["DISPLAY"] = wait_for(lambda: display_file.exists() and display_file.read_text().strip(), 60,
                                       "XWayland")
        if self.version == "5":
            wait_for(lambda: self.on_bus("org.kde.kglobalaccel"), 30, "kglobalaccel in KWin")
        else:  # Plasma 6 runs it as a daemon of its own
            self.spawn(*self._as_user([self._inside(KGLOBALACCELD)], user_env), log="kglobalacceld", env=user_env)
            wait_for(lambda: self.on_bus("org.kde.kglobalaccel"), 30, "kglobalacceld")
        # Its log says what it was asked (the tests count the dialogs it opened).
        backend_env = {**user_env, "WAYLAND_DISPLAY": SOCKET, "QT_QPA_PLATFORM": "wayland",
                       "QT_LOGGING_RULES": "xdp-kde-*.debug=true"}
        self.spawn(*self._as_user([self._inside(backend(self.tree))], backend_env), log="portal-kde",
                   env=backend_env)
        wait_for(lambda: self.on_bus("org.freedesktop.impl.portal.desktop.kde"), 30, "KDE's portal backend")
        frontend_env = {"PATH": os.environ["PATH"], "DBUS_SESSION_BUS_ADDRESS": self.bus,
                        "XDG_CURRENT_DESKTOP": "KDE", "XDG_RUNTIME_DIR": str(self.folder / "runtime"),
                        "HOME": str(self.folder), "XDG_DATA_HOME": str(self.data_home)}
        self.spawn(*command_in([FRONTEND, "--verbose"], frontend_env, tree=self.tree), log="portal",
                   env=frontend_env)
        wait_for(lambda: self.on_bus("org.freedesktop.portal.Desktop"), 30, "the portal frontend")
        if self.version == "6":
            self.authorize_host_apps()

    def authorize_host_apps(self, app_id: str = "") -> None:
        """What a person does for a headless Plasma 6: lets apps outside a sandbox that the portal
        knows by no id (*app_id* '') send keys without its dialog (KDE's "kde-authorized" entry
        in the permission store; Plasma 5.27 asks such apps nothing anyway)."""
        done = self.run("busctl", "--user", "call", "org.freedesktop.impl.portal.PermissionStore",
                        "/org/freedesktop/impl/portal/PermissionStore", "org.freedesktop.impl.portal.PermissionStore",
                        "SetPermission", "sbssas", "kde-authorized", "true", "remote-desktop", app_id, "1", "yes")
        assert done.returncode == 0, done.stderr

    def activate(self, title: str) -> None:
        """Gives the keyboard focus to the window titled *title*, as a click on it would (a KWin
        script, loaded and run through KWin's D-Bus interface)."""
        script = self.runtime / f"activate-{len(self.processes)}-{os.getpid()}.js"
        windows, active = ("windowList", "activeWindow") if self.version == "6" else ("clientList", "activeClient")
        script.write_text(f"for (const window of workspace.{windows}()) {{\n"
                          f"  if (window.caption === {title!r}) workspace.{active} = window;\n"
                          "}\n", "utf-8")
        script.chmod(0o644)
        loaded = self.run("busctl", "--user", "call", "org.kde.KWin", "/Scripting", "org.kde.kwin.Scripting",
                          "loadScript", "ss", str(script), script.stem)
        number = loaded.stdout.split()[-1] if loaded.returncode == 0 else ""
        assert number.lstrip("-").isdigit() and int(number) >= 0, loaded.stderr or loaded.stdout
        done = self.run("busctl", "--user", "call", "org.kde.KWin", "/Scripting", "org.kde.kwin.Scripting", "start")
        assert done.returncode == 0, done.stderr  # runs the scripts loaded and not yet run

    def screenshot(self, path: Path) -> Path | None:
        """A PNG of the whole virtual output, taken by KWin itself (its ScreenShot2 interface).
        None, with a line on the test's output, where KWin has no screenshots: KWin 6 draws this
        output without OpenGL here, and its screenshot effect needs OpenGL."""
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
        if reply.body and "No such object path" in str(reply.body[0]):
            print(f"No screenshot {path.name}: this KWin takes none ({reply.body[0]})")
            return None
        assert reply.body and isinstance(reply.body[0], dict), reply.body
        meta = {key: value for key, (_signature, value) in reply.body[0].items()}
        image = QImage(data, meta["width"], meta["height"], meta["stride"], QImage.Format(meta["format"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(path)), f"could not save {path}"
        return path

    def _path(self, path: str) -> Path:
        """Where *path* of the desktop's system is seen from here."""
        return Path(str(self.tree) + path) if self.tree else Path(path)

    def _inside(self, path: str | None) -> str:
        assert path is not None
        return path.removeprefix(str(self.tree)) if self.tree else path

    def stop(self) -> None:
        super().stop()
        if self._mounts is not None:
            self._mounts.__exit__()
        shutil.rmtree(self.runtime, ignore_errors=True)



class Hands:
    """A person's keys, through KDE's own input path: a RemoteDesktop session of the test's own
    on the real portal (a process without an app id gets it without a dialog on Plasma 5.27:
    KDE only notifies), its keys going where KWin sends a keyboard's. Keys are evdev key codes."""

    CTRL, ALT, SHIFT, SPACE, ENTER, TAB, ESCAPE = 29, 56, 42, 57, 28, 15, 1

    def __init__(self, bus: str) -> None:
        from parakeet_desktop.desktop.portal import REMOTE_DESKTOP, PortalConnection
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

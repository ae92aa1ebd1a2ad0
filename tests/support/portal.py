"""A private session bus (a real dbus-daemon) and a stand-in for the desktop portal on it.

The stand-in implements the parts of xdg-desktop-portal the app uses, as the specification
defines them: the Request/Response flow (the answer is a signal on the request path made from the
caller's unique name and its handle token), Registry.Register, GlobalShortcuts (sessions,
BindShortcuts, Activated/Deactivated sent to the session's owner, ShortcutsChanged,
ConfigureShortcuts) and RemoteDesktop (keyboard device, persist_mode and restore tokens,
NotifyKeyboardKeysym). The test plays the user: it approves or declines the "dialog", presses and
releases the shortcut, revokes tokens, and makes the portal go away.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from tools.waiting import wait_for

PORTAL = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REMOTE = "org.freedesktop.portal.RemoteDesktop"
REGISTRY = "org.freedesktop.host.portal.Registry"


@contextmanager
def private_session_bus():
    """A dbus-daemon of its own; yields its address (also what DBUS_SESSION_BUS_ADDRESS takes)."""
    if shutil.which("dbus-daemon") is None:
        raise RuntimeError("dbus-daemon is not installed (Debian: dbus-daemon)")
    folder = Path(tempfile.mkdtemp(prefix="bus-"))
    address = f"unix:path={folder / 'bus'}"
    config = folder / "session.conf"
    # No service folders: a name nobody owns is not started from the system's own services (a
    # real xdg-desktop-portal where one is installed); everything else as a session bus.
    config.write_text(f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>{address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""", "utf-8")
    daemon = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile",
                               "--print-address"], stdout=subprocess.PIPE, text=True)
    try:
        assert daemon.stdout is not None
        printed = daemon.stdout.readline().strip()  # printed once it listens
        assert printed, "dbus-daemon did not start"
        yield address
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Session:
    owner: str
    kind: str
    started: bool = False
    devices: int = 0
    options: dict = field(default_factory=dict)


class PortalStandIn:
    """Owns org.freedesktop.portal.Desktop on *address* and answers on a thread of its own."""

    def __init__(self, address: str, *, shortcuts_version: int | None = 1, remote_version: int | None = 2,
                 registry: bool = True, deliver=None) -> None:
        """*deliver(keysym, state)*: where the keys sent through RemoteDesktop go (a real
        compositor in the end-to-end test); by default only recorded."""
        self.deliver = deliver
        self.address = address
        self.versions = {SHORTCUTS: shortcuts_version, REMOTE: remote_version}
        self.registry = registry
        self.registered: list[str] = []
        self.calls: list[str] = []
        self.sessions: dict[str, Session] = {}
        self.keys: list[tuple[int, int]] = []  # (keysym, 1 pressed / 0 released) as received
        self.dialogs = 0  # how often the user was asked
        self.deny = False  # the user declines the next dialogs
        self.silent = False  # nobody answers the next dialogs
        self.bind_nothing = False  # BindShortcuts grants, and binds no key (KDE 5.27 does so)
        self.bind_answers_2 = False  # BindShortcuts binds, then answers 2 (GNOME 48.0 does so)
        self.listed: dict[str, list] = {}  # session → the shortcuts bound in it
        self.created: list[dict] = []  # the options of each CreateSession
        self.assign_trigger: str | None = None  # the desktop binds another key than the one asked for
        self.bound: dict[str, dict] = {}  # shortcut id → what the app asked for
        self.valid_tokens: set[str] = set()
        self.configured = 0
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._conn = open_dbus_connection(address)
        reply = self._conn.send_and_get_reply(message_bus.RequestName(PORTAL))
        assert reply.body[0] == 1, "the portal name is taken"
        self._thread = threading.Thread(target=self._serve, name="portal-stand-in", daemon=True)
        self._thread.start()

    # --- what the test does ---------------------------------------------------------------
    def press(self, shortcut: str = "dictate") -> None:
        self._shortcut_signal("Activated", shortcut)

    def release(self, shortcut: str = "dictate") -> None:
        self._shortcut_signal("Deactivated", shortcut)

    def change_trigger(self, trigger: str, shortcut: str = "dictate") -> None:
        """The user changes the key in the desktop's settings."""
        for path, session in self._shortcut_sessions():
            self._emit(session.owner, path, SHORTCUTS, "ShortcutsChanged", "oa(sa{sv})",
                       (path, [(shortcut, {"description": ("s", self.bound[shortcut]["description"]),
                                           "trigger_description": ("s", trigger)})]))

    def close_sessions(self) -> None:
        """The desktop ends the app's sessions (Session.Closed)."""
        for path, session in list(self.sessions.items()):
            self._emit(session.owner, path, "org.freedesktop.portal.Session", "Closed", "a{sv}", ({},))
            self.sessions.pop(path, None)

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def stop(self) -> None:
        """The portal goes away (crashes, or the session ends): its name leaves the bus."""
        self._conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the serving thread from its read
        self._thread.join(timeout=10)
        self._conn.close()

    def wait_for(self, predicate, timeout: float = 20.0) -> None:
        wait_for(predicate, timeout, "the portal stand-in to see what was expected", step=0.02)

    # --- the bus side -------------------------------------------------------------------------
    def _shortcut_sessions(self):
        return [(p, s) for p, s in list(self.sessions.items()) if s.kind == "shortcuts"]

    def _shortcut_signal(self, member: str, shortcut: str) -> None:
        for path, session in self._shortcut_sessions():
            self._emit(session.owner, path, SHORTCUTS, member, "osta{sv}",
                       (path, shortcut, int(time.time() * 1000), {}))

    def _send(self, message) -> None:
        with self._lock:
            self._conn.send(message)

    def _emit(self, destination: str, path: str, interface: str, member: str, signature: str, body) -> None:
        message = new_signal(DBusAddress(path, interface=interface), member, signature, body)
        message.header.fields[HeaderFields.destination] = destination
        self._send(message)

    def _serve(self) -> None:
        try:
            while True:
                message = self._conn.receive()
                if message.header.message_type == MessageType.method_call:
                    self._answer(message)
        except Exception:  # the connection closed: the portal is gone
            return

    def _answer(self, message) -> None:
        fields = message.header.fields
        interface, member = fields.get(HeaderFields.interface), fields[HeaderFields.member]
        sender, path = fields[HeaderFields.sender], fields[HeaderFields.path]
        self.calls.append(member)
        handler = getattr(self, f"_{member}", None)
        if handler is None:
            self._send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                                 (f"No such method {interface}.{member}",)))
            return
        try:
            handler(message, sender, path, *message.body)
        except _Fault as fault:
            self._send(new_error(message, fault.name, "s", (fault.text,)))

    def _request(self, message, sender: str, options: dict, answer) -> None:
        """Replies with the request path, then sends the Response made by *answer()*."""
        token = options.get("handle_token", ("s", f"t{next(self._tokens)}"))[1]
        request = f"{PATH}/request/{sender.lstrip(':').replace('.', '_')}/{token}"
        self._send(new_method_return(message, "o", (request,)))
        answered = answer()
        if answered is None:  # a dialog nobody answers
            return
        code, results = answered
        self._emit(sender, request, "org.freedesktop.portal.Request", "Response", "ua{sv}", (code, results))

    def _dialog(self) -> bool | None:
        """The user's answer: True granted, False declined, None no answer."""
        self.dialogs += 1
        return None if self.silent else not self.deny

    def _new_session(self, sender: str, options: dict, kind: str) -> tuple[int, dict]:
        token = options.get("session_handle_token", ("s", "s"))[1]
        path = f"{PATH}/session/{sender.lstrip(':').replace('.', '_')}/{token}{next(self._tokens)}"
        self.sessions[path] = Session(sender, kind)
        return 0, {"session_handle": ("s", path)}

    def _session(self, path: str, sender: str, kind: str) -> Session:
        session = self.sessions.get(path)
        if session is None or session.owner != sender or session.kind != kind:
            raise _Fault("org.freedesktop.portal.Error.NotFound", "No such session")
        return session

    # org.freedesktop.DBus.Properties
    def _Get(self, message, sender, path, interface, name):
        version = self.versions.get(interface)
        if version is None:
            raise _Fault("org.freedesktop.DBus.Error.InvalidArgs", f"No such interface {interface}")
        value = ("u", version) if name == "version" else ("u", 1)  # AvailableDeviceTypes: keyboard
        self._send(new_method_return(message, "v", (value,)))

    # org.freedesktop.host.portal.Registry
    def _Register(self, message, sender, path, app_id, options):
        if not self.registry:
            raise _Fault("org.freedesktop.DBus.Error.UnknownMethod", "No such interface")
        self.registered.append(app_id)
        self._send(new_method_return(message))

    # org.freedesktop.portal.Session
    def _Close(self, message, sender, path):
        self.sessions.pop(path, None)
        self._send(new_method_return(message))

    # GlobalShortcuts and RemoteDesktop share CreateSession's name
    def _CreateSession(self, message, sender, path, options):
        interface = message.header.fields[HeaderFields.interface]
        kind = "shortcuts" if interface == SHORTCUTS else "remote"
        self.created.append({k: v[1] for k, v in options.items()})
        self._request(message, sender, options, lambda: self._new_session(sender, options, kind))

    def _BindShortcuts(self, message, sender, path, session_path, shortcuts, parent, options):
        self._session(session_path, sender, "shortcuts")

        def answer():
            granted = self._dialog()
            if granted is None:
                return None
            if not granted:
                return 1, {}
            for shortcut_id, props in shortcuts:
                self.bound[shortcut_id] = {k: v[1] for k, v in props.items()}
            if self.bind_nothing:
                self.listed[session_path] = []
                return (2, {}) if self.bind_answers_2 else (0, {"shortcuts": ("a(sa{sv})", [])})
            chosen = []
            for shortcut_id, props in shortcuts:
                wanted = props.get("preferred_trigger", ("s", ""))[1]
                trigger = self.assign_trigger or _described(wanted)
                chosen.append((shortcut_id, {"description": props["description"],
                                             "trigger_description": ("s", trigger)}))
            self.listed[session_path] = chosen
            if self.bind_answers_2:
                return 2, {}
            return 0, {"shortcuts": ("a(sa{sv})", chosen)}
        self._request(message, sender, options, answer)

    def _ListShortcuts(self, message, sender, path, session_path, options):
        self._session(session_path, sender, "shortcuts")
        listed = self.listed.get(session_path, [])
        self._request(message, sender, options, lambda: (0, {"shortcuts": ("a(sa{sv})", listed)}))

    def _ConfigureShortcuts(self, message, sender, path, session_path, parent, options):
        self._session(session_path, sender, "shortcuts")
        self.configured += 1
        self._send(new_method_return(message))

    def _SelectDevices(self, message, sender, path, session_path, options):
        session = self._session(session_path, sender, "remote")
        session.options = {k: v[1] for k, v in options.items()}
        self._request(message, sender, options, lambda: (0, {}))

    def _Start(self, message, sender, path, session_path, parent, options):
        session = self._session(session_path, sender, "remote")

        def answer():
            token = session.options.get("restore_token")
            if token not in self.valid_tokens:  # a valid token: no dialog
                granted = self._dialog()
                if granted is None:
                    return None
                if not granted:
                    return 1, {}
            self.valid_tokens.discard(token)  # a token is good for one restore
            new = f"token-{next(self._tokens)}"
            if session.options.get("persist_mode", 0):
                self.valid_tokens.add(new)
            session.started = True
            session.devices = session.options.get("types", 7)
            results = {"devices": ("u", session.devices)}
            if session.options.get("persist_mode", 0):
                results["restore_token"] = ("s", new)
            return 0, results
        self._request(message, sender, options, answer)

    def _NotifyKeyboardKeysym(self, message, sender, path, session_path, options, keysym, state):
        session = self._session(session_path, sender, "remote")
        if not session.started or not session.devices & 1:
            raise _Fault("org.freedesktop.portal.Error.NotAllowed", "No keyboard in this session")
        self.keys.append((keysym, state))
        if self.deliver is not None:
            self.deliver(keysym, state)
        self._send(new_method_return(message))


def _described(trigger: str) -> str:
    """How a desktop words a trigger for people: CTRL+ALT+space → Ctrl+Alt+Space."""
    names = {"CTRL": "Ctrl", "ALT": "Alt", "SHIFT": "Shift", "LOGO": "Meta"}
    return "+".join(names.get(p, p[:1].upper() + p[1:]) for p in trigger.split("+")) if trigger else ""


class _Fault(Exception):
    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name, self.text = name, text


def env_with_bus(address: str) -> dict[str, str]:
    return {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}


class WtypeKeys:
    """Keys from the RemoteDesktop stand-in to a wlroots compositor through wtype. Each wtype run
    is a keyboard of its own (modifiers do not carry from one run to the next), so a chord goes
    as one run once all its keys are up."""

    MODIFIERS = {0xFFE3: "ctrl", 0xFFE1: "shift", 0xFFE9: "alt", 0xFFEB: "logo"}
    NAMES = {0xFF0D: "Return", 0xFF09: "Tab", 0xFF08: "BackSpace", 0xFF1B: "Escape"}

    def __init__(self, env: dict) -> None:
        self.env = env
        self.down: list[int] = []
        self.chord: list[str] = []
        self.runs: list[list[str]] = []

    def __call__(self, keysym: int, state: int) -> None:
        if state == 1:
            self.down.append(keysym)
            if keysym in self.MODIFIERS:
                self.chord += ["-M", self.MODIFIERS[keysym]]
            else:
                name = self.NAMES.get(keysym) or chr(keysym if keysym < 0x01000000 else keysym - 0x01000000)
                self.chord += ["-k", name]
            return
        if keysym in self.down:
            self.down.remove(keysym)
        if keysym in self.MODIFIERS:
            self.chord += ["-m", self.MODIFIERS[keysym]]
        if not self.down:
            args = ["wtype", "-k", "Shift_L"] + self.chord  # see desktop/inject.py: the first key
            self.chord = []
            self.runs.append(args)
            subprocess.run(args, env=self.env, check=True, timeout=30)


class ShortcutEvents:
    """The app's PortalShortcut with its callbacks landing in one queue, as the app's signals would:
    "press", "release", ("bound", trigger), ("lost", message). start() it."""

    def __init__(self, bus: str, hotkey: str = "ctrl+alt+space", answer_seconds: float = 20) -> None:
        import queue

        from parakeet_desktop.desktop.hotkey import parse_hotkey
        from parakeet_desktop.desktop.shortcuts import PortalShortcut

        self.events: queue.Queue = queue.Queue()
        self.shortcut = PortalShortcut(parse_hotkey(hotkey), lambda: self.events.put("press"),
                                       lambda: self.events.put("release"),
                                       on_bound=lambda t: self.events.put(("bound", t)),
                                       on_lost=lambda m: self.events.put(("lost", m)), bus=bus,
                                       answer_seconds=answer_seconds)

    def next(self, timeout: float = 120):
        return self.events.get(timeout=timeout)

"""The desktop's portals (xdg-desktop-portal) on the session D-Bus, through jeepney.

A portal call that needs the user's approval answers with a Request object; the answer comes
later as that object's ``Response`` signal (0: granted, 1: the user declined, 2: other). The
signal is subscribed before the call (its path is known in advance from the handle token), so a
fast answer is never missed. jeepney's router reads the connection on its own thread; calls here
block the calling thread, so the app makes them off the GUI thread.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from jeepney import DBusAddress, DBusErrorResponse, MatchRule, MessageType, message_bus, new_method_call
from jeepney.io.threading import DBusConnection, DBusRouter, Proxy, open_dbus_connection

from ..messages import first_line
from .entry import APP_ID, entry_path

logger = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
REGISTRY = "org.freedesktop.host.portal.Registry"
SESSION = "org.freedesktop.portal.Session"
REQUEST = "org.freedesktop.portal.Request"
GLOBAL_SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REMOTE_DESKTOP = "org.freedesktop.portal.RemoteDesktop"
# What the user does to be asked again (the app's menu entry: ui/menu.py).
ASK_AGAIN = "choose “Ask the desktop again” in the app's menu"
# How long the user may take over the portal's approval dialog.
ANSWER_SECONDS = 300.0
REGISTER_WAIT_SECONDS = 5.0  # for the portal to see a menu entry written just now
_tokens = itertools.count(1)


class PortalError(Exception):
    """A portal that cannot be used; the message says why in words for the user (a clause:
    callers put it in their own sentence)."""


class PortalDenied(PortalError):
    """The user declined in the portal's dialog (its response said so)."""


class PortalUnanswered(PortalError):
    """The portal's dialog got no answer in time (nobody there, or it never showed)."""


def session_token(purpose: str) -> str:
    """The handle token of this app's *purpose* session ("shortcuts", "keyboard"): the same at
    every start and no other app's. KDE names a shortcut's component after it (with the app id,
    which is empty for an app outside a systemd app scope) and keeps the keys the user gave per
    component: a token new at every start would leave the old component holding the key."""
    return APP_ID.replace(".", "_") + "_" + purpose


def variant_values(options: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """a{sv} as jeepney reads it ({key: (signature, value)}) → {key: value}, nested too."""
    plain: dict[str, Any] = {}
    for key, (_signature, value) in options.items():
        plain[key] = variant_values(value) if isinstance(value, dict) and _is_vardict(value) else value
    return plain


def _is_vardict(value: dict) -> bool:
    return all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value.values())


def _written_lately() -> bool:
    """Whether the app's menu entry was written in the last REGISTER_WAIT_SECONDS."""
    try:
        return time.time() - entry_path().stat().st_mtime < REGISTER_WAIT_SECONDS
    except OSError:
        return False


class PortalConnection:
    """A connection to the session bus for portal calls. *bus* is 'SESSION' or an address."""

    def __init__(self, bus: str = "SESSION", *, reply_seconds: float = 5.0,
                 answer_seconds: float = ANSWER_SECONDS) -> None:
        self.reply_seconds = reply_seconds
        self.answer_seconds = answer_seconds
        try:
            self._conn: DBusConnection = open_dbus_connection(bus)
        except Exception as exc:
            raise PortalError(f"the desktop's session bus cannot be reached ({first_line(exc)})") from exc
        self.router = DBusRouter(self._conn)
        self._bus = Proxy(message_bus, self.router, timeout=reply_seconds)
        self._listeners: list[_Listener] = []
        self.closed = False

    @property
    def sender(self) -> str:
        """This connection's unique name as the portal writes it in request paths."""
        return self._conn.unique_name.lstrip(":").replace(".", "_")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for listener in self._listeners:
            listener.stop()
        self.router.close()
        self._conn.close()

    def portal_running(self) -> bool:
        try:
            return bool(self._bus.NameHasOwner(PORTAL)[0])
        except Exception:
            return False

    def call(self, interface: str, method: str, signature: str | None, body: tuple,
             *, path: str = PORTAL_PATH) -> tuple:
        """A plain method call on the portal; raises DBusErrorResponse for an error reply."""
        message = new_method_call(DBusAddress(path, PORTAL, interface), method, signature, body)
        try:
            reply = self.router.send_and_get_reply(message, timeout=self.reply_seconds)
        except TimeoutError as exc:
            raise PortalError(f"the desktop portal did not answer {method} within "
                              f"{self.reply_seconds:g} s") from exc
        if reply.header.message_type == MessageType.error:
            raise DBusErrorResponse(reply)
        return reply.body

    def version(self, interface: str) -> int | None:
        """The version of a portal interface, None where the portal lacks it."""
        try:
            (value,) = self.call("org.freedesktop.DBus.Properties", "Get", "ss", (interface, "version"))
        except (DBusErrorResponse, PortalError):
            return None
        return int(value[1])

    def property(self, interface: str, name: str) -> Any:
        (value,) = self.call("org.freedesktop.DBus.Properties", "Get", "ss", (interface, name))
        return value[1]

    def register(self, app_id: str = APP_ID) -> bool:
        """Tell the portal which app this is (xdg-desktop-portal 1.21+ asks it of unsandboxed apps
        before anything else). False where the portal has no registry (older ones need none)."""
        deadline = time.monotonic() + REGISTER_WAIT_SECONDS
        while True:
            try:
                self.call(REGISTRY, "Register", "sa{sv}", (app_id, {}))
                return True
            except DBusErrorResponse as exc:
                # A menu entry the app has just written (its first run) is found by the portal
                # once the portal's file monitor sees it: asked again for a few seconds.
                if "App info not found" in str(exc) and _written_lately() and time.monotonic() < deadline:
                    time.sleep(0.25)
                    continue
                logger.info("The portal did not take the app id %s: %s", app_id, exc)
                return False

    def request(self, interface: str, method: str, signature: str, args: tuple,
                options: dict[str, tuple[str, Any]] | None = None) -> dict[str, Any]:
        """Calls *method* with *args* and an options a{sv} (last in *signature*) and waits for
        its Response. Returns the results; raises PortalDenied or PortalError otherwise."""
        token = f"parakeet{os.getpid()}_{next(_tokens)}"
        path = f"/org/freedesktop/portal/desktop/request/{self.sender}/{token}"
        rule = MatchRule(type="signal", interface=REQUEST, member="Response", path=path)
        options = dict(options or {})
        options["handle_token"] = ("s", token)
        with self.router.filter(rule, bufsize=4) as answers:
            self._bus.AddMatch(rule)
            try:
                try:
                    (handle,) = self.call(interface, method, signature, args + (options,))
                except DBusErrorResponse as exc:
                    raise PortalError(f"the desktop portal refused {method}: {exc}") from exc
                if handle != path:  # portals before 0.9 chose their own path
                    raise PortalError(f"the desktop portal is too old ({method} answered on {handle})")
                try:
                    answer = answers.get(timeout=self.answer_seconds)
                except queue.Empty:
                    self._close_request(path)
                    raise PortalUnanswered(f"the desktop's dialog got no answer within "
                                           f"{self.answer_seconds:g} s") from None
            finally:
                self._remove_match(rule)
        response, results = answer.body
        if response == 1:
            raise PortalDenied(f"{method} was declined in the desktop's dialog.")
        if response != 0:  # 2: the dialog was closed another way, or the desktop failed
            raise PortalError(f"the desktop portal could not do {method} (it answered {response})")
        return variant_values(results)

    def _close_request(self, path: str) -> None:
        try:
            self.call(REQUEST, "Close", None, (), path=path)
        except Exception as exc:
            logger.debug("Closing request %s: %s", path, exc)

    def _remove_match(self, rule: MatchRule) -> None:
        try:
            self._bus.RemoveMatch(rule)
        except Exception as exc:  # the connection is going away
            logger.debug("Removing a match rule: %s", exc)

    def close_session(self, session: str) -> None:
        try:
            self.call(SESSION, "Close", None, (), path=session)
        except Exception as exc:
            logger.debug("Closing portal session %s: %s", session, exc)

    def listen(self, rule: MatchRule, handle: Callable[[tuple], None]) -> None:
        """Calls *handle(body)* on a thread of its own for each signal matching *rule*."""
        listener = _Listener(self, rule, handle)
        self._listeners.append(listener)
        listener.start()

    def on_portal_gone(self, handle: Callable[[], None]) -> None:
        """*handle()* once the portal leaves the bus (it crashed or the session ends)."""
        rule = MatchRule(type="signal", sender="org.freedesktop.DBus", interface="org.freedesktop.DBus",
                         member="NameOwnerChanged", path="/org/freedesktop/DBus")
        rule.add_arg_condition(0, PORTAL)

        def changed(body: tuple) -> None:
            _name, _old, new = body
            if not new:
                handle()
        self.listen(rule, changed)


class _Listener:
    _STOP = object()

    def __init__(self, connection: PortalConnection, rule: MatchRule, handle: Callable[[tuple], None]) -> None:
        self.connection = connection
        self.rule = rule
        self.handle = handle
        self.queue: queue.Queue = queue.Queue(maxsize=1000)
        self._filter = connection.router.filter(rule, queue=self.queue)
        self._thread = threading.Thread(target=self._run, name="portal-signals", daemon=True)

    def start(self) -> None:
        self.connection._bus.AddMatch(self.rule)
        self._thread.start()

    def stop(self) -> None:
        self._filter.close()
        self.queue.put(self._STOP)

    def _run(self) -> None:
        while (message := self.queue.get()) is not self._STOP:
            try:
                self.handle(message.body)
            except Exception:  # a handler's fault must not end the listening
                logger.exception("Handling the portal signal %s", self.rule.serialise())

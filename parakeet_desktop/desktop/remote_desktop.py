"""Key presses on Wayland through the RemoteDesktop portal (GNOME, KDE).

The app asks for a keyboard once: the portal's dialog, with ``persist_mode`` 2, hands back a
restore token that the app keeps, so later starts get the keyboard without asking again (a token
the desktop no longer takes is dropped and the user is asked once more). Not on GNOME, whose
backend never starts a keyboard-only session restored from a token (ui/session_routes.py): there
the user is asked each run. Keys are sent as keysyms: the paste chord, Enter, Tab, BackSpace;
text itself goes by the clipboard and one paste.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ..storage import write_atomic
from .inject import NotInLayout
from .portal import (
    ASK_AGAIN,
    REMOTE_DESKTOP,
    PortalConnection,
    PortalDenied,
    PortalError,
    PortalUnanswered,
    session_token,
)

logger = logging.getLogger(__name__)

KEYBOARD = 1  # device type bit
PERSIST_UNTIL_REVOKED = 2
PRESSED, RELEASED = 1, 0
WAIT_FOR_DIALOG_SECONDS = 2.0
ASKING = "the desktop is asking whether this app may type: answer its dialog"
DECLINED = ("you declined keyboard access in the desktop's dialog, so the text stays on the clipboard; "
            f"to be asked again, {ASK_AGAIN} (or save the settings)")
# X keysyms of the keys the app presses (the portal takes keysyms and keycodes; keysyms do not
# depend on the keyboard layout).
KEYSYMS = {"ctrl": 0xFFE3, "shift": 0xFFE1, "alt": 0xFFE9, "super": 0xFFEB, "enter": 0xFF0D,
           "tab": 0xFF09, "backspace": 0xFF08, "escape": 0xFF1B, "insert": 0xFF63, "space": 0x20}


def typable(text: str) -> bool:
    """Whether every character of *text* is on every Latin keyboard layout (printable ASCII,
    newline, tab): those the portal can type as keys."""
    return all(0x20 <= ord(c) <= 0x7E or c in "\n\t" for c in text)


def keysym(key: str) -> int:
    """The keysym of a key name or of one character (Latin-1 directly, the rest as Unicode)."""
    if key in KEYSYMS:
        return KEYSYMS[key]
    if len(key) != 1:
        raise ValueError(f"no keysym for {key!r}")
    code = ord(key)
    if code == 0x0A:
        return KEYSYMS["enter"]
    if code == 0x09:
        return KEYSYMS["tab"]
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 + code


class PortalKeyboard:
    """desktop.inject.Keyboard through the RemoteDesktop portal. The session is opened at the
    first key (or by open()), not at start: the user is asked only when dictation first types."""

    def __init__(self, token_file: Path, *, bus: str = "SESSION", answer_seconds: float | None = None,
                 remember: bool = True) -> None:
        """*remember*: ask the desktop to keep the approval (a restore token in *token_file*);
        without it the user is asked at the first key of each run, and no token is sent."""
        self.token_file = token_file
        self.remember = remember
        self._bus = bus
        self._answer_seconds = answer_seconds
        self._lock = threading.Lock()
        self.connection: PortalConnection | None = None
        self.session: str | None = None
        self.declined = False  # the user said no: keys fail at once until open() asks again
        self.unanswered = ""  # the dialog got no answer: the same, with this message
        self.failure = ""  # why the last try to open a session failed

    def open(self) -> None:
        """Asks for the keyboard (again, after a refusal): off the GUI thread, the dialog may wait
        for the user."""
        with self._lock:
            self.declined, self.unanswered, self.failure = False, "", ""
            if self.session is None:
                self._open()

    def state(self) -> str:
        """What the desktop answered, in a few words, for status and doctor ('' before the
        first ask)."""
        if self.session is not None:
            return "the desktop gave the keyboard"
        if self.declined:
            return "declined in the desktop's dialog"
        if self.unanswered:
            return "no answer to the desktop's dialog"
        if self.failure:
            return f"failed: {self.failure}"
        return "asking the desktop" if self._lock.locked() else ""

    def close(self) -> None:
        with self._lock:
            connection, self.connection, self.session = self.connection, None, None
            if connection is not None:
                connection.close()

    def chord(self, *keys: str) -> None:
        syms = [keysym(k) for k in keys]
        self._send([(s, PRESSED) for s in syms] + [(s, RELEASED) for s in reversed(syms)])

    def type(self, text: str) -> None:
        """Types *text* key by key; raises NotInLayout (sending nothing) for text with characters
        a layout may lack (KDE drops those keys without a word: "Failed to convert keysym into
        keycode"), which the caller pastes instead."""
        if not typable(text):
            raise NotInLayout("the text has characters the desktop may have no key for")
        self._send([(keysym(c), state) for c in text for state in (PRESSED, RELEASED)])

    def _send(self, presses: list[tuple[int, int]]) -> None:
        # Keys are sent from the GUI thread. A session is opened on a thread of its own (a
        # dialog may come, and wait for the user): the keys go if it is there within a moment,
        # else they fail at once, never freezing the app until the dialog is answered.
        if self.session is None and not (self.declined or self.unanswered) and not self._open_aside():
            raise OSError(ASKING)
        if not self._lock.acquire(timeout=WAIT_FOR_DIALOG_SECONDS):
            raise OSError(ASKING)
        try:
            if self.session is None:
                raise OSError(DECLINED if self.declined else self.unanswered or self.failure or ASKING)
            assert self.connection is not None
            try:
                for sym, state in presses:
                    self.connection.call(REMOTE_DESKTOP, "NotifyKeyboardKeysym", "oa{sv}iu",
                                         (self.session, {}, sym, state))
            except Exception as exc:
                # The session may have been closed by the desktop: open a new one next time.
                self._drop()
                raise OSError(f"the desktop's RemoteDesktop portal refused the keys ({exc})") from exc
        finally:
            self._lock.release()

    def _open_aside(self) -> bool:
        """Opens the session on a thread of its own; waits for it a moment (with a kept approval
        no dialog comes). False while it still waits for the user."""
        def run() -> None:
            with self._lock:
                # Another ask may have ended while this one waited: its answer stands.
                if self.session is not None or self.declined or self.unanswered:
                    return
                try:
                    self._open()
                except OSError:
                    pass  # kept in self.failure (or declined, unanswered) for the caller
        opener = threading.Thread(target=run, name="remote-desktop", daemon=True)
        opener.start()
        opener.join(WAIT_FOR_DIALOG_SECONDS)
        return not opener.is_alive()

    def _drop(self) -> None:
        connection, self.connection, self.session = self.connection, None, None
        if connection is not None:
            connection.close()

    def _open(self) -> None:
        try:
            self._open_session()
            self.failure = ""
        except OSError as exc:
            self.failure = "" if self.declined or self.unanswered else str(exc)
            raise

    def _open_session(self) -> None:
        kwargs = {} if self._answer_seconds is None else {"answer_seconds": self._answer_seconds}
        connection = PortalConnection(self._bus, **kwargs)
        try:
            connection.register()
            if connection.version(REMOTE_DESKTOP) is None:
                raise PortalError("this desktop's portal has no RemoteDesktop")
            token = self._token()
            try:
                session, results = self._start(connection, token)
            except (PortalDenied, PortalUnanswered):
                raise
            except PortalError:
                if not token:
                    raise
                # The desktop no longer takes the token (revoked, or from another session): ask again.
                logger.info("The remote-desktop restore token was not taken; asking the user again")
                self._forget_token()
                session, results = self._start(connection, "")
        except PortalDenied as exc:
            connection.close()
            self.declined = True
            raise OSError(DECLINED) from exc
        except PortalUnanswered as exc:
            # Asking again at the next key would freeze the caller for as long again.
            connection.close()
            self.unanswered = (f"{exc}, so the text stays on the clipboard; to be asked again, {ASK_AGAIN} "
                               "(or save the settings)")
            raise OSError(self.unanswered) from exc
        except PortalError as exc:
            connection.close()
            raise OSError(str(exc)) from exc
        if not int(results.get("devices", 0)) & KEYBOARD:
            connection.close_session(session)
            connection.close()
            raise OSError("the desktop gave no keyboard in the remote-desktop session")
        if results.get("restore_token"):
            self._keep_token(str(results["restore_token"]))
        self.connection, self.session = connection, session

    def _start(self, connection: PortalConnection, token: str) -> tuple[str, dict]:
        made = connection.request(REMOTE_DESKTOP, "CreateSession", "a{sv}", (),
                                  {"session_handle_token": ("s", session_token("keyboard"))})
        session = str(made["session_handle"])
        options: dict[str, tuple[str, object]] = {"types": ("u", KEYBOARD)}
        if self.remember:
            options["persist_mode"] = ("u", PERSIST_UNTIL_REVOKED)
        if token:
            options["restore_token"] = ("s", token)
        try:
            connection.request(REMOTE_DESKTOP, "SelectDevices", "oa{sv}", (session,), options)
            results = connection.request(REMOTE_DESKTOP, "Start", "osa{sv}", (session, ""))
        except PortalError:
            connection.close_session(session)
            raise
        return session, results

    def _token(self) -> str:
        if not self.remember:
            return ""
        try:
            return self.token_file.read_text("utf-8").strip()
        except OSError:
            return ""

    def _keep_token(self, token: str) -> None:
        try:
            write_atomic(self.token_file, token, mode=0o600)
        except OSError as exc:
            logger.warning("The remote-desktop approval cannot be kept (%s); it will be asked again", exc)

    def _forget_token(self) -> None:
        self.token_file.unlink(missing_ok=True)

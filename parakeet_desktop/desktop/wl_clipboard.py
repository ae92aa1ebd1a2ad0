"""The Wayland clipboard through wl-copy and wl-paste (the wl-clipboard tools).

Qt's own clipboard cannot serve Wayland windows from this app: under XWayland the X11 clipboard
reaches Wayland windows only while an X11 window has the focus, and a native Wayland window may
set the clipboard only while it has the focus itself, which a dictation app never has. wl-copy
can (the compositor's data-control protocol, or a surface of its own for a moment).

A paste is offered by ``wl-copy --foreground --paste-once`` with a type of our own besides the
plain-text ones: the type showing in ``wl-paste --list-types`` says the offer is in place (then the
chord is sent), and the process ending says the target has read it (the data source's ``send``).
Every run has a time limit: a wl-copy that does not answer is an error, never a frozen app.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

from .clipboard_rescue import ClipboardRescue

logger = logging.getLogger(__name__)

OFFER_TYPE = "text/x-parakeet-desktop-paste"  # wl-copy offers the plain-text types with it
TEXT_TYPES = ("text/plain;charset=utf-8", "text/plain", "UTF8_STRING", "STRING", "TEXT")
LIMIT_SECONDS = 1.0
SAVE_LIMIT_BYTES = 32 * 1024 * 1024  # a bigger clipboard (a huge image) is not kept aside


def available(which=shutil.which) -> bool:
    return bool(which("wl-copy") and which("wl-paste"))


class WlClipboard:
    """desktop.inject.Clipboard on Wayland. *rescue*: the file that holds the user's clipboard
    text while ours is on it (as QtClipboard does)."""

    def __init__(self, rescue: Path | None = None, *, limit: float = LIMIT_SECONDS) -> None:
        self.rescue = ClipboardRescue(rescue)
        self.limit = limit
        self._offer: subprocess.Popen | None = None

    def _run(self, args: list[str], data: bytes | None = None,
             limit: float | None = None) -> subprocess.CompletedProcess:
        # wl-copy leaves a child serving the clipboard: it must not hold our pipes, or the run
        # would wait for it to end.
        quiet = args[0] == "wl-copy"
        try:
            return subprocess.run(args, input=data, timeout=limit or self.limit,
                                  stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
                                  stderr=subprocess.DEVNULL if quiet else subprocess.PIPE)
        except subprocess.TimeoutExpired as exc:
            raise OSError(f"{args[0]} did not answer within {limit or self.limit:g} s") from exc

    def types(self) -> list[str]:
        try:
            done = self._run(["wl-paste", "--list-types"])
        except OSError:
            # KWin (Plasma 5.27) tells a data-control client nothing once the clipboard's owner
            # has gone (our offer, pasted once): wl-paste waits on. Nothing is there to read.
            return []
        return done.stdout.decode("utf-8", "replace").split() if done.returncode == 0 else []

    def text(self) -> str | None:
        done = self._run(["wl-paste", "--no-newline", "--type", "text"])
        return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None

    def set_text(self, text: str) -> None:
        self._end_offer()
        done = self._run(["wl-copy", "--type", "text/plain;charset=utf-8"], text.encode("utf-8"))
        if done.returncode != 0:
            raise OSError(f"wl-copy could not set the clipboard (exit status {done.returncode})")

    def offer(self, text: str) -> None:
        self._end_offer()
        process = subprocess.Popen(["wl-copy", "--foreground", "--paste-once", "--type", OFFER_TYPE],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stdin is not None
        process.stdin.write(text.encode("utf-8"))
        process.stdin.close()
        self._offer = process
        deadline = time.monotonic() + self.limit
        while OFFER_TYPE not in self.types():  # not yet offered: a paste now would get the old text
            if process.poll() is not None:
                raise OSError(f"wl-copy failed: {process.stderr.read().decode('utf-8', 'replace').strip()[:200]}"
                              if process.stderr else "wl-copy failed")
            if time.monotonic() > deadline:
                self._end_offer()
                raise OSError(f"wl-copy did not set the clipboard within {self.limit:g} s")
            time.sleep(0.01)

    def reads(self) -> int | None:
        """1 once the offered text was read (wl-copy served it and ended), else 0."""
        if self._offer is None:
            return None
        return 1 if self._offer.poll() == 0 else 0

    def holds(self, text: str) -> bool:
        """Whether nobody has copied since our offer: it is still there, or it was pasted once and
        left the clipboard empty."""
        types = self.types()
        return OFFER_TYPE in types or not types

    def _end_offer(self) -> None:
        process, self._offer = self._offer, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.limit)
            except subprocess.TimeoutExpired:
                process.kill()

    def save(self) -> tuple[str, bytes] | None:
        """The clipboard in one type: text where it has text (else an image, else its first type)."""
        types = self.types()
        kept = (next((t for t in TEXT_TYPES if t in types), None)
                or next((t for t in types if t.startswith("image/")), None) or (types[0] if types else None))
        if kept is None:
            return None
        done = self._run(["wl-paste", "--no-newline", "--type", kept], limit=5 * self.limit)
        if done.returncode != 0 or len(done.stdout) > SAVE_LIMIT_BYTES:
            return None
        if kept in TEXT_TYPES:
            self.rescue.keep({"text/plain": done.stdout.decode("utf-8", "replace")})
        return kept, done.stdout

    def restore(self, saved: tuple[str, bytes] | None) -> None:
        self._end_offer()
        if saved is not None:
            kept, data = saved
            done = self._run(["wl-copy", "--type", kept], data)
            if done.returncode != 0:
                logger.warning("The clipboard could not be put back (wl-copy's exit status %s)", done.returncode)
        self.discard(saved)

    def discard(self, _saved: object) -> None:
        self.rescue.clear()

    def recover(self) -> bool:
        """After a crash mid-paste, the user's clipboard text kept aside comes back (as QtClipboard)."""
        text = next(iter(self.rescue.take().values()), None)
        try:
            if text is None or self.text():
                return False
            self.set_text(text)
        except OSError as exc:
            logger.warning("The clipboard kept aside could not be put back: %s", exc)
            return False
        return True

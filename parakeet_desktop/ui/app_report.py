"""What the app tells the person, in one place: its state in the tray (or control window) and
the menu, where every view of "ready" says how to dictate; notices and problems as notifications
(problems on the overlay too), each kept for ``parakeet-desktop status`` and ``doctor``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..desktop.inject import Delivery
from .app_state import AppState
from .menu import AppMenu
from .overlay import CaptionOverlay
from .self_report import SelfReport
from .status import ControlWindow, TrayStatus

logger = logging.getLogger(__name__)


class AppReport:
    def __init__(self, status: TrayStatus | ControlWindow, overlay: CaptionOverlay, menu: AppMenu,
                 record: SelfReport, hint: Callable[[], str]) -> None:
        """*hint*: how to dictate on this desktop with the settings in force, said when idle."""
        self.status = status
        self.overlay = overlay
        self.menu = menu
        self.record = record
        self._hint = hint
        self.state = AppState.LOADING

    def set_state(self, state: AppState, detail: str = "") -> None:
        self.state = state
        hint = self._hint()
        if state.idle:  # every view of "ready" says how to dictate
            detail = f"{detail} {hint}" if detail else hint
        self.status.set_state(state, detail)
        line = hint if state.idle else state.label + (f": {detail}" if state is AppState.ERROR else "")
        self.menu.show_state(state, line)

    def notice(self, title: str, message: str, *, error: bool = False) -> None:
        """Something the person should know: logged, kept for ``status``, notified."""
        (logger.warning if error else logger.info)("%s: %s", title, message)
        self.record.notice(f"{title}: {message}")
        self.status.notify(title, message, error=error)

    def engine_notice(self, message: str) -> None:
        """A notice of the engine's (the GPU given up, a vocabulary it cannot use): kept as it came."""
        logger.info("%s", message)
        self.record.notice(message)
        self.status.notify("Note", message)

    def problem(self, title: str, message: str) -> None:
        """Something that went wrong: notified as an error, kept, and shown on the overlay."""
        self.notice(title, message, error=True)
        self.overlay.show_message(message)

    def delivered(self, delivery: Delivery | None) -> None:
        if delivery is not None and not delivery.ok:
            self.problem("Scratch that" if delivery.scratch else "Text not typed", delivery.problem or "")

    def told(self, accepted: bool) -> bool:
        """*accepted*: what the engine's worker answered a dictation command (False while no
        engine runs): the person hears why nothing happens."""
        if not accepted:
            self.overlay.show_message("The model is still loading…" if self.state is AppState.LOADING
                                      else "Dictation is not available: the model did not load.")
        return accepted

"""The desktop app: the composition root that wires tray, hotkey, engine thread, overlay,
text injection and history together. Runs on the GUI thread."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from functools import partial
from typing import assert_never

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from ..control import Answers, answer
from ..desktop import autostart
from ..desktop.delivery import TextDelivery
from ..desktop.inject import system_keyboard
from ..desktop.routes import Desktop, Session
from ..engine import live
from ..engine.live import Mode, SessionState
from ..engine.model import model_title
from ..history.keeper import HistoryKeeper
from ..settings import Settings, data_dir, save_settings
from . import sounds
from .app_report import AppReport
from .app_state import AppState
from .clipboard import app_clipboard, qt_later
from .control_server import ControlServer
from .dictation_keys import DictationKeys
from .engine_thread import EngineThread, EngineWorker, spool_dir
from .file_jobs import FileJobs
from .history_window import open_history_window
from .local_api import LocalApi
from .menu import AppMenu, MenuActions
from .model_setup import ModelSetup, SetupHooks
from .overlay import CaptionOverlay
from .self_report import SelfReport
from .session_routes import SessionRoutes
from .settings_dialog import SettingsDialog
from .status import ControlWindow, TrayStatus

logger = logging.getLogger(__name__)


class DesktopApp(QObject):
    worker: EngineWorker  # the engine's worker now (a new one after a model change)
    status: TrayStatus | ControlWindow

    def __init__(self, settings: Settings, warnings: list[str], *, use_tray: bool | None = None,
                 sd=None, keyboard=None, started_at: float | None = None, choose_model: bool = True,
                 desktop: Desktop | None = None) -> None:
        super().__init__()
        self.routes = SessionRoutes(desktop)  # the hotkey and typing the way this desktop allows
        self.settings = settings
        self.record = SelfReport(started_at)
        self.mode = Mode(settings.mode)
        self.keeper = HistoryKeeper(settings, spool_dir(), lambda inputs: self.worker.transcribe_audio(inputs),
                                    open_history_window)
        self.history = self.keeper.history
        self.files = FileJobs(lambda: self.worker, self.keeper, lambda notice: self.status.notify("Recovered", notice))
        self.file_window = self.files.window
        self.setup = ModelSetup(SetupHooks(
            model=lambda: self.settings.model, use_model=self.use_model, retry=self.start_engine, quit=self.quit,
            cancel_download=lambda: self.worker.cancel_download.set(),
            download_cancelled=lambda: self.worker.cancel_download.is_set()), choose_model)
        self.microphone_ok = True
        self.model_resting = False  # the model gave the GPU's memory back while idle
        self.overlay = CaptionOverlay(settings.overlay_position, settings.overlay_opacity, settings.overlay_width)
        self.delivery = TextDelivery(settings, self.history, keyboard or system_keyboard(),
                                     app_clipboard(self.routes.desktop), qt_later,
                                     desktop=self.routes.desktop, portal_keyboard=self.routes.portal_keyboard)
        self.delivery.keys_pressed = self.routes.keys_pressed
        self.app_menu = AppMenu(MenuActions(
            toggle=self.toggle, set_mode=self.set_mode, show_files=self.show_files, show_settings=self.show_settings,
            show_history=self.show_history, copy_last=self.copy_last, paste_last=self.paste_last, quit=self.quit,
            has_last=lambda: self.delivery.last() is not None,
            ask_desktop=self.ask_desktop if self.routes.desktop.session is Session.WAYLAND else None), self.mode)
        self.menu = self.app_menu.menu
        if use_tray is None:
            use_tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.status = TrayStatus(self.menu, self.show_history) if use_tray else ControlWindow(self.menu)
        if isinstance(self.status, ControlWindow):
            self.status.dictate.connect(self.toggle)
        self.report = AppReport(self.status, self.overlay, self.app_menu, self.record,
                                lambda: self.routes.hint(self.settings.hotkey, self.mode))
        self.keys = DictationKeys(lambda: self.worker, lambda: self.mode, self.report.told, self)
        self._sd = sd
        self.settings_dialog: SettingsDialog | None = None
        self.worker = EngineWorker(settings, sd=sd)
        self.engine_thread = EngineThread(self.worker)
        self.control = ControlServer(partial(answer, app=Answers(
            listening=lambda: self.state is AppState.LISTENING,
            toggle=lambda: self.report.told(self.worker.toggle(self.mode)),
            stop=lambda: self.report.told(self.worker.stop()),
            quit=lambda: QTimer.singleShot(0, self.quit), show=self._come_forward, status=self.status_report)), self)
        self.local_api = LocalApi()
        self._connect()
        self._startup_warnings = warnings
        self._warned_at_start = False

    @property
    def state(self) -> AppState:
        return self.report.state

    # --- start and stop -------------------------------------------------------------------

    def start(self) -> None:
        self.control.listen()
        if isinstance(self.status, ControlWindow):
            self.status.show()
        self.status.set_state(AppState.LOADING, f"Loading {model_title(self.settings.model)}…")
        QTimer.singleShot(0, self.record.shown)
        if not self.setup.must_choose():
            self.engine_thread.start()
        else:
            self.status.set_state(AppState.LOADING, "Choose a speech model to begin.")
        self.ask_desktop()
        self._apply_local_api()
        warnings = self._startup_warnings + ([self.history.problem] if self.history.problem else [])
        if self.delivery.clipboard.recover():
            warnings.append("The app stopped while pasting; what you had copied is back on the clipboard.")
        if warnings:  # all of them in one message: a second would replace the first
            self.status.notify("At start", " ".join(warnings), error=True)
        self._warned_at_start = bool(warnings)

    def ask_desktop(self) -> None:
        """The hotkey and the typing keyboard asked for (off this thread): at start, and anew from
        the menu's “Ask the desktop again” after a refusal or a dialog nobody answered."""
        self.routes.start_hotkey(self.settings.hotkey)
        self.routes.prepare_typing(self.delivery.injector.method)

    def quit(self) -> None:
        self.routes.stop_hotkey()
        self.control.close()
        self.local_api.stop()
        self.overlay.hide()
        if self.worker.engine is None and self.engine_thread.isRunning():
            # Still loading the model: that cannot be interrupted, and nothing is unsaved.
            os._exit(0)
        # Quit within a second: an utterance still being finished is on disk (spooled) and is
        # recovered at the next start; audio not yet written for the history is written then.
        self.engine_thread.shutdown(wait_ms=800)
        self.keeper.close(wait=False)
        if isinstance(self.status, TrayStatus):
            self.status.hide()
        # exit(), not quit(): Qt 6's quit() asks every window to close first, and the control
        # window refuses (it minimises), which would cancel the quit.
        QApplication.exit(0)

    # --- wiring ---------------------------------------------------------------------------

    def _connect(self) -> None:
        self._connect_worker()
        self.routes.pressed.connect(self.keys.pressed)
        self.routes.released.connect(self.keys.released)
        # Portal answers come on their own threads: a method of this QObject is queued to the GUI's.
        self.routes.notice.connect(self._on_route_notice)
        self.delivery.tell = partial(self.report.problem, "Not pasted")

    def _on_route_notice(self, title: str, message: str, error: bool) -> None:
        self.report.notice(title, message, error=error)

    def _connect_worker(self) -> None:
        # Bound methods of this GUI-thread object, never lambdas: Qt queues a signal from the
        # engine thread only to a receiver object living in another thread; a lambda would run
        # on the engine thread and touch widgets there.
        self.worker.download_progress.connect(self._on_download_progress)
        self.worker.ready.connect(self._on_ready)
        self.worker.failed.connect(self._on_failed)
        self.worker.engine_event.connect(self._on_event)

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.settings.mode = mode
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.report.problem("Settings", f"Could not save the settings: {exc}")

    # --- engine events --------------------------------------------------------------------

    def _on_event(self, event: live.Event) -> None:
        match event:
            case live.StateChanged(state, mode):
                self._on_state(state, mode)
            case live.Partial(_utterance, text):
                self.record.caption = text
                self.overlay.show_partial(text)
            case live.Final():
                self._on_final(event)
            case live.Level(dbfs):
                if self.settings_dialog is not None:
                    self.settings_dialog.show_level(dbfs)
            case live.ErrorEvent(message):
                self.report.problem("Dictation", message)
            case live.Notice(message):
                self.report.engine_notice(message)
            case live.MicrophoneState(available, message):
                self._on_microphone(available, message)
            case live.FileProgress():
                self.files.progress(event)
            case live.FileDone():
                self.files.done(event)
            case live.ModelResting(resting, seconds):
                self._on_resting(resting, seconds)
            case live.WakingUp():
                if self.state is AppState.LISTENING:  # what is said now is kept and comes once it is back
                    self.overlay.show_partial("Waking up the model…")
            case live.StreamStopped():
                pass  # the desktop app opens no streams
            case _:
                assert_never(event)

    def _on_leaving_event(self, event: live.Event) -> None:
        """An event of an engine being replaced: its state changes, captions and notices are not
        the new engine's; a final text it still delivers (an utterance in progress) is kept."""
        if not isinstance(event, live.StateChanged | live.Partial | live.Notice):
            self._on_event(event)

    def _on_ready(self, name: str, device: str) -> None:
        self.record.ready()
        self.local_api.engine_ready(self.worker.engine)
        self.keeper.engine_ready()
        self.setup.ready(self.routes.hint(self.settings.hotkey, self.mode))
        self.files.engine_ready()
        self.model_resting = False
        self.report.set_state(AppState.READY, f"{model_title(name)} on {'the GPU' if device == 'cuda' else 'the CPU'}.")
        taught = data_dir() / "hotkey-taught"
        if not taught.exists() and not self._warned_at_start:  # once, and never over a warning
            self.status.notify("Ready to dictate", self.routes.hint(self.settings.hotkey, self.mode))
            with contextlib.suppress(OSError):
                taught.touch()

    def _on_download_progress(self, done: int, total: int | None) -> None:
        self.setup.progress(done, total)  # through this GUI-thread object, so Qt queues the signal

    def _on_failed(self, message: str, model_problem: bool) -> None:
        self.report.set_state(AppState.ERROR, message)
        self.local_api.engine_failed(message)
        if self.setup.failed(message, model_problem):  # not downloaded, removed, damaged: get one
            return
        self.status.notify("The model could not be loaded", message, error=True)

    def _on_state(self, session: SessionState, mode: Mode) -> None:
        if session is SessionState.LISTENING:
            if self.state is not AppState.LISTENING:
                self.record.caption = ""
                self.overlay.show_listening()
                if self.settings.sounds:
                    sounds.play(sounds.START)
            self.report.set_state(AppState.LISTENING, "Hands-free: what you say is typed at each pause."
                                  if mode is Mode.HANDS_FREE else "")
        elif session is SessionState.FINALISING:
            self.delivery.injector.aim()  # the key release: the words are for the window focused now
            self.overlay.show_finishing()
            self.report.set_state(AppState.FINISHING)
        else:
            if self.state is AppState.FINISHING and self.settings.sounds:
                sounds.play(sounds.STOP)
            self.keys.gesture.reset()
            self.report.set_state(self._idle_state() if self.microphone_ok else AppState.ERROR)

    def _idle_state(self) -> AppState:
        return AppState.RESTING if self.model_resting else AppState.READY

    def _on_resting(self, resting: bool, seconds: float) -> None:
        logger.info("The model %s in %.2f s", "rests (GPU memory given back)" if resting else "is back", seconds)
        self.model_resting = resting
        if self.state.idle:
            self.report.set_state(self._idle_state())

    def _on_microphone(self, available: bool, message: str) -> None:
        self.microphone_ok = available
        if (self.state.idle or self.state is AppState.ERROR) and self.worker.engine is not None:
            self.report.set_state(self._idle_state() if available else AppState.ERROR, message)

    def _on_final(self, final: live.Final) -> None:
        text, delivery, unsaved = self.delivery.final(final.text, final.seconds, self.worker.model_name)
        if unsaved is None:  # the text is safe in the history (or there was none): keep or drop its audio
            self.keeper.saved(self.delivery.last_entry, final.spool)
        self.overlay.show_final(text)
        self.report.delivered(delivery)
        if unsaved:
            self.status.notify("History", unsaved, error=True)

    # --- user actions ---------------------------------------------------------------------

    def toggle(self) -> None:
        self.report.told(self.worker.toggle(self.mode))

    def show_files(self) -> None:
        self.files.show()

    def show_settings(self) -> None:
        from ..engine.audio import MicrophoneError, list_input_devices

        try:
            microphones = [d.name for d in list_input_devices()]
        except MicrophoneError as exc:
            microphones = []
            self.report.problem("Microphones", str(exc))
        dialog = SettingsDialog(self.settings, microphones, api_token=self.local_api.token(),
                                api_status=self.local_api.status(),
                                desktop_routes=self.routes.report(self.settings.hotkey, self.settings.injection))
        self.settings_dialog = dialog  # the microphone's level goes to it while it is open
        if dialog.exec():
            self.apply_settings(dialog.result_settings())
        self.settings_dialog = None

    def apply_settings(self, new: Settings) -> None:
        """Save *new* and make it take effect: at once where possible, reloading the model only
        when the model or device changed."""
        old, self.settings = self.settings, new
        try:
            save_settings(new)
        except OSError as exc:
            self.report.problem("Settings", f"Could not save the settings: {exc}")
        self.mode = Mode(new.mode)
        self.app_menu.show_mode(self.mode)
        self.overlay.configure(new.overlay_position, new.overlay_opacity, new.overlay_width)
        self.delivery.configure(new)
        self.keeper.configure(new)
        if new.hotkey != old.hotkey:
            self.routes.start_hotkey(new.hotkey, changed=True)
        # The portal's keyboard is asked for (again, after a refusal) whenever settings are saved.
        self.routes.prepare_typing(self.delivery.injector.method)
        if new.start_at_login != old.start_at_login:
            try:
                autostart.set_enabled(new.start_at_login)
            except OSError as exc:
                self.report.problem("Start at login", f"Could not change it: {exc}")
        # A first vocabulary or the local API (or neither left) loads the model again, with
        # phrase boosting on or off.
        if (new.model, new.device, new.phrase_boosting) != (old.model, old.device, old.phrase_boosting):
            self._reload_engine()
        else:
            self.worker.reconfigure(new)
        self._apply_local_api()

    def _apply_local_api(self) -> None:
        error = self.local_api.apply(self.settings)
        if error:
            self.report.problem("Local API", f"The local API could not start: {error}")

    def _reload_engine(self) -> None:
        if self.worker.engine is None and self.engine_thread.isRunning():
            self.report.problem("Settings", "The new model will be used at the next start: the current "
                                      "one is still loading.")
            return
        old = self.worker
        for signal in (old.ready, old.failed, old.engine_event):
            signal.disconnect()
        old.engine_event.connect(self._on_leaving_event)
        self.engine_thread.shutdown()
        self.start_engine()

    def use_model(self, ref: str) -> None:
        """A model to download or a .nemo file, chosen in the first-run window: saved, and
        loaded where no engine runs yet (first start) or a failed load left none."""
        self.apply_settings(dataclasses.replace(self.settings, model=ref))
        if self.worker.engine is None and not self.engine_thread.isRunning():
            self.start_engine()

    def start_engine(self) -> None:
        """A new engine thread for the current settings (after a failed load, or a new model)."""
        if self.engine_thread.isRunning():
            return
        self.worker = EngineWorker(self.settings, sd=self._sd)
        self.engine_thread = EngineThread(self.worker)
        self._connect_worker()
        self.report.set_state(AppState.LOADING, f"Loading {model_title(self.settings.model)}…")
        self.local_api.engine_reloading(self.settings.model)
        self.engine_thread.start()

    def show_history(self) -> None:
        self.keeper.show()

    def copy_last(self) -> None:
        if not self.delivery.copy_last():
            self.overlay.show_message("Nothing dictated yet.")

    def paste_last(self) -> None:
        delivery = self.delivery.paste_last()
        if delivery is None:
            self.overlay.show_message("Nothing dictated yet.")
        self.report.delivered(delivery)

    def _come_forward(self) -> None:
        """A second launch: this app is the one, and says so."""
        if isinstance(self.status, ControlWindow):
            self.status.showNormal()
            self.status.raise_()
        self.status.notify("Parakeet Desktop", "Already running.")

    def status_report(self) -> dict:
        return self.record.report(state=self.state, mode=self.mode, model=self.worker.model_name,
                                  tray=isinstance(self.status, TrayStatus), local_api=self.local_api.url,
                                  **self.routes.status(self.settings.hotkey, self.delivery.injector.route))

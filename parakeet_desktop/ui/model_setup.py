"""Getting the app a model it can load: the first-run window's side in the app. Asks which model
before any download, follows the download and the load, and takes the user's way out (another
model, a local file, Quit) when a model cannot be had. Runs on the GUI thread."""

from __future__ import annotations

import dataclasses

from ..engine.registry import REGISTRY
from .first_run import FirstRunWindow


class ModelSetup:
    def __init__(self, app, choose: bool = True) -> None:
        """*choose*: ask which model when the configured one would have to be downloaded (False
        when the user named one on the command line)."""
        self.app = app
        self.choose = choose
        self.window: FirstRunWindow | None = None
        self._done: FirstRunWindow | None = None  # shown as ready, until the user closes it

    def must_choose(self) -> bool:
        """At start: whether the user is asked first (the window then shows the choice)."""
        model = self.app.settings.model
        if not self.choose or not any(info.id == model for info in REGISTRY):
            return False
        from ..engine.registry import cached_model_file

        if cached_model_file(model) is not None:
            return False
        self._window().choose()
        return True

    def _window(self) -> FirstRunWindow:
        if self.window is None:
            self.window = FirstRunWindow(self.app.settings.model)
            self.window.retry.connect(self.app._start_engine)
            self.window.use_file.connect(self._use)
            self.window.download.connect(self._use)
            self.window.cancel.connect(self._cancel)
            self.window.quit.connect(self.app.quit)
            self.window.show()
        return self.window

    def _use(self, ref: str) -> None:
        """A model to download or a .nemo file, chosen in the window."""
        app = self.app
        app.apply_settings(dataclasses.replace(app.settings, model=ref))
        if app.worker.engine is None and not app.thread.isRunning():
            app._start_engine()  # no engine yet (first start), or a failed load left none

    def _cancel(self) -> None:
        self.app.worker.cancel_download.set()

    # --- the engine's side ----------------------------------------------------------------

    def progress(self, done: int, total: int | None) -> None:
        window = self._window()
        window.progress(done, total)
        if total and done >= total:
            window.downloaded()

    def ready(self, hint: str) -> None:
        if self.window is not None:
            self.window.ready(hint)
            self._done, self.window = self.window, None

    def failed(self, message: str, model_problem: bool) -> bool:
        """Whether the window took the failure (the model could not be had)."""
        if not (model_problem or self.window is not None):
            return False
        window = self._window()
        if self.app.worker.cancel_download.is_set():
            window.choose()
        else:
            window.failed(message)
        return True

"""Getting the app a model it can load: the first-run window's side in the app. Asks which model
before any download, follows the download and the load, and takes the user's way out (another
model, a local file, Quit) when a model cannot be had. Runs on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..engine.model import REGISTRY
from .first_run import FirstRunWindow


@dataclass(frozen=True)
class SetupHooks:
    """What the window needs of the app."""

    model: Callable[[], str]  # the configured model
    use_model: Callable[[str], None]  # a model id to download or a .nemo file: save it, load it
    retry: Callable[[], None]  # load the configured model again
    quit: Callable[[], None]
    cancel_download: Callable[[], None]
    download_cancelled: Callable[[], bool]


class ModelSetup:
    def __init__(self, hooks: SetupHooks, choose: bool = True) -> None:
        """*choose*: ask which model when the configured one would have to be downloaded (False
        when the user named one on the command line)."""
        self.hooks = hooks
        self.choose = choose
        self.window: FirstRunWindow | None = None
        self._done: FirstRunWindow | None = None  # shown as ready, until the user closes it

    def must_choose(self) -> bool:
        """At start: whether the user is asked first (the window then shows the choice)."""
        model = self.hooks.model()
        if not self.choose or not any(info.id == model for info in REGISTRY):
            return False
        from ..engine.model import cached_model_file

        if cached_model_file(model) is not None:
            return False
        self._window().choose()
        return True

    def _window(self) -> FirstRunWindow:
        if self.window is None:
            self.window = FirstRunWindow(self.hooks.model())
            self.window.retry.connect(self.hooks.retry)
            self.window.use_file.connect(self.hooks.use_model)
            self.window.download.connect(self.hooks.use_model)
            self.window.cancel.connect(self.hooks.cancel_download)
            self.window.quit.connect(self.hooks.quit)
            self.window.show()
        return self.window

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
        if self.hooks.download_cancelled():
            window.choose()
        else:
            window.failed(message)
        return True

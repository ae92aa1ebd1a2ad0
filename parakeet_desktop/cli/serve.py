"""``parakeet-desktop serve``: the local speech service without a desktop, on the thread that
loads the model, until Ctrl+C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from typing import assert_never

from ..engine.live import (
    ErrorEvent,
    Event,
    FileDone,
    FileProgress,
    Final,
    Level,
    MicrophoneState,
    ModelResting,
    Notice,
    Partial,
    StateChanged,
    StreamStopped,
    WakingUp,
)
from ..service.app import ServiceConfig
from ..service.link import EngineLink
from ..service.security import NON_LOOPBACK_WARNING, STREAMS_WITHOUT_TOKEN_WARNING, is_loopback
from ..service.server import LocalService
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_MODEL, EXIT_OK
from .terminal import load_model_saying_so, say

# The service's own logger: what ``serve`` shows without --verbose (cli/main.py quiets the rest).
logger = logging.getLogger("parakeet_desktop.service")


def run_serve(args) -> int:
    """``parakeet-desktop serve``: the service without a desktop, until Ctrl+C or SIGTERM."""
    from ..engine.live import LiveEngine, LiveSettings

    if not args.verbose:
        logging.getLogger("parakeet_desktop.service").setLevel(logging.INFO)
    if not is_loopback(args.host):
        say(NON_LOOPBACK_WARNING.format(host=args.host))
    if args.streams_without_token:
        say(STREAMS_WITHOUT_TOKEN_WARNING)
    link = EngineLink(args.model)
    config = ServiceConfig(host=args.host, port=args.port, max_waiting=max(1, args.max_queue),
                           allowed_origins=tuple(args.allow_origin), gather=args.batching,
                           streams_without_token=args.streams_without_token)
    try:
        service = LocalService(link, config)
        service.start()
    except OSError as exc:
        say(f"error: the service cannot start: {exc}")
        return EXIT_FAILED
    say(f"Serving on {service.url} ({service.token_source}). Ctrl+C stops.")
    stopping = threading.Event()
    engine = None

    def stop(_signum, _frame) -> None:
        stopping.set()
        link.stopping()  # from now on, 503 shutting_down
        if engine is not None:
            engine.shutdown()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        model = load_model_saying_so(args.model, args.device, boosting=True)  # for requests' keywords
        if model is None or stopping.is_set():
            link.failed("the model could not be loaded")
            return EXIT_MODEL if model is None else EXIT_INTERRUPTED
        settings = LiveSettings(rest_after_seconds=max(0, args.free_gpu_after) * 60.0 or None,
                                diarization_model=args.diarization_model, speaker_model=args.speaker_model)
        engine = LiveEngine(model, settings, _log_event, microphone=False)
        link.attach(engine)
        say(f"Ready: {model.name} on {model.device}.")
        engine.run()  # here, on the thread that loaded the model, until a signal stops it
        say("Stopped.")
        return EXIT_OK
    finally:
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_event(event: Event) -> None:
    """The engine's own events, when it runs headless: what a person should know goes to the log
    (the streams and requests have their own listeners)."""
    match event:
        case ErrorEvent(message) | Notice(message):
            logger.warning("%s", message)
        case ModelResting(resting, seconds):
            logger.info("The model %s (%.2f s)", "rests: its GPU memory is given back" if resting
                        else "is back on the GPU", seconds)
        case (StateChanged() | Level() | Partial() | Final() | MicrophoneState() | FileProgress() | FileDone()
              | StreamStopped() | WakingUp()):
            pass
        case _:
            assert_never(event)

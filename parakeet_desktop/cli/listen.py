"""``parakeet-desktop listen``: live dictation in a terminal, events as JSON lines on stdout.

From the microphone, or from a file played as if spoken into one (``--input``), in real time or
as fast as the machine goes (``--fast``). Each line is one event: ``state``, ``partial``,
``final`` or ``error``; ``--levels`` adds the input level. Human-readable notes go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import assert_never

from ..engine.live import (
    ErrorEvent,
    Event,
    FileDone,
    FileProgress,
    Final,
    Level,
    MicrophoneState,
    Mode,
    ModelResting,
    Notice,
    Partial,
    StateChanged,
    StreamStopped,
    WakingUp,
)
from ..engine.model import DEVICE_CHOICES
from ..engine.recognize import Latency
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_MODEL, EXIT_OK
from .terminal import load_model_saying_so, say


def add_arguments(parser: argparse.ArgumentParser, default_model: str) -> None:
    parser.add_argument("--input", metavar="FILE",
                        help="play this audio file as if it were the microphone")
    parser.add_argument("--fast", action="store_true",
                        help="with --input: as fast as possible rather than in real time")
    parser.add_argument("--mode", choices=[mode.value for mode in Mode], default="ptt",
                        help="ptt: one utterance until you stop; handsfree: each pause ends an "
                             "utterance (default: ptt)")
    parser.add_argument("--no-final-pass", action="store_true",
                        help="final text from streaming alone, without a full-context pass")
    parser.add_argument("--model", default=default_model,
                        help=f"model id or path to a .nemo file (default: {default_model})")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where to run the model (default: auto)")
    parser.add_argument("--microphone", metavar="NAME",
                        help="input device by name or part of it (default: the system default)")
    parser.add_argument("--list-microphones", action="store_true", help="list input devices and exit")
    parser.add_argument("--chunk", type=float, metavar="SECONDS", help="streaming chunk length")
    parser.add_argument("--left", type=float, metavar="SECONDS", help="streaming left context")
    parser.add_argument("--right", type=float, metavar="SECONDS", help="streaming right context")
    parser.add_argument("--latency", choices=[latency.value for latency in Latency], default="balanced",
                        help="live captions: fast shows words sooner, accurate gets more right (default: balanced)")
    parser.add_argument("--step", type=_milliseconds, metavar="MS",
                        help="a streaming model's step (its look-ahead), e.g. 80, 160, 560 or 1120 ms for "
                             "nemotron-speech-streaming; the nearest it offers is used")
    parser.add_argument("--levels", action="store_true", help="also print input level events")


def _milliseconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds") from None
    if not 10 <= value <= 10000:
        raise argparse.ArgumentTypeError(f"{value} ms is not a step between 10 and 10000 ms")
    return value


class _Printer:
    """Engine events as JSON lines; called on the engine thread."""

    def __init__(self, levels: bool) -> None:
        self.levels = levels
        self.started = time.monotonic()
        self.first_error: str | None = None
        self.opened = threading.Event()

    def __call__(self, event: Event) -> None:
        t = round(time.monotonic() - self.started, 3)
        match event:
            case Partial(utterance, text):
                self._line({"type": "partial", "utterance": utterance, "text": text, "t": t})
            case Final():
                self._line({"type": "final", "utterance": event.utterance, "text": event.text,
                            "words": [{"word": w.text, "start": w.start, "end": w.end} for w in event.words],
                            "seconds": event.seconds, "full_context": event.full_context,
                            "reason": event.reason.value, "t": t})
            case StateChanged(state, mode):
                self._line({"type": "state", "state": state.value, "mode": mode.value, "t": t})
            case Level(dbfs):
                if self.levels:
                    self._line({"type": "level", "dbfs": round(dbfs, 1), "t": t})
            case ErrorEvent(message):
                self.first_error = self.first_error or message
                self.opened.set()
                self._line({"type": "error", "message": message, "t": t})
                say(f"error: {message}")
            case Notice(message):
                say(f"note: {message}")
            case MicrophoneState(available, message):
                self.opened.set()
                if available:  # one that could not be opened is an error line already
                    say(f"note: {message}")
            case FileProgress() | FileDone() | StreamStopped() | ModelResting() | WakingUp():
                pass  # no files or streams here; the model does not rest in a command
            case _:
                assert_never(event)

    @staticmethod
    def _line(record: dict) -> None:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def _settings(args: argparse.Namespace):
    from ..engine.live import FinalPass, LiveSettings
    from ..engine.recognize import StreamingChoice

    choice = StreamingChoice(latency=Latency(args.latency), chunk=args.chunk, left=args.left, right=args.right,
                             step=None if args.step is None else args.step / 1000)
    return LiveSettings(streaming=choice, final_pass=FinalPass.NEVER if args.no_final_pass else FinalPass.AUTO)


def _say_what_applies(args: argparse.Namespace, model) -> None:
    """Streaming options of the other route are not silently ignored."""
    from ..engine.recognize import step_seconds

    sizes = [f"--{name}" for name in ("chunk", "left", "right") if getattr(args, name) is not None]
    if model.streaming_contexts:
        steps = ", ".join(f"{1000 * step:.0f}" for step in step_seconds(model))
        if sizes:
            verb = "does" if len(sizes) == 1 else "do"
            say(f"note: {' '.join(sizes)} {verb} not apply to a streaming model, which steps by its look-ahead "
                f"(--step: {steps} ms)")
    elif args.step is not None:
        say("note: --step applies to streaming models only; this one streams in chunks (--chunk, --left, --right)")


def run_listen(args: argparse.Namespace) -> int:
    from ..engine.audio import FileSoundDevice, MicrophoneError, list_input_devices

    sd = None
    if args.input:
        from ..engine.audio import AudioError

        try:
            sd = FileSoundDevice(args.input, realtime=not args.fast)
        except AudioError as exc:
            say(f"error: {exc}")
            return EXIT_FAILED
    if args.list_microphones:
        try:
            devices = list_input_devices(sd)
        except MicrophoneError as exc:
            say(f"error: {exc}")
            return EXIT_FAILED
        if not devices:
            say("No microphones found.")
            return EXIT_FAILED
        for device in devices:
            print(f"{device.name}{'  (default)' if device.is_default else ''}")
        return EXIT_OK

    from ..engine.live import LiveEngine

    model = load_model_saying_so(args.model, args.device)
    if model is None:
        return EXIT_MODEL

    _say_what_applies(args, model)
    printer = _Printer(args.levels)
    try:
        engine = LiveEngine(model, _settings(args), printer, device_name=args.microphone, sd=sd)
    except MicrophoneError as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    mode = Mode(args.mode)
    engine.until_input_ends = sd is not None
    engine.start(mode)
    if sd is None:
        def wait_for_enter() -> None:
            printer.opened.wait()
            if not engine.microphone.running:  # no microphone: the error is out, stop here
                engine.shutdown()
                return
            say("Listening. Press Enter to stop." if mode is Mode.PUSH_TO_TALK
                 else "Listening hands-free: each pause ends an utterance. Press Enter to stop.")
            sys.stdin.readline()
            engine.shutdown()

        threading.Thread(target=wait_for_enter, name="stdin", daemon=True).start()
    # The engine runs here, on the thread that loaded the model (see LiveEngine).
    try:
        engine.run()
    except KeyboardInterrupt:
        engine.session.stop()
        return EXIT_INTERRUPTED
    if engine.microphone.device is None:  # no microphone could be opened
        return EXIT_FAILED
    return EXIT_OK

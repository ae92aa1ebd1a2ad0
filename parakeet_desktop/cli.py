"""Command line: ``parakeet-desktop [transcribe|listen|serve|toggle|start|stop|status|quit|doctor] ...``;
without a command, the desktop app.

Nothing heavy is imported here: torch and NeMo load only when a command needs a model.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from .config import DEFAULT_API_PORT as DEFAULT_PORT
from .engine.devices import DEVICE_CHOICES
from .engine.export import FORMATS
from .engine.registry import DEFAULT_MODEL_ID as DEFAULT_MODEL
from .listen import add_arguments as add_listen_arguments
from .terminal import load_model_saying_so, say

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130


logger = logging.getLogger(__name__)


def _strength(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 10:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to 10")
    return int(value)


def _formats(value: str) -> list[str]:
    chosen = FORMATS if value == "all" else tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or value!r}; choose from {', '.join(FORMATS)} or all")
    return list(dict.fromkeys(chosen))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parakeet-desktop",
        description="Local speech recognition with NVIDIA Parakeet: dictation and file transcription.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--model", dest="app_model", metavar="MODEL",
                        help="without a command: start the app with this model id or .nemo file")
    parser.add_argument("--device", dest="app_device", choices=DEVICE_CHOICES,
                        help="without a command: start the app on this device")
    parser.add_argument("--no-tray", action="store_true",
                        help="without a command: use the small control window instead of a tray icon")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    transcribe = commands.add_parser(
        "transcribe", help="transcribe audio or video files",
        description="Transcribe audio or video files. Exit status: 0 all files done, 1 some files "
                    "failed, 2 bad arguments, 3 the model could not be loaded, 130 interrupted.")
    transcribe.add_argument("files", nargs="+", type=Path, metavar="FILE")
    transcribe.add_argument("--model",
                            help="model id or path to a .nemo file (default: the running app's model, "
                                 f"else {DEFAULT_MODEL})")
    transcribe.add_argument("--device", choices=DEVICE_CHOICES,
                            help="where to run the model (default: auto, the GPU when usable)")
    transcribe.add_argument("--overwrite", action="store_true",
                            help="replace output files that are already there (without it, a new output "
                                 "gets a free name such as “talk (2).txt”)")
    transcribe.add_argument("--no-service", action="store_true",
                            help="load a model here even when the running app's local service could "
                                 "do the work")
    transcribe.add_argument("--format", type=_formats, default=["txt"], metavar="FMT",
                            help="txt, srt, vtt, json, a comma list, or all (default: txt)")
    transcribe.add_argument("--output-dir", metavar="DIR",
                            help="where to write results (default: beside each file; - for stdout)")
    transcribe.add_argument("--vocabulary", type=Path, metavar="FILE",
                            help="words and phrases to favour while recognising (names, jargon), one a "
                                 "line, written as they should appear; the files are then transcribed "
                                 "by a model loaded here")
    transcribe.add_argument("--vocabulary-strength", type=_strength, default=5, metavar="N",
                            help="how strongly to favour them, 1 to 10 (default: 5)")

    listen = commands.add_parser(
        "listen", help="dictate live; events as JSON lines",
        description="Live dictation from the microphone (or a file played as if live): partial "
                    "and final text as JSON lines on stdout. Exit status: 0 done, 1 no microphone "
                    "or unreadable input, 3 the model could not be loaded, 130 interrupted.")
    add_listen_arguments(listen, DEFAULT_MODEL)

    for name, text in (("toggle", "start or stop dictation in the running app"),
                       ("start", "start dictation in the running app"),
                       ("stop", "stop dictation in the running app"),
                       ("status", "print the running app's state as JSON"),
                       ("quit", "quit the running app")):
        commands.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. Bind "
                            "“parakeet-desktop toggle” to a key in your desktop's shortcut settings "
                            "where the app's own hotkey cannot work (Wayland).")

    serve = commands.add_parser(
        "serve", help="run the local speech service without a desktop",
        description="Serve the model to other programs: OpenAI-style HTTP (/v1/audio/transcriptions, "
                    "/v1/models, /v1/jobs), a WebSocket stream (/v1/stream) and /health. Every request "
                    "needs the token kept in the app's settings folder (api-token). Ctrl+C or SIGTERM "
                    "stops it. Exit status: 0 stopped, 1 cannot listen, 3 the model could not be loaded.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    serve.add_argument("--model", default=DEFAULT_MODEL,
                       help=f"model id or path to a .nemo file (default: {DEFAULT_MODEL})")
    serve.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                       help="where to run the model (default: auto)")
    serve.add_argument("--max-queue", type=int, default=32, metavar="N",
                       help="HTTP requests waiting or running at once; more are told to retry (429) "
                            "(default: 32)")
    serve.add_argument("--free-gpu-after", type=int, default=15, metavar="MINUTES",
                       help="minutes without requests or streams before a model on the GPU gives its "
                            "memory back (it comes back with the next request); 0: never (default: 15)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="let web pages from this origin (such as https://notes.example.com) use the "
                            "service; may be given more than once")

    doctor = commands.add_parser("doctor", help="report what this machine offers the app")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


class _ProgressBar:
    """A one-line progress bar on a terminal's stderr; silent when stderr is not a terminal."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._last = 0.0

    def update(self, progress) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        filled = int(progress.fraction * 30)
        line = (f"\r[{'#' * filled}{'-' * (30 - filled)}] {progress.fraction:4.0%}  "
                f"file {min(progress.file_index + 1, progress.file_count)}/{progress.file_count} "
                f"{progress.current[:40]}")
        self.stream.write(line.ljust(100)[:100])
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def _running_service(args: argparse.Namespace):
    """The running app's local service, when one answers and the command asked for nothing it
    does not offer (another model, a device)."""
    if args.no_service or args.device is not None or args.vocabulary is not None:
        return None
    from .config import config_dir
    from .service.client import find_running_service

    service = find_running_service(config_dir(), report=lambda why: say(f"note: {why}."))
    if service is None or args.model not in (None, service.model):
        return None
    say(f"Using the running app's {service.model} on {service.device} ({service.url}).")
    return service


def _service_results(service, args: argparse.Namespace, paths: list[Path], progress):
    """FileResults from the running app; a service that stops answering leaves the files it did
    not do to a model loaded here."""
    from .engine.files import FileResult
    from .service.client import ServiceError, transcribe_with_service

    for index, path in enumerate(paths):
        try:
            yield FileResult(path, transcript=transcribe_with_service(service, path))
        except ServiceError as exc:
            if exc.unreachable:
                say(f"note: {exc}; going on without it.")
                yield from _local_results(args, paths[index:], progress)
                return
            yield FileResult(path, error=str(exc).removeprefix(f"{path.name}: "))


def _local_results(args: argparse.Namespace, paths: list[Path], progress):
    from .engine.files import FileTranscriber

    model = load_model_saying_so(args.model or DEFAULT_MODEL, args.device or "auto",
                                 boosting=args.vocabulary is not None)
    if model is None:
        raise _NoModel()
    if args.vocabulary is not None:
        model.set_vocabulary(args.vocabulary)  # a list it cannot use is told through on_notice
    yield from FileTranscriber(model).transcribe_files(paths, progress=progress)


class _NoModel(Exception):
    pass


def _unreadable(path: Path) -> str | None:
    """Why *path* cannot be transcribed at all, found before any model is loaded."""
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "is a folder, not an audio file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def run_transcribe(args: argparse.Namespace) -> int:
    from .engine import export

    files, failed_files = [], set()
    for path in args.files:  # say what cannot work before loading anything (a model takes a while)
        if (why := _unreadable(path)) is not None:
            say(f"error: {path}: {why}")
            failed_files.add(path)
        else:
            files.append(path)
    if args.vocabulary is not None:  # read before loading anything, like the files
        from .engine.vocabulary import Vocabulary, read_vocabulary

        try:
            args.vocabulary = Vocabulary(read_vocabulary(args.vocabulary), args.vocabulary_strength)
        except (OSError, ValueError) as exc:
            say(f"error: --vocabulary {args.vocabulary}: {getattr(exc, 'strerror', None) or exc}")
            return EXIT_USAGE
    bar = _ProgressBar()
    failed = len(failed_files)
    if not files:
        _summary(0, len(args.files))
        return EXIT_SOME_FAILED
    service = _running_service(args)
    results = (_service_results(service, args, files, bar.update) if service is not None
               else _local_results(args, files, bar.update))
    outputs = export.Outputs(overwrite=args.overwrite)
    try:
        for result in results:
            bar.clear()
            if result.error is not None:
                failed += 1
                failed_files.add(result.path)
                say(f"error: {result.path}: {result.error}")
                continue
            for warning in result.transcript.warnings:
                say(f"warning: {result.path}: {warning}")
            for fmt in args.format:
                if args.output_dir == "-":
                    sys.stdout.write(export.render(result.transcript, fmt))
                    sys.stdout.flush()
                    continue
                try:
                    written = outputs.write(result.transcript, fmt, result.path,
                                            Path(args.output_dir) if args.output_dir else None)
                except OSError as exc:
                    failed += 1
                    failed_files.add(result.path)
                    say(f"error: {result.path}: cannot write the {fmt} file ({exc.strerror or exc})")
                    continue
                if written.name != f"{result.path.stem}.{fmt}":
                    say(f"note: {result.path}: {result.path.stem}.{fmt} is there already (from this run "
                        f"or before; --overwrite replaces it), so this went to {written.name}")
                print(written, flush=True)
    except _NoModel:
        return EXIT_MODEL
    except KeyboardInterrupt:
        bar.clear()
        say("Interrupted; files finished before this point were written.")
        return EXIT_INTERRUPTED
    bar.clear()
    _summary(len(args.files) - len(failed_files), len(args.files))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _summary(done: int, total: int) -> None:
    if total > 1 or done < total:
        say(f"{done} of {total} transcribed" + (f", {total - done} failed." if done < total else "."))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Our own notices reach the user through the command's output, not the log.
        logging.getLogger("parakeet_desktop").setLevel(logging.ERROR)
    if args.command == "transcribe":
        return run_transcribe(args)
    if args.command == "listen":
        from .listen import run_listen

        return run_listen(args)
    if args.command == "serve":
        from .service.server import run_serve

        return run_serve(args)
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(as_json=args.json)
    if args.command in ("toggle", "start", "stop", "status", "quit"):
        from .control import run_command

        return run_command(args.command)
    from .ui.launch import main as run_app

    return run_app(model=args.app_model, device=args.app_device, tray=False if args.no_tray else None)

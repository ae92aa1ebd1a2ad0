"""Command line: ``parakeet-desktop [transcribe|listen|serve|cluster|toggle|start|stop|status|quit|doctor] ...``;
without a command, the desktop app.

Nothing heavy is imported here: torch and NeMo load only when a command needs a model.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..control import NotRunning, Request, send
from ..engine.model import DEFAULT_MODEL_ID as DEFAULT_MODEL
from ..engine.model import DEVICE_CHOICES
from ..export import FORMATS
from ..settings import DEFAULT_API_PORT as DEFAULT_PORT
from .cluster import add_arguments as add_cluster_arguments
from .exits import EXIT_FAILED, EXIT_OK
from .listen import add_arguments as add_listen_arguments
from .speakers import add_service_speaker_arguments, add_speaker_arguments

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


# The running app's requests that are commands here (``show`` is a second launch's own).
REQUESTS = {Request.TOGGLE: "start or stop dictation in the running app",
            Request.START: "start dictation in the running app",
            Request.STOP: "stop dictation in the running app",
            Request.STATUS: "print the running app's state as JSON",
            Request.QUIT: "quit the running app"}


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
    # The menu and login entries start the app with it: see desktop/app_scope.py.
    parser.add_argument("--app-scope", action="store_true", help=argparse.SUPPRESS)
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
    add_speaker_arguments(transcribe)

    listen = commands.add_parser(
        "listen", help="dictate live; events as JSON lines",
        description="Live dictation from the microphone (or a file played as if live): partial "
                    "and final text as JSON lines on stdout. Exit status: 0 done, 1 no microphone "
                    "or unreadable input, 3 the model could not be loaded, 130 interrupted.")
    add_listen_arguments(listen, DEFAULT_MODEL)

    for request, text in REQUESTS.items():
        commands.add_parser(request.value, help=text, description=f"{text[0].upper()}{text[1:]}. Bind "
                            "“parakeet-desktop toggle” to a key in your desktop's shortcut settings "
                            "where the app's own hotkey cannot work (Wayland).")

    serve = commands.add_parser(
        "serve", help="run the local speech service without a desktop",
        description="Serve the model to other programs: OpenAI-style HTTP (/v1/audio/transcriptions, "
                    "/v1/models, /v1/jobs), WebSocket streams (/v1/stream; eaRS's protocol at / and "
                    "/v1/audio/transcriptions/stream), /metrics and /health. Every request needs the token "
                    "kept in the app's settings folder (api-token). Ctrl+C or SIGTERM "
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
    add_service_speaker_arguments(serve)
    serve.add_argument("--no-batching", dest="batching", action="store_false",
                       help="recognise each short request alone, not with those that arrive while the model "
                            "is busy (less throughput under load)")
    serve.add_argument("--streams-without-token", action="store_true",
                       help="let programs on this machine open WebSocket streams without the token, for "
                            "clients that cannot send one (eaRS's); any program of any user here can then "
                            "use the model. Web pages are still refused unless --allow-origin allows them")

    add_cluster_arguments(commands)

    doctor = commands.add_parser("doctor", help="report what this machine offers the app")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    desktop_entry = commands.add_parser(
        "desktop-entry", help="add the app to the desktop's menu (Linux)",
        description="Write the app's menu entry and icon to the user's data folder. Wayland desktops "
                    "need it for the global hotkey and typing portals.")
    desktop_entry.add_argument("--remove", action="store_true", help="remove them instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Our own notices reach the user through the command's output, not the log.
        logging.getLogger("parakeet_desktop").setLevel(logging.ERROR)
    if args.command == "transcribe":
        from .transcribe import run_transcribe

        return run_transcribe(args)
    if args.command == "listen":
        from .listen import run_listen

        return run_listen(args)
    if args.command == "serve":
        from .serve import run_serve

        return run_serve(args)
    if args.command == "cluster":
        from .cluster import run_cluster

        return run_cluster(args)
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(as_json=args.json)
    if args.command == "desktop-entry":
        return _desktop_entry(args.remove)
    if args.command in REQUESTS:
        return _request(Request(args.command))
    if args.app_scope:
        from ..desktop import app_scope

        app_scope.enter()
    from ..ui.launch import main as run_app

    return run_app(model=args.app_model, device=args.app_device, tray=False if args.no_tray else None)


def _desktop_entry(remove: bool) -> int:
    from ..desktop import entry

    try:
        if remove:
            entry.remove()
            print("Removed the menu entry.")
        else:
            print(f"Menu entry: {entry.install()}")
    except OSError as exc:
        print(f"error: the menu entry could not be written: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _request(request: Request) -> int:
    """``parakeet-desktop toggle|start|stop|status|quit``: one request to the running app."""
    try:
        answer = send(request)
    except NotRunning:
        print("Parakeet Desktop is not running; start it with: parakeet-desktop", file=sys.stderr)
        return EXIT_FAILED
    if answer.startswith("error"):
        print(answer, file=sys.stderr)
        return EXIT_FAILED
    if request is Request.STATUS:
        print(answer.removeprefix("ok").strip())
    return EXIT_OK

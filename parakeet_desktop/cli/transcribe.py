"""``parakeet-desktop transcribe``: files to transcripts, through a running local service when
there is one (its model is loaded already), else with a model of its own."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..engine.model import DEFAULT_MODEL_ID as DEFAULT_MODEL
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_MODEL, EXIT_OK, EXIT_USAGE
from .speakers import load_labeller, report_speakers, speaker_request, wants_speakers
from .terminal import load_model_saying_so, say


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
    if args.no_service or args.device is not None or args.vocabulary is not None or args.speaker_request:
        return None
    from ..service.client import find_running_service
    from ..settings import config_dir

    service = find_running_service(config_dir(), report=lambda why: say(f"note: {why}."))
    if service is None or args.model not in (None, service.model):
        return None
    say(f"Using the running app's {service.model} on {service.device} ({service.url}).")
    return service


def _service_results(service, args: argparse.Namespace, paths: list[Path], progress):
    """FileResults from the running app; a service that stops answering leaves the files it did
    not do to a model loaded here."""
    from ..engine.recognize import FileResult
    from ..service.client import ServiceError, transcribe_with_service

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
    from ..engine.recognize import FileTranscriber

    # No warm-up: the first file is the first recognition, and nobody waits on it live.
    model = load_model_saying_so(args.model or DEFAULT_MODEL, args.device or "auto",
                                 boosting=args.vocabulary is not None, warm_up=False)
    if model is None:
        raise _NoModel()
    if args.vocabulary is not None:
        model.set_vocabulary(args.vocabulary)  # a list it cannot use is told through on_notice
    labeller = None
    if args.speaker_request is not None:
        labeller = load_labeller(args, args.speaker_request, args.device or "auto")
        if labeller is None:
            raise _NoModel()
    yield from FileTranscriber(model, finish=labeller).transcribe_files(paths, progress=progress)


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
    from .. import export

    files, failed_files = [], set()
    for path in args.files:  # say what cannot work before loading anything (a model takes a while)
        if (why := _unreadable(path)) is not None:
            say(f"error: {path}: {why}")
            failed_files.add(path)
        else:
            files.append(path)
    if args.vocabulary is not None:  # read before loading anything, like the files
        from ..engine.recognize import Vocabulary, read_vocabulary

        try:
            args.vocabulary = Vocabulary(read_vocabulary(args.vocabulary), args.vocabulary_strength)
        except (OSError, ValueError) as exc:
            say(f"error: --vocabulary {args.vocabulary}: {getattr(exc, 'strerror', None) or exc}")
            return EXIT_USAGE
    args.speaker_request = speaker_request(args) if wants_speakers(args) else None
    if wants_speakers(args) and args.speaker_request is None:
        return EXIT_USAGE
    bar = _ProgressBar()
    failed = len(failed_files)
    if not files:
        _summary(0, len(args.files))
        return EXIT_FAILED
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
            report_speakers(result.path, result.transcript)
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
    return EXIT_FAILED if failed else EXIT_OK


def _summary(done: int, total: int) -> None:
    if total > 1 or done < total:
        say(f"{done} of {total} transcribed" + (f", {total - done} failed." if done < total else "."))

"""``transcribe``'s speaker options: how many speakers, their names, reference clips of their
voices, and the models that tell them apart (loaded here, beside the recognizer)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.model import DEFAULT_DIARIZATION_MODEL, DEFAULT_SPEAKER_EMBEDDING_MODEL, DEFAULT_SPEAKER_THRESHOLD
from .terminal import say


def _count(value: str) -> int | None:
    from ..engine.speakers import speaker_count

    try:
        return speaker_count(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _names(value: str) -> list[str]:
    from ..engine.speakers import parse_names

    try:
        return parse_names(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _reference(value: str) -> tuple[str, Path]:
    name, _, path = value.partition("=")
    if not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"{value!r}: give a reference as NAME=FILE, e.g. Ana=ana.wav")
    return name.strip(), Path(path.strip())


def _threshold(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a similarity between 0 and 1")
    return number


def add_speaker_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("speakers", "who said what: each segment and word gets its speaker")
    group.add_argument("--speakers", type=_count, default=False, metavar="auto|2|3|4",
                       help="tell the speakers apart: auto, or how many there are (at most 4)")
    group.add_argument("--speaker-names", type=_names, metavar="NAMES",
                       help='names for the speakers in the order they first speak, e.g. "Ana,Ben" '
                            "(implies --speakers auto)")
    group.add_argument("--speaker-reference", type=_reference, action="append", default=[], metavar="NAME=FILE",
                       help="a short clip (a few seconds or more) of one speaker's voice: the speaker who "
                            "sounds like it is given the name; may be repeated (implies --speakers auto)")
    group.add_argument("--diarization-model", default=DEFAULT_DIARIZATION_MODEL, metavar="ID|PATH",
                       help=f"the model that tells speakers apart (default: {DEFAULT_DIARIZATION_MODEL})")
    group.add_argument("--speaker-model", default=DEFAULT_SPEAKER_EMBEDDING_MODEL, metavar="ID|PATH",
                       help="the model that compares voices with the reference clips "
                            f"(default: {DEFAULT_SPEAKER_EMBEDDING_MODEL})")
    group.add_argument("--speaker-threshold", type=_threshold, default=DEFAULT_SPEAKER_THRESHOLD, metavar="X",
                       help="how alike (cosine similarity, 0-1) a speaker and a reference must be for the "
                            f"name to be given (default: {DEFAULT_SPEAKER_THRESHOLD})")


def add_service_speaker_arguments(parser: argparse.ArgumentParser) -> None:
    """``serve``'s and ``cluster``'s: the models that serve requests asking for speakers."""
    parser.add_argument("--diarization-model", default=DEFAULT_DIARIZATION_MODEL, metavar="ID|PATH",
                        help="the model that tells speakers apart for requests that ask (diarized_json); "
                             f"loaded on the first such request (default: {DEFAULT_DIARIZATION_MODEL})")
    parser.add_argument("--speaker-model", default=DEFAULT_SPEAKER_EMBEDDING_MODEL, metavar="ID|PATH",
                        help="the model that names speakers from known_speaker_references "
                             f"(default: {DEFAULT_SPEAKER_EMBEDDING_MODEL})")


def wants_speakers(args: argparse.Namespace) -> bool:
    return args.speakers is not False or bool(args.speaker_names) or bool(args.speaker_reference)


def speaker_request(args: argparse.Namespace):
    """The request the arguments make, reference clips decoded; None after an ``error:`` line
    when a clip cannot serve (before any model is loaded)."""
    from ..engine.audio import AudioError, load_audio
    from ..engine.speakers import SpeakerRequest

    references = []
    for name, path in args.speaker_reference:
        try:
            references.append((name, load_audio(path).samples))
        except AudioError as exc:
            say(f"error: --speaker-reference {name}={path}: {exc.reason}")
            return None
    try:
        return SpeakerRequest(None if args.speakers is False else args.speakers, tuple(args.speaker_names or ()),
                              tuple(references), args.speaker_threshold)
    except ValueError as exc:
        say(f"error: {exc}")
        return None


def load_labeller(args: argparse.Namespace, request, device: str):
    """The speaker step for the file transcriber, its models loaded (telling the terminal);
    None after an ``error:`` line when one cannot be loaded."""
    from ..engine.model import ModelError
    from ..engine.speakers import SpeakerLabeller, load_diarizer, load_embedder

    try:
        say(f"Loading {args.diarization_model} …")
        diarizer = load_diarizer(str(args.diarization_model), device)
        embedder = None
        if request.references:
            say(f"Loading {args.speaker_model} …")
            embedder = load_embedder(str(args.speaker_model), device)
    except ModelError as exc:
        say(f"error: {exc}")
        return None
    return SpeakerLabeller(diarizer, request, embedder)


def report_speakers(path: Path, transcript) -> None:
    """How reference clips named the speakers, one note a speaker."""
    for match in transcript.speaker_matches:
        label = f"Speaker {match['speaker'] + 1}"
        if match["name"] is not None:
            say(f"note: {path}: {label} is {match['name']} (similarity {match['similarity']:.2f}, "
                f"threshold {match['threshold']:.2f})")
        elif match["closest_reference"] is None:
            say(f"note: {path}: {label} matches no reference ({match.get('unmatched', 'none was compared')})")
        else:
            say(f"note: {path}: {label} matches no reference (closest: {match['closest_reference']}, "
                f"similarity {match['similarity']:.2f}, below the threshold {match['threshold']:.2f})")

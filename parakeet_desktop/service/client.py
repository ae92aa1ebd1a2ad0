"""Using a running app's service from the ``transcribe`` command: no second model in memory, no
NeMo import. Light on purpose: httpx and the engine's plain transcript types, nothing of the web
stack the service itself runs on.

``service.json`` may outlive its service (a crash, ``kill -9``), and another program may listen
on its port since. Before the token or any audio is sent, the process named in the file must be
alive and the server must prove that it holds the token without being sent it (an HMAC of a
fresh nonce and its port, security.proof). A file whose process is gone is removed; either way
the command transcribes with a model of its own and says why.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..engine.model import LANGUAGE_NAMES
from ..engine.recognize import Language, Segment, Transcript, Word
from ..processes import pid_alive
from .security import proof, read_token

DISCOVERY_FILE = "service.json"


class ServiceError(Exception):
    """The service answered with an error about this file (its message), or stopped answering
    (``unreachable``)."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class RunningService:
    url: str
    token: str
    model: str
    device: str | None


def find_running_service(folder: Path, wait_while_loading: float = 300.0,
                         report: Callable[[str], None] = lambda message: None) -> RunningService | None:
    """The app's service if one runs, answers and proves it holds the token (waiting while its
    model loads), else None; *report* hears why a recorded service is not used."""
    import httpx

    path = folder / DISCOVERY_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        url, pid = str(record["url"]), record.get("pid")
        port = urlsplit(url).port
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not pid_alive(pid):
        report(f"the local service recorded in {path} (process {pid}) is no longer running; "
               "that file is removed and a model is loaded here")
        _remove_if_unchanged(path, record)
        return None
    token = read_token(folder)
    if token is None or port is None:
        return None
    deadline = time.monotonic() + wait_while_loading
    while True:
        nonce = secrets.token_hex(16)
        try:
            health = httpx.get(f"{url}/health", params={"nonce": nonce}, timeout=3.0).json()
        except (httpx.HTTPError, ValueError):
            report(f"the local service at {url} does not answer; a model is loaded here")
            return None
        if not isinstance(health, dict) or not hmac.compare_digest(str(health.get("proof", "")),
                                                                    proof(token, nonce, port)):
            report(f"the program answering at {url} could not prove that it is this app's local service, "
                   "so it was sent neither the token nor any audio; a model is loaded here")
            return None
        if health.get("status") == "ready":
            try:  # proven: the token may go, and brings the model's name and device
                health = httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {token}"}, timeout=3.0).json()
                return RunningService(url, token, str(health["model"]), health.get("device"))
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                report(f"the local service at {url} did not say which model it has ({exc}); a model is loaded here")
                return None
        if health.get("status") != "loading" or time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def _remove_if_unchanged(path: Path, record: dict) -> None:
    """Remove a stale discovery file, unless a new service has written it meanwhile."""
    try:
        if json.loads(path.read_text(encoding="utf-8")) == record:
            path.unlink()
    except (OSError, ValueError):
        pass


def transcribe_with_service(service: RunningService, path: Path) -> Transcript:
    import httpx

    try:
        with path.open("rb") as f:
            answer = httpx.post(
                f"{service.url}/v1/audio/transcriptions",
                headers={"Authorization": f"Bearer {service.token}"},
                files={"file": (path.name, f)},
                data={"response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]},
                timeout=httpx.Timeout(30.0, read=None))
    except httpx.HTTPError as exc:
        raise ServiceError(f"the running app stopped answering ({exc})", unreachable=True) from exc
    if answer.status_code != 200:
        try:
            message = answer.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"the service answered {answer.status_code}"
        raise ServiceError(message, unreachable=answer.status_code in (401, 429, 503) or answer.status_code >= 500)
    return transcript_from_verbose(answer.json(), str(path), service.model)


def transcript_from_verbose(document: dict, source: str, model: str) -> Transcript:
    """The transcript behind a ``verbose_json`` answer with both granularities, so the command
    writes the same files it would with a model of its own."""
    words = [Word(w["word"], w["start"], w["end"]) for w in document.get("words", [])]
    segments, taken = [], 0
    for segment in document.get("segments", []):
        mine: list[Word] = []
        while taken < len(words) and words[taken].start <= segment["end"] + 0.001 \
                and (not mine or words[taken].start < segment["end"]):
            mine.append(words[taken])
            taken += 1
        segments.append(Segment(segment["start"], segment["end"], segment["text"].strip(), tuple(mine)))
    codes = {name: code for code, name in LANGUAGE_NAMES.items()}
    language = None
    if (code := codes.get(str(document.get("language")))) is not None:
        language = Language(code, float(document.get("language_confidence", 1.0)))
    return Transcript(source=source, duration=document["duration"], segments=segments, model=model,
                      warnings=list(document.get("warnings", [])), language=language)

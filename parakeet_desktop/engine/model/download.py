"""Downloading a hub model's ``.nemo`` file into the Hugging Face cache, with progress.

The file lands where NeMo's own ``from_pretrained`` puts it, so later runs load it from the cache
with no network (``registry.cached_model_file``). The hub address and the cache folder are read
from ``HF_ENDPOINT`` and ``HF_HUB_CACHE`` at each call, not only when the hub client is imported.
"""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ...messages import first_line
from ..recognize import Flag

# (bytes done, bytes in all or None when the server does not say)
Progress = Callable[[int, int | None], None]


class DownloadError(Exception):
    """The download failed; the message says why and what the user can do."""


class DownloadCancelled(Exception):
    pass


def hub_cache_dir() -> str | None:
    return os.environ.get("HF_HUB_CACHE") or None


def model_filename(model_id: str) -> str:
    return model_id.rsplit("/", 1)[-1] + ".nemo"


def download(model_id: str, progress: Progress | None = None, cancel: Flag | None = None) -> Path:
    """Download *model_id*'s ``.nemo`` file (resuming a partial one) and return its cached path."""
    from huggingface_hub import constants, errors, hf_hub_download

    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    # The hub client retries a refused connection for about 20 s; say at once when offline
    # (unless a proxy stands between, which the hub client uses and a plain socket does not).
    proxied = any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    reason = None if proxied else _unreachable(endpoint)
    if reason:
        raise DownloadError(f"{model_id} is not downloaded yet and could not be downloaded (no connection "
                            f"to {urlsplit(endpoint).hostname}: {reason}). Connect to the internet once, "
                            "or choose a local .nemo file.")
    try:
        path = hf_hub_download(repo_id=model_id, filename=model_filename(model_id), cache_dir=hub_cache_dir(),
                               endpoint=endpoint,
                               tqdm_class=_reporting(progress, cancel))
    except DownloadCancelled:
        raise
    except errors.LocalEntryNotFoundError as exc:  # the connection failed on the way
        raise DownloadError(f"{model_id} is not downloaded yet and could not be downloaded "
                            f"({first_line(exc)}). Connect to the internet once, or choose a local "
                            ".nemo file.") from exc
    except (errors.RepositoryNotFoundError, errors.EntryNotFoundError) as exc:
        raise DownloadError(f"There is no model {model_id} on Hugging Face ({first_line(exc)}).") from exc
    except Exception as exc:  # the hub client, httpx and the file system each raise their own kinds
        raise DownloadError(f"{model_id} could not be downloaded ({first_line(exc)}). Check the "
                            "internet connection and try again, or choose a local .nemo file.") from exc
    return Path(path)


def _unreachable(endpoint: str) -> str | None:
    """Why the hub's host cannot be reached (None when a connection opens)."""
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=5).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def _reporting(progress: Progress | None, cancel: Flag | None):
    """A tqdm class for the hub client that reports bytes to *progress* and honours *cancel*."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["file"] = io.StringIO()  # nothing on the terminal
            kwargs.pop("disable", None)
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled()
            shown = super().update(n)
            if progress is not None and self.unit == "B":
                progress(int(self.n), int(self.total) if self.total else None)
            return shown

    return Reporting

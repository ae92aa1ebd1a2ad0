"""Who may talk to the local service: the bearer token, and the Host and Origin checks that keep
web pages in the user's browser out.

A page on any site can make the browser send requests to 127.0.0.1. Two things stop it here: it
cannot read the token (kept in a file only the user can read), and the browser sends the page's
``Origin``, which is refused unless the user allowed it. A DNS-rebinding page reaches us under its
own host name, so a ``Host`` that is not the bound address or localhost is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from pathlib import Path

from ..storage import write_atomic

TOKEN_FILE = "api-token"
NON_LOOPBACK_WARNING = (
    "warning: serving on {host}, which other machines can reach. Anyone who has the token can use "
    "the model; the traffic is not encrypted (put a TLS proxy in front for anything but a trusted "
    "network).")
STREAMS_WITHOUT_TOKEN_WARNING = (
    "warning: WebSocket streams from this machine are taken without the token (--streams-without-token): "
    "every program and every user on this computer can use the model through them (half the stream places "
    "at most; the rest stay for clients with the token).")
TOKEN_ENV = "PARAKEET_DESKTOP_API_TOKEN"

# Set in a connection's state when it came in without the token (guard.py): the stream routes
# keep those to a share of their places.
WITHOUT_TOKEN = "without_token"


def read_token(folder: Path) -> str | None:
    """``PARAKEET_DESKTOP_API_TOKEN`` when set; else the token kept in *folder*; None when there
    is none yet (or it cannot be read)."""
    given = os.environ.get(TOKEN_ENV, "").strip()
    if given:
        return given
    try:
        return (folder / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def load_or_make_token(folder: Path) -> str:
    """:func:`read_token`, or a new token kept in *folder* (readable by the owner only)."""
    token = read_token(folder)
    path = folder / TOKEN_FILE
    if token:
        if path.exists() and os.name == "posix" and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # a copy restored by hand must not stay readable by others
        return token
    token = secrets.token_urlsafe(32)
    write_atomic(path, token + "\n", mode=0o600)
    return token


# A client's challenge: hex digits, 128 to 512 bits.
NONCE = re.compile(r"[0-9a-f]{32,128}")


def proof(token: str, nonce: str, port: int) -> str:
    """The answer to a client's *nonce* that only a holder of *token* can give: an HMAC, keyed by
    the token, of the nonce and the port that answers. A client checks it before it sends the
    token or any audio to an address it read from a file (the service that wrote the file may be
    gone, and another program on its port). The port is part of it so that a program there cannot
    pass the question on to a real service elsewhere and hand back its answer: that answer would
    be for the other port."""
    message = f"parakeet-desktop service proof:{nonce}:{port}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _address(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    address = _address(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def is_every_interface(host: str) -> bool:
    """Whether *host* is the address that means all of the machine's interfaces."""
    address = _address(host)
    return address is not None and address.is_unspecified


def host_name(header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8000`` → ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """The Host and Origin rules for one bound address."""

    def __init__(self, bound_host: str, allowed_origins: tuple[str, ...] = ()) -> None:
        self.bound_host = bound_host
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}

    def host_allowed(self, header: str | None) -> bool:
        if not header:
            return False
        name = host_name(header)
        if name in ("localhost", self.bound_host.lower()) or is_loopback(name):
            return True
        # Bound to every interface (only when the user named such a host): they serve the network.
        return is_every_interface(self.bound_host)

    def origin_allowed(self, header: str | None) -> bool:
        """Programs send no Origin; browsers always do, and only the user's choices pass."""
        return header is None or header.rstrip("/").lower() in self.allowed_origins

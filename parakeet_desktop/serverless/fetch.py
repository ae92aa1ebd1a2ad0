"""Audio by URL for a worker on someone else's network, without server-side request forgery.

A job's ``audio_url`` is fetched only over http(s), only from public addresses: every address
its host name resolves to must be public (not loopback, link-local such as the cloud's metadata
service at 169.254.169.254, private, shared, multicast or reserved; an IPv6 address that carries
an IPv4 one, as NAT64, 6to4, Teredo, IPv4-mapped, -compatible and -translated addresses do, is
judged by the IPv4 address it carries), and the connection goes to the very address that was
checked (the name is resolved once, so it cannot be re-pointed at an inside address between the
check and the connection; HTTPS still verifies the certificate against the name). Redirects are
followed by hand, each hop checked the same way. The owner may allow addresses of their own
network (``PARAKEET_AUDIO_URL_ALLOW``: addresses or networks, comma separated).

The whole download (resolving, connecting, the headers, the body, every redirect) has one
deadline, so a server that answers a byte at a time cannot hold the worker (the SDK runs one job
at a time). The body stops at *max_bytes*, whatever its Content-Length says, and is spooled to
a temporary file past a few megabytes rather than held in memory. Whatever goes wrong is a
:class:`FetchRefused` with a sentence for the job's caller.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, cast
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

ALLOW_ENV = "PARAKEET_AUDIO_URL_ALLOW"
DEADLINE_ENV = "PARAKEET_AUDIO_URL_DEADLINE"
MAX_REDIRECTS = 3
DEADLINE_SECONDS = 300.0  # the whole download
PAUSE_SECONDS = 30.0  # the longest the server may stay silent within it
IN_MEMORY_BYTES = 8 << 20  # past this, the body goes to a temporary file

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64's well-known prefix (RFC 6052),
# IPv4-compatible (deprecated) and IPv4-translated (SIIT) addresses. NAT64's local-use prefix
# (64:ff9b:1::/48, RFC 8215) places it by the network's choice of length: it is never public.
_CARRIES_IPV4_AT_THE_END = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"),
                            ipaddress.IPv6Network("::ffff:0:0:0/96"))
_NEVER_PUBLIC = (ipaddress.IPv6Network("64:ff9b:1::/48"),)


class FetchRefused(Exception):
    """The URL may not be fetched, or its answer was not audio to take; the message says why."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in os.environ.get(ALLOW_ENV, "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise FetchRefused(f"{ALLOW_ENV} holds {item.strip()!r}, which is not an address or network.") \
                    from exc
    return networks


def carried_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for most)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # the Teredo server and the client's own address
    if any(address in network for network in _CARRIES_IPV4_AT_THE_END) and int(address) > 1:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _NEVER_PUBLIC):
            return False
        carried = carried_ipv4(address)
        if carried:
            return all(is_public(inner) for inner in carried)
    return address.is_global and not address.is_multicast


def _deadline() -> float:
    try:
        return float(os.environ.get(DEADLINE_ENV, DEADLINE_SECONDS))
    except ValueError:
        raise FetchRefused(f"{DEADLINE_ENV} must be a number of seconds.") from None


def fetch_audio(url: str, max_bytes: int) -> BinaryIO:
    """The body of *url* (http or https, public addresses only, at most *max_bytes*, within
    the deadline), as a file read from its start; the caller closes it."""
    deadline = _deadline()
    body = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES))  # noqa: SIM115 - the caller closes it
    try:
        # On a thread of its own with its own event loop, whatever the caller runs in.
        with ThreadPoolExecutor(1, thread_name_prefix="audio-url") as pool:
            pool.submit(asyncio.run, _fetch(url, max_bytes, body, deadline)).result()
    except BaseException:
        body.close()
        raise
    body.seek(0)
    return body


async def _fetch(url: str, max_bytes: int, body: BinaryIO, deadline: float) -> None:
    try:
        async with asyncio.timeout(deadline):
            for _ in range(MAX_REDIRECTS + 1):
                next_url = await _get_once(url, max_bytes, body)
                if next_url is None:
                    return
                url = next_url  # a redirect: checked again like the first URL
    except TimeoutError:
        raise FetchRefused(f"audio_url did not arrive within {deadline:g} s.") from None
    raise FetchRefused(f"audio_url redirected more than {MAX_REDIRECTS} times.")


async def checked_address(host: str, port: int) -> Address:
    """The address to connect to for *host*: every address it resolves to must be public (or
    allowed by the owner); the first is used."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"The host {host} of audio_url could not be resolved ({exc}).") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise FetchRefused(f"The host {host} of audio_url has no address.")
    allowed = allowed_networks()
    for address in addresses:
        if not is_public(address) and not any(address in network for network in allowed):
            raise FetchRefused(f"audio_url points at {host}, whose address {address} is not public "
                               "(loopback, link-local, private and reserved addresses are refused).")
    return addresses[0]


def _parts(url: str):
    """The URL's scheme, host and port, or FetchRefused saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # such as "http://[::1" or a port out of range
        raise FetchRefused(f"audio_url is not a URL that can be fetched ({exc}).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("audio_url must be an http:// or https:// URL with a host"
                           + (f" (it led to a {parts.scheme}: URL)." if parts.scheme else "."))
    return parts, port or (443 if parts.scheme == "https" else 80)


async def _get_once(url: str, max_bytes: int, body: BinaryIO) -> str | None:
    """Fetch *url* into *body*; the next URL where it redirects, None when the body is in."""
    parts, port = _parts(url)
    address = await checked_address(parts.hostname, port)
    literal = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    try:
        async with httpx.AsyncClient(timeout=PAUSE_SECONDS, follow_redirects=False, trust_env=False) as client, \
                client.stream("GET", pinned, headers={"Host": host_header},
                              extensions={"sni_hostname": parts.hostname}) as response:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise FetchRefused("audio_url redirected without saying where.")
                try:
                    return urljoin(url, location)
                except ValueError as exc:
                    raise FetchRefused(f"audio_url redirected to a place that is not a URL ({exc}).") from None
            if response.status_code != 200:
                raise FetchRefused(f"audio_url answered {response.status_code}.")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise FetchRefused(f"audio_url's audio is {int(declared)} bytes; at most {max_bytes} are taken.")
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise FetchRefused(f"audio_url's audio is larger than {max_bytes} bytes, the most taken.")
                body.write(chunk)
            return None
    except httpx.HTTPError as exc:
        raise FetchRefused(f"audio_url could not be fetched: {exc or type(exc).__name__}.") from exc
    except httpx.InvalidURL as exc:  # httpx reads a redirect's Location as it arrives
        raise FetchRefused(f"audio_url redirected to a place that is not an http(s) URL ({exc}).") from exc
    except (ValueError, UnicodeError) as exc:  # a malformed answer or a header that is not text
        raise FetchRefused(f"audio_url's answer could not be read ({exc}).") from exc

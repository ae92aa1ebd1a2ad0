"""Audio by URL for a worker on someone else's network, without server-side request forgery.

A job's ``audio_url`` is fetched only over http(s), only from public addresses: every address
its host name resolves to must be public (not loopback, link-local such as the cloud's metadata
service at 169.254.169.254, private, shared, multicast or reserved), and the connection goes to
the very address that was checked (the name is resolved once, so it cannot be re-pointed at an
inside address between the check and the connection; HTTPS still verifies the certificate
against the name). Redirects are followed by hand, each hop checked the same way. The body
stops at *max_bytes*, whatever its Content-Length says. The owner may allow addresses of their
own network (``PARAKEET_AUDIO_URL_ALLOW``: addresses or networks, comma separated).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

ALLOW_ENV = "PARAKEET_AUDIO_URL_ALLOW"
MAX_REDIRECTS = 3
TIMEOUT_SECONDS = 60.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def checked_address(host: str, port: int) -> Address:
    """The address to connect to for *host*: every address it resolves to must be public (or
    allowed by the owner); the first is used."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"The host {host} of audio_url could not be resolved ({exc}).") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    allowed = allowed_networks()
    for address in addresses:
        if not is_public(address) and not any(address in network for network in allowed):
            raise FetchRefused(f"audio_url points at {host}, whose address {address} is not public "
                               "(loopback, link-local, private and reserved addresses are refused).")
    return addresses[0]


def fetch_audio(url: str, max_bytes: int) -> bytes:
    """The body of *url* (http or https, public addresses only, at most *max_bytes*)."""
    for _ in range(MAX_REDIRECTS + 1):
        answer = _get_once(url, max_bytes)
        if isinstance(answer, bytes):
            return answer
        url = answer  # a redirect: checked again like the first URL
    raise FetchRefused(f"audio_url redirected more than {MAX_REDIRECTS} times.")


def _get_once(url: str, max_bytes: int) -> bytes | str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("audio_url must be an http:// or https:// URL with a host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchRefused(f"audio_url has a bad port: {exc}.") from exc
    address = checked_address(parts.hostname, port)
    literal = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client, \
                client.stream("GET", pinned, headers={"Host": host_header},
                              extensions={"sni_hostname": parts.hostname}) as response:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise FetchRefused("audio_url redirected without saying where.")
                return urljoin(url, location)
            if response.status_code != 200:
                raise FetchRefused(f"audio_url answered {response.status_code}.")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise FetchRefused(f"audio_url's audio is {int(declared)} bytes; at most {max_bytes} are taken.")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchRefused(f"audio_url's audio is larger than {max_bytes} bytes, the most taken.")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise FetchRefused(f"audio_url could not be fetched: {exc}.") from exc

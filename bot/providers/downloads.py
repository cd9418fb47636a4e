"""Fetching a file from a URL a provider hands out (Whereby's pre-signed transcript link), safely.

The link comes from the provider's API, but the bot must not become a way into the network it
runs in: a link (or a redirect) pointing at 127.0.0.1, 10.x, 169.254.169.254 (cloud metadata)
or any other non-public address would let whoever controls it make the bot read internal
services. So a download:

- is https only;
- resolves the host and refuses it unless every address is public, then connects to the
  address it checked (the TLS certificate is still verified against the host name), so a DNS
  answer that changes between the check and the connection cannot slip a private one in;
- follows at most `max_redirects` redirects by hand, each one checked the same way;
- stops at `max_bytes` (streamed, never read whole) and after `timeout` seconds in all.

`private_hosts` names hosts exempt from the address and https rules: only the tests and
`meetings-bot demo` set it, for their loopback stand-ins; by default it is empty.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 3
TIMEOUT_SECONDS = 15.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Resolver = Callable[[str, int], Awaitable[list[str]]]


class RefusedDownload(Exception):
    """The link was not fetched; `reason` is a plain sentence for a Slack user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DownloadFailed(Exception):
    """The file server answered with an error status (an expired link, a missing file)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass(frozen=True)
class DownloadPolicy:
    private_hosts: frozenset[str] = field(default_factory=frozenset)
    max_bytes: int = MAX_BYTES
    max_redirects: int = MAX_REDIRECTS
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_setting(cls, hosts: str | None, **kwargs) -> DownloadPolicy:
        """`hosts` as the setting has it: names separated by commas or spaces."""
        names = frozenset(h.strip().lower() for h in (hosts or "").replace(",", " ").split() if h.strip())
        return cls(private_hosts=names, **kwargs)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    """A globally routable unicast address: not loopback, private, link-local, shared (CGNAT),
    reserved, multicast or unspecified, also when written as IPv4 inside IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


async def fetch_text(client: httpx.AsyncClient, url: str, *, policy: DownloadPolicy,
                     resolve: Resolver = system_resolver) -> str:
    """The body at `url` as text, under the rules above. RefusedDownload when a rule says no
    (its reason is for the user), DownloadFailed for an error status, httpx errors and
    TimeoutError for network trouble."""
    async with asyncio.timeout(policy.timeout):
        target = _parse(url)
        for _hop in range(policy.max_redirects + 1):
            request_url, headers, extensions = await _checked(target, policy, resolve)
            request = client.build_request("GET", request_url, headers=headers, extensions=extensions)
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                if response.status_code in _REDIRECTS and response.headers.get("location"):
                    target = target.join(response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise DownloadFailed(response.status_code)
                return await _read_capped(response, policy.max_bytes)
            finally:
                await response.aclose()
        raise RefusedDownload(f"the link redirected more than {policy.max_redirects} times")


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise RefusedDownload("the link is not a valid URL") from None
    if not parsed.host:
        raise RefusedDownload("the link has no host")
    return parsed


async def _checked(url: httpx.URL, policy: DownloadPolicy,
                   resolve: Resolver) -> tuple[httpx.URL, dict[str, str], dict]:
    """The URL to connect to (the checked address in place of the name), the Host header and the
    TLS name; RefusedDownload for a link that breaks a rule."""
    host = url.host.lower()
    if host in policy.private_hosts:
        if url.scheme not in ("http", "https"):
            raise RefusedDownload("the link is not an http(s) link")
        return url, {}, {}
    if url.scheme != "https":
        raise RefusedDownload("the link is not https")
    port = url.port or 443
    try:
        addresses = [str(ipaddress.ip_address(host))]  # an address written in the link
    except ValueError:
        try:
            addresses = await resolve(host, port)
        except (OSError, UnicodeError):
            raise RefusedDownload(f"the link's host {host} could not be found") from None
    if not addresses:
        raise RefusedDownload(f"the link's host {host} could not be found")
    if not all(is_public(a) for a in addresses):
        raise RefusedDownload(f"the link points at a private or local network address ({host}), which the bot "
                              "does not fetch from")
    authority = host if url.port in (None, 443) else f"{host}:{url.port}"
    return url.copy_with(host=addresses[0]), {"Host": authority}, {"sni_hostname": host}


async def _read_capped(response: httpx.Response, limit: int) -> str:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RefusedDownload(f"the file is larger than {_size(limit)}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise RefusedDownload(f"the file is larger than {_size(limit)}")
        chunks.append(chunk)
    return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")


def _size(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit / 1024:g} KB"

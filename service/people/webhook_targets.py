"""Where webhook pages may go: https (plain http only when allowed), and never into the
network Tocsin runs in (SSRF) unless the operator lists the address.

Anyone who may add a contact method chooses where Tocsin POSTs, so a webhook could otherwise
reach the machine's loopback services, the private network, or a cloud's metadata endpoint
(169.254.169.254). Internal means not globally routable: loopback, private, link-local,
shared (100.64/10), unspecified, reserved, documentation and multicast addresses; an IPv6
address that carries an IPv4 one (IPv4-mapped, 6to4, NAT64) is judged by the IPv4 address.
`notifications.webhook.allow_private` lists networks, addresses or host names that may be
internal anyway. The rule is checked when a contact is added (here, resolving its host) and
again by the webhook adapter at every send, on the addresses it connects to, so a name that
resolves elsewhere later (DNS rebinding) is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
# An `allow_private` entry: a network (one address is a network of one), or a host name.
Allowed = IPv4Network | IPv6Network | str
Resolve = Callable[[str], Awaitable[Sequence[IPAddress]]]

ALLOW_HTTP_KEY = "notifications.webhook.allow_http"
ALLOW_PRIVATE_KEY = "notifications.webhook.allow_private"
# How long adding a contact waits for its host name to resolve; past it the name is taken
# as unknown (the adapter checks again when it sends).
RESOLVE_TIMEOUT_SECONDS = 5.0

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_NAT64 = IPv6Network("64:ff9b::/96")
# Internal but flagged global by `ipaddress`: IPv6 site-local, deprecated, still routed
# inside some networks.
_ALSO_INTERNAL = (IPv6Network("fec0::/10"),)


def embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), else the address."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def internal_kind(address: IPAddress) -> str:
    """What kind of internal address this is ('' when it is globally routable)."""
    plain = embedded(address)
    if plain.is_loopback:
        return "loopback"
    if plain.is_unspecified:
        return "unspecified"
    if plain.is_link_local:
        return "link-local, where cloud metadata services answer"
    if plain.is_multicast:
        return "multicast"
    if plain in IPv4Network("100.64.0.0/10"):
        return "shared address space"
    if plain.is_private or any(plain in network for network in _ALSO_INTERNAL):
        return "private"
    if not plain.is_global:
        return "reserved"
    return ""


def allowed_entry(entry: str) -> Allowed:
    """Reads one `allow_private` entry: CIDR, an address, or a host name (ValueError if none)."""
    text = entry.strip().lower().rstrip(".")
    if not text:
        raise ValueError("entries must not be empty")
    try:
        return ipaddress.ip_network(text)  # an address alone is a network of one
    except ValueError as exc:
        if "/" in text or text.replace(".", "").isdigit() or ":" in text:
            raise ValueError(f"{entry!r} is not a network: {exc}") from None
    if len(text) > 253 or not all(_LABEL.fullmatch(part) for part in text.split(".")):
        raise ValueError(f"{entry!r} is not a network, an address or a host name")
    return text


@dataclass(frozen=True)
class WebhookRule:
    """Which webhook addresses pages may go to (see the module)."""

    allow_http: bool = False
    allow_private: tuple[Allowed, ...] = ()

    def scheme_problem(self, scheme: str) -> str:
        if scheme == "https" or (scheme == "http" and self.allow_http):
            return ""
        if scheme == "http":
            return (
                "must be an https URL: plain http exposes the signed page "
                f"(set {ALLOW_HTTP_KEY} to allow it)"
            )
        return "must be an https URL"

    def address_problem(self, host: str, address: IPAddress) -> str:
        """Why pages may not go to `address`, which `host` names ('' when they may)."""
        kind = internal_kind(address)
        if not kind:
            return ""
        name = host.lower().rstrip(".")
        for entry in self.allow_private:
            if isinstance(entry, str):
                if entry == name:
                    return ""
            elif address in entry or embedded(address) in entry:
                return ""
        shown = host if host == str(address) else f"{host} ({address})"
        return (
            f"{shown} is an internal address ({kind}); list it in {ALLOW_PRIVATE_KEY} "
            "to send pages there"
        )


async def resolve_host(host: str) -> Sequence[IPAddress]:
    """The addresses the system resolver gives for `host`."""
    found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def literal(host: str) -> IPAddress | None:
    """`host` as an IP address, when it is one."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class WebhookTargets:
    """The rule, and how to learn what a host name stands for: the system's resolver in
    production, a table in tests."""

    rule: WebhookRule = WebhookRule()
    resolve: Resolve = resolve_host

    async def refusal(self, url: str) -> str:
        """Why pages may not go to `url` ('' when they may, as far as can be told now: a
        name that does not resolve yet is left to the check at every send)."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            host = None
        if not host:
            return "must be an https URL with a host"
        try:
            port = parts.port  # urlsplit reads it only when asked, and refuses past 65535
        except ValueError:
            port = 0
        if port == 0:
            return "must have a port from 1 to 65535 (or none, for 443)"
        problem = self.rule.scheme_problem(parts.scheme)
        if problem:
            return problem
        address = literal(host)
        if address is not None:
            return self.rule.address_problem(host, address)
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                addresses = await self.resolve(host)
        except (OSError, TimeoutError, UnicodeError):
            return ""
        for address in addresses:
            problem = self.rule.address_problem(host, address)
            if problem:
                return problem
        return ""

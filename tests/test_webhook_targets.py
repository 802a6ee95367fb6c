"""Where webhook pages may go: the rule for schemes and internal addresses, and the check a
contact's address gets when it is added (here with a table for a resolver)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import ip_address, ip_network

import pytest

from service.people.webhook_targets import (
    IPAddress,
    WebhookRule,
    WebhookTargets,
    allowed_entry,
    internal_kind,
)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("fec0::1", "private"),
        ("169.254.169.254", "link-local, where cloud metadata services answer"),
        ("fe80::1", "link-local, where cloud metadata services answer"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.100.100.200", "shared address space"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:a9fe:a9fe::", "link-local, where cloud metadata services answer"),  # 6to4
        ("64:ff9b::a00:1", "private"),  # NAT64
        ("192.0.2.1", "private"),  # documentation
        ("8.8.8.8", ""),
        ("172.32.0.1", ""),
        ("2606:4700::1111", ""),
        ("::ffff:8.8.8.8", ""),
    ],
)
def test_internal_addresses_are_named(address: str, kind: str) -> None:
    assert internal_kind(ip_address(address)) == kind


def test_allow_private_entries() -> None:
    assert allowed_entry("10.0.0.0/8") == ip_network("10.0.0.0/8")
    assert allowed_entry("127.0.0.1") == ip_network("127.0.0.1/32")
    assert allowed_entry(" Hooks.Internal. ") == "hooks.internal"
    for bad in ("10.0.0.1/8", "10.0.0", "::g", "hooks internal", "", "a..b"):
        with pytest.raises(ValueError, match="not a network|must not be empty"):
            allowed_entry(bad)


def test_a_listed_network_or_host_allows_its_internal_addresses() -> None:
    rule = WebhookRule(allow_private=(ip_network("10.0.0.0/8"), "hooks.internal"))
    assert rule.address_problem("10.9.9.9", ip_address("10.9.9.9")) == ""
    assert rule.address_problem("x", ip_address("::ffff:10.9.9.9")) == ""  # mapped: the same
    assert rule.address_problem("Hooks.Internal.", ip_address("192.168.0.7")) == ""
    refused = rule.address_problem("other.internal", ip_address("192.168.0.7"))
    assert refused == (
        "other.internal (192.168.0.7) is an internal address (private); list it in "
        "notifications.webhook.allow_private to send pages there"
    )
    assert rule.scheme_problem("https") == ""
    assert "notifications.webhook.allow_http" in rule.scheme_problem("http")
    assert WebhookRule(allow_http=True).scheme_problem("http") == ""
    assert rule.scheme_problem("ftp") == "must be an https URL"


def _table(names: Mapping[str, Sequence[str]]) -> WebhookTargets:
    async def resolve(host: str) -> Sequence[IPAddress]:
        if host not in names:
            raise OSError("Name or service not known")
        return [ip_address(a) for a in names[host]]

    rule = WebhookRule(allow_private=("hooks.internal",))
    return WebhookTargets(rule, resolve)


async def test_an_address_is_checked_on_what_its_host_resolves_to() -> None:
    targets = _table(
        {
            "public.example.com": ["93.184.215.14"],
            "sneaky.example.com": ["93.184.215.14", "169.254.169.254"],
            "hooks.internal": ["10.0.0.5"],
        }
    )
    assert await targets.refusal("https://public.example.com/h") == ""
    assert "169.254.169.254" in await targets.refusal("https://sneaky.example.com/h")
    assert await targets.refusal("https://hooks.internal/h") == ""  # listed by name
    assert "(loopback)" in await targets.refusal("https://[::1]:8443/h")
    assert "allow_http" in await targets.refusal("http://public.example.com/h")
    # A name that does not resolve now is left to the check at each send.
    assert await targets.refusal("https://not-yet.example.com/h") == ""
    assert await targets.refusal("https:///no-host") == "must be an https URL with a host"
    for port in ("70000", "0", "x"):
        refused = await targets.refusal(f"https://public.example.com:{port}/h")
        assert refused == "must have a port from 1 to 65535 (or none, for 443)", port
    assert await targets.refusal("https://public.example.com:8443/h") == ""
    assert await targets.refusal("https://public.example.com:/h") == ""  # the default port

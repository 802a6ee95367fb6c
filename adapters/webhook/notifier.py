"""Webhook pages: the page as signed JSON, POSTed to the address the user configured.

The receiver checks `X-Tocsin-Signature` (`sha256=` and the hex HMAC-SHA256 of the raw body,
keyed with the shared secret). The body carries `sent_at`, the same instant as the
`X-Tocsin-Timestamp` header, so the signature covers the time too and a receiver can refuse
an old delivery replayed at it. `Idempotency-Key` is the page's ledger key: a retried
delivery carries the same one. The address is never echoed, in the body or in results: a URL
often holds the receiver's own token.

Pages go only where `service.people.webhook_targets` allows, judged on the addresses a connection
is actually made to: a literal address before connecting, a host name's addresses as they
resolve at each send (the connector's resolver drops internal ones), so a name that pointed
outside when the contact was added cannot be turned inward later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from service.core.clock import Clock
from service.paging.notifier import Notification, Outcome, SendResult
from service.people.webhook_targets import WebhookRule, literal

if TYPE_CHECKING:
    from adapters.webhook.settings import WebhookSettings

USER_AGENT = "Tocsin-Webhook/1"
_SNIPPET = 200


class RefusedAddressError(OSError):
    """Every address a webhook's host resolved to is one pages may not go to."""


class _GuardedResolver(AbstractResolver):
    """The system's resolver, less the addresses the rule refuses."""

    def __init__(self, rule: WebhookRule) -> None:
        self._rule = rule
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        kept: list[ResolveResult] = []
        refused = ""
        for result in await self._resolver.resolve(host, port, family):
            address = literal(result["host"])
            problem = (
                f"{host} resolved to {result['host']!r}"
                if address is None
                else self._rule.address_problem(host, address)
            )
            if problem:
                refused = refused or problem
            else:
                kept.append(result)
        if not kept:
            raise RefusedAddressError(refused or f"{host} resolved to no address")
        return kept

    async def close(self) -> None:
        await self._resolver.close()


class WebhookNotifier:
    """Sends over a session of its own, whose connector resolves through the rule."""

    def __init__(self, settings: WebhookSettings, clock: Clock) -> None:
        self._settings = settings
        self._rule = settings.rule
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on the loop that sends
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self._rule))
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, page: Notification) -> SendResult:
        try:
            url = URL(page.address)
            host = url.raw_host
        except (ValueError, TypeError):
            host = None
        if not host:
            return SendResult(Outcome.PERMANENT, detail="webhook address is not a valid URL")
        problem = self._rule.scheme_problem(url.scheme)
        if problem:
            return SendResult(Outcome.PERMANENT, detail=f"webhook address {problem}")
        address = literal(host)
        # A literal address is connected to as it is, past the resolver: judged here.
        problem = "" if address is None else self._rule.address_problem(host, address)
        if problem:
            return SendResult(Outcome.PERMANENT, detail=f"webhook {problem}")
        now = self._clock.now()
        body = webhook_body(page, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Tocsin-Signature": signature(self._settings.secret, body),
            "X-Tocsin-Timestamp": str(int(now.timestamp())),
            "Idempotency-Key": page.key,
        }
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        try:
            async with self._http().post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                snippet = (await response.content.read(_SNIPPET)).decode("utf-8", "replace")
                request_id = response.headers.get("X-Request-Id", "")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedAddressError):  # it stays refused: no retry
                return SendResult(Outcome.PERMANENT, detail=f"webhook {exc.os_error}")
            if isinstance(exc, aiohttp.ClientConnectorCertificateError):
                return SendResult(Outcome.PERMANENT, detail=f"webhook {host}: certificate refused")
            return SendResult(Outcome.RETRYABLE, detail=f"webhook {host}: {_name(exc)}")
        except aiohttp.InvalidURL:
            return SendResult(Outcome.PERMANENT, detail="webhook address is not a valid URL")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(Outcome.RETRYABLE, detail=f"webhook {host}: {_name(exc)}")
        detail = f"webhook {host}: HTTP {status} {' '.join(snippet.split())}".rstrip()
        if 200 <= status < 300:
            return SendResult(Outcome.DELIVERED, provider_id=request_id, detail=detail)
        if status == 429 or status >= 500:
            return SendResult(Outcome.RETRYABLE, provider_id=request_id, detail=detail)
        # 3xx too: a signed page is not forwarded to wherever a redirect points.
        return SendResult(Outcome.PERMANENT, provider_id=request_id, detail=detail)


def webhook_body(page: Notification, now: datetime) -> bytes:
    """The page's fields as compact JSON, everything but the address."""
    fields: dict[str, Any] = {
        "type": "page",
        "key": page.key,
        "sent_at": int(now.timestamp()),
        "alert_id": page.alert_id,
        "tiny_id": page.tiny_id,
        "message": page.message,
        "priority": page.priority,
        "status": page.status,
        "team": page.team,
        "description": page.description,
        "source": page.source,
        "entity": page.entity,
        "tags": list(page.tags),
        "details": dict(page.details),
        "created_at": page.created_at.isoformat() if page.created_at else None,
        "username": page.username,
        "ack_url": page.ack_url,
        "repeat": page.repeat,
    }
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    """The `X-Tocsin-Signature` value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _name(exc: BaseException) -> str:
    # aiohttp's messages name the full URL; the exception's kind is enough and never leaks it.
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__

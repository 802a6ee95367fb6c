"""Webhook pages: the page as signed JSON, POSTed to the address the user configured.

The receiver checks `X-Tocsin-Signature` (`sha256=` and the hex HMAC-SHA256 of the raw body,
keyed with the shared secret). The body carries `sent_at`, the same instant as the
`X-Tocsin-Timestamp` header, so the signature covers the time too and a receiver can refuse
an old delivery replayed at it. `Idempotency-Key` is the page's ledger key: a retried
delivery carries the same one. The address is never echoed, in the body or in results: a URL
often holds the receiver's own token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from service.clock import Clock
from service.notifier import Outcome, Page, SendResult

if TYPE_CHECKING:
    from adapters.settings import WebhookSettings

USER_AGENT = "Tocsin-Webhook/1"
_SNIPPET = 200


class WebhookNotifier:
    def __init__(
        self, settings: WebhookSettings, session: aiohttp.ClientSession, clock: Clock
    ) -> None:
        self._settings = settings
        self._session = session
        self._clock = clock

    async def send(self, page: Page) -> SendResult:
        parts = urlsplit(page.address)
        allowed = ("https", "http") if self._settings.allow_http else ("https",)
        if parts.scheme not in allowed or not parts.hostname:
            return SendResult(Outcome.PERMANENT, detail="webhook address must be an https URL")
        host = parts.hostname
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
            async with self._session.post(
                page.address, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                snippet = (await response.content.read(_SNIPPET)).decode("utf-8", "replace")
                request_id = response.headers.get("X-Request-Id", "")
        except aiohttp.ClientConnectorCertificateError:
            return SendResult(Outcome.PERMANENT, detail=f"webhook {host}: certificate refused")
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


def webhook_body(page: Page, now: datetime) -> bytes:
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

"""The Twilio plumbing SMS and voice pages share: the SDK's client, pointed at the configured
base URL, the blocking create call run off the event loop, and how Twilio's refusals and
outages become send results.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from adapters.twilio.settings import TWILIO_API
from service.paging.notifier import Outcome, SendResult

if TYPE_CHECKING:
    from adapters.twilio.settings import TwilioSettings

# Twilio error codes that mean this number will never take the page; the HTTP status is
# what decides, these name the reason in the activity log.
NUMBER_ERRORS = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21217: "'To' number does not appear valid",
    21401: "invalid phone number",
    21407: "number type not supported",
    21408: "no permission to send to this region",
    21610: "recipient has unsubscribed (replied STOP)",
    21612: "'To' number cannot be reached from the 'From' number",
    21614: "'To' number is not a mobile number",
    21215: "no permission to call this region",
}


class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio has no types
    """Twilio's own HTTP client, with `https://api.twilio.com` replaced by another base URL
    (a proxy, or a local server in tests)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API + "/"):
            url = self._base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


def twilio_client(settings: TwilioSettings) -> Any:
    return Client(
        settings.account_sid,
        settings.auth_token,
        http_client=RebasedHttpClient(settings.base_url, settings.timeout_seconds),
        # Not os.environ: TWILIO_REGION or TWILIO_EDGE there would move requests elsewhere.
        environment={},
    )


def close_client(client: Any) -> None:
    session = getattr(client.http_client, "session", None)
    if session is not None:
        session.close()


# What Twilio's refusals and outages raise; anything else is a bug and propagates.
PROVIDER_ERRORS = (TwilioRestException, TwilioServiceException, requests.RequestException)


def classify(exc: Exception) -> SendResult:
    """Twilio's refusal or an outage as a result: 429 and 5xx can pass, other 4xx never will."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status, code = int(exc.status), exc.code
        reason = NUMBER_ERRORS.get(code, "") if isinstance(code, int) else ""
        text = getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", "")
        detail = f"Twilio {status} error {code or status}: {reason or _last_line(str(text))}"
        retry = status == 429 or status >= 500
        return SendResult(Outcome.RETRYABLE if retry else Outcome.PERMANENT, detail=detail)
    # Connection refused, reset or timed out: Twilio may be back soon.
    return SendResult(Outcome.RETRYABLE, detail=f"Twilio unreachable: {type(exc).__name__}")


class TwilioNotifier:
    """What the SMS and voice notifiers stand on: their settings and the SDK's client."""

    def __init__(self, settings: TwilioSettings) -> None:
        self._settings = settings
        self._client = twilio_client(settings)

    async def close(self) -> None:
        close_client(self._client)


async def sent(create: Callable[[], Any]) -> SendResult:
    """Runs the SDK's blocking `create` (a message, a call) off the event loop: the record it
    makes is delivered, Twilio's refusals and outages are classified."""
    try:
        record = await asyncio.to_thread(create)
    except PROVIDER_ERRORS as exc:
        return classify(exc)
    return SendResult(Outcome.DELIVERED, provider_id=str(record.sid), detail=record.status)


def _last_line(text: str) -> str:
    # The SDK's message starts with "Unable to create record: " and may carry ANSI colours.
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return " ".join(text.split())[:300]

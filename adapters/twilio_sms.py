"""SMS pages through Twilio's Messages API, and the Twilio plumbing the voice channel shares.

The text fits one SMS segment when it can: 160 GSM-7 characters, or 70 when the alert holds
characters GSM-7 lacks. One segment arrives whole, in order, and costs one message; the
message is cut with an ellipsis and the reply hint always survives, since answering by SMS
is how the person acknowledges.
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

from service.paging.notifier import Outcome, Page, SendResult

if TYPE_CHECKING:
    from adapters.settings import TwilioSettings

TWILIO_API = "https://api.twilio.com"

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

# GSM 03.38: the basic set costs one septet, the extension set two (escape + character).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")
# Look-alikes that would otherwise force the whole text into UCS-2 (70 characters).
_TO_GSM = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark, the typographic apostrophe
        "\u201c": '"',  # left double quotation mark
        "\u201d": '"',  # right double quotation mark
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2026": "...",  # horizontal ellipsis
        "\u2022": "-",  # bullet
        "\u00a0": " ",  # no-break space
        "`": "'",
    }
)
GSM_LIMIT = 160
UCS2_LIMIT = 70


class TwilioSmsNotifier:
    def __init__(self, settings: TwilioSettings) -> None:
        self._settings = settings
        self._client = twilio_client(settings)

    async def send(self, page: Page) -> SendResult:
        def create() -> Any:
            return self._client.messages.create(
                to=page.address, from_=self._settings.sms_from, body=sms_text(page)
            )

        try:
            message = await asyncio.to_thread(create)
        except PROVIDER_ERRORS as exc:
            return classify(exc)
        return SendResult(Outcome.DELIVERED, provider_id=str(message.sid), detail=message.status)

    async def close(self) -> None:
        close_client(self._client)


def sms_text(page: Page) -> str:
    """`Tocsin #12 P1: Disk full on db-1` and the reply hint on its own line, in one segment."""
    head = f"Tocsin #{page.tiny_id} {page.priority}: "
    tail = f"\n{_clean(page.reply_hint)}" if page.reply_hint.strip() else ""
    message = _clean(page.message)
    full = head + message + tail
    gsm = is_gsm(full)
    limit, ellipsis = (GSM_LIMIT, "...") if gsm else (UCS2_LIMIT, "…")
    cost: Callable[[str], int] = gsm_length if gsm else _ucs2_length
    if cost(full) <= limit:
        return full
    room = limit - cost(head + ellipsis + tail)
    if room < 10:  # a hint too long to leave space for the alert: cut the whole text
        return _cut(full, limit - cost(ellipsis), cost).rstrip() + ellipsis
    return head + _cut(message, room, cost).rstrip() + ellipsis + tail


def is_gsm(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def gsm_length(text: str) -> int:
    """Septets `text` takes in GSM-7: what Twilio counts against the 160."""
    return sum(2 if c in _GSM_EXTENDED else 1 for c in text)


def _ucs2_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # characters outside the BMP take two units


def _cut(text: str, budget: int, cost: Callable[[str], int]) -> str:
    """The longest start of `text` that costs at most `budget`."""
    spent = 0
    for end, char in enumerate(text):
        spent += cost(char)
        if spent > budget:
            return text[:end]
    return text


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_TO_GSM)).strip()


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


def _last_line(text: str) -> str:
    # The SDK's message starts with "Unable to create record: " and may carry ANSI colours.
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return " ".join(text.split())[:300]

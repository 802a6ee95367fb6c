"""SMS pages through Twilio's Messages API.

The text fits one SMS segment when it can: 160 GSM-7 characters, or 70 when the alert holds
characters GSM-7 lacks. One segment arrives whole, in order, and costs one message; the
message is cut with an ellipsis and the reply hint always survives, since answering by SMS
is how the person acknowledges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from adapters.twilio.client import TwilioNotifier, sent
from service.paging.notifier import Notification, SendResult

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


class TwilioSmsNotifier(TwilioNotifier):
    async def send(self, page: Notification) -> SendResult:
        def create() -> Any:
            return self._client.messages.create(
                to=page.address, from_=self._settings.sms_from, body=sms_text(page)
            )

        return await sent(create)


def sms_text(page: Notification) -> str:
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

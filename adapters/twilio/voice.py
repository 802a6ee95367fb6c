"""Voice pages through Twilio's Calls API: the call reads the alert and takes one key.

The TwiML travels with the call request (`twiml=`), so a call needs no request back to Tocsin
to start; the key pressed is posted to the HTTP edge at the gather's action URL, which can
serve `voice_twiml` again when the person asks to hear it repeated.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from adapters.twilio.client import TwilioNotifier, sent
from service.paging.notifier import Notification, SendResult

VOICE_PATH = "/v1/twilio/voice"
KEYS = (
    "Press 4 to acknowledge, 5 to escalate to the next responder, 6 to close, "
    "any other key to repeat."
)
_SPOKEN_MAX = 400  # characters of the alert message read out; a call is not an email
_GATHER_SECONDS = 8


class TwilioVoiceNotifier(TwilioNotifier):
    async def send(self, page: Notification) -> SendResult:
        twiml = voice_twiml(page, action_url(self._settings.callback_base_url, page))

        def create() -> Any:
            return self._client.calls.create(
                to=page.address, from_=self._settings.voice_from, twiml=twiml
            )

        return await sent(create)


def action_url(callback_base_url: str, page: Notification) -> str:
    """Where Twilio posts the key pressed; empty when the edge has no public URL."""
    if not callback_base_url:
        return ""
    query = urlencode({"alert": page.alert_id, "key": page.key})
    return f"{callback_base_url.rstrip('/')}{VOICE_PATH}?{query}"


def voice_twiml(page: Notification, action_url: str) -> str:
    """The call's script: the alert, then the keys. Without an action URL nobody could hear
    the key, so the alert is read twice and the keys are not offered."""
    spoken = spoken_alert(page)
    response = VoiceResponse()
    if action_url:
        # Twice: someone fumbling for the phone's keypad gets a second chance.
        for _ in range(2):
            gather = Gather(num_digits=1, action=action_url, method="POST", timeout=_GATHER_SECONDS)
            gather.say(f"{spoken} {KEYS}")
            response.append(gather)
        response.say("No key was pressed. Goodbye.")
    else:
        response.say(spoken)
        response.say(f"Again: {spoken} Acknowledge it in Tocsin. Goodbye.")
    return str(response)


def spoken_alert(page: Notification) -> str:
    """`Tocsin alert 12, priority 1: Disk full on db-1.`"""
    priority = page.priority[1:] if re.fullmatch(r"P\d", page.priority) else page.priority
    message = " ".join(page.message.split())
    if len(message) > _SPOKEN_MAX:
        message = message[:_SPOKEN_MAX].rsplit(" ", 1)[0]
    message = message.rstrip(" .!?;:,") or "no message"
    return f"Tocsin alert {page.tiny_id}, priority {priority}: {message}."

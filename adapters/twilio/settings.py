"""Twilio's settings: the `notifications.twilio` subsection, shared by SMS and voice pages and
by the HTTP edge, whose check of Twilio's callbacks needs the auth token.

Imports nothing of the SDK: every command that reads the configuration reads this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.section import Keys, Section

TWILIO_API = "https://api.twilio.com"
KEYS = Keys(
    (
        "account_sid",
        "sms_from",
        "voice_from",
        "base_url",
        "callback_base_url",
        "timeout_seconds",
    ),
    {"auth_token": "the environment variable TOCSIN_TWILIO_AUTH_TOKEN"},
)


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str = field(repr=False)
    sms_from: str = ""  # E.164; empty: SMS pages go to the console
    voice_from: str = ""  # E.164; empty: voice pages go to the console
    base_url: str = TWILIO_API  # another host speaking Twilio's API: a proxy, a test server
    callback_base_url: str = ""  # the HTTP edge's public URL, for keypad answers on calls
    timeout_seconds: float = 15.0


def twilio_settings(section: Section, public_url: str) -> TwilioSettings | None:
    """`public_url` is the default `callback_base_url`: both are where the HTTP edge is
    reached from outside. None when the subsection is absent."""
    if not section.present:
        return None
    account_sid = section.text("account_sid")
    if not (account_sid.startswith("AC") and len(account_sid) == 34 and account_sid.isalnum()):
        section.fail("account_sid", "required: the account SID, AC followed by 32 characters")
    auth_token = section.env.get("TOCSIN_TWILIO_AUTH_TOKEN", "")
    if not auth_token:
        section.fail("auth_token", "required: set TOCSIN_TWILIO_AUTH_TOKEN")
    sms_from, voice_from = section.phone("sms_from"), section.phone("voice_from")
    if not sms_from and not voice_from:
        section.fail("sms_from", "set sms_from, voice_from or both: the numbers pages come from")
    return TwilioSettings(
        account_sid=account_sid,
        auth_token=auth_token,
        sms_from=sms_from,
        voice_from=voice_from,
        base_url=section.url("base_url", TWILIO_API),
        callback_base_url=section.url("callback_base_url", public_url.rstrip("/")),
        timeout_seconds=section.seconds("timeout_seconds", TwilioSettings.timeout_seconds),
    )

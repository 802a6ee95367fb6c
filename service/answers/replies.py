"""What people answer to a page, read: SMS replies and the keys pressed on a call. Pure.

An SMS names the alert by its tiny id, before or after the word (`12 ack`, `ACK #12`), in any
case; a call's page already names its alert, so one key is enough.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Command(enum.Enum):
    ACKNOWLEDGE = "acknowledge"
    CLOSE = "close"
    ESCALATE = "escalate"  # to the next responder: the escalation's next step happens now


@dataclass(frozen=True)
class SmsCommand:
    command: Command
    tiny_id: int


WORDS = {
    "ack": Command.ACKNOWLEDGE,
    "acknowledge": Command.ACKNOWLEDGE,
    "close": Command.CLOSE,
    "esc": Command.ESCALATE,
    "escalate": Command.ESCALATE,
}
KEYS = {"4": Command.ACKNOWLEDGE, "5": Command.ESCALATE, "6": Command.CLOSE}
SMS_HELP = (
    "Tocsin: reply '12 ack' to acknowledge alert 12, '12 close' to close it, "
    "'12 esc' to escalate it."
)
_ID_FIRST = re.compile(r"#?(\d{1,18})\s+([a-z]+)")
_WORD_FIRST = re.compile(r"([a-z]+)\s+#?(\d{1,18})")


def parse_sms(body: str) -> SmsCommand | None:
    """The command in an SMS reply, or None when it holds none this understands."""
    text = body.strip().lower().rstrip(".!")
    found = _ID_FIRST.fullmatch(text)
    if found is not None:
        number, word = found.groups()
    else:
        found = _WORD_FIRST.fullmatch(text)
        if found is None:
            return None
        word, number = found.groups()
    command = WORDS.get(word)
    if command is None or int(number) == 0:
        return None
    return SmsCommand(command, int(number))


def key_command(digits: str) -> Command | None:
    """What a key pressed on a voice page asks for; None: hear the alert again."""
    return KEYS.get(digits.strip())

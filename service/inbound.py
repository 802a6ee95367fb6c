"""The way back in: people answering their pages by a link, an SMS or a key on a call.

Each answer acts as the person paged (the activity log names them) through the same use
cases as the API, so an acknowledgement cancels the pending pages in its transaction. What
the alert's state forbids (acknowledging a closed alert, escalating past the last step)
becomes a reply saying so, since the person on the phone cannot read a status code.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from service import links, replies
from service.alerts import Alerts
from service.clock import Clock
from service.errors import FailedPrecondition, NotFound
from service.model import Actor, Alert, AlertRef, RefKind, Status
from service.policies import Policies
from service.replies import Command
from service.store import Store
from service.user import Channel, User

UNKNOWN_NUMBER = "Tocsin: sorry, this number belongs to no Tocsin user, so it cannot act on alerts."
_QUOTED_MAX = 100  # characters of the alert message quoted in an SMS answer
_DONE = {
    Command.ACKNOWLEDGE: "Acknowledged",
    Command.CLOSE: "Closed",
    Command.ESCALATE: "Escalated to the next responder",
}
_ALREADY = {Command.ACKNOWLEDGE: "was already acknowledged", Command.CLOSE: "was already closed"}


@dataclass(frozen=True)
class LinkAlert:
    """What an acknowledge link does, or did: for the page the person sees."""

    action: str
    alert_id: str
    tiny_id: int
    message: str
    username: str
    acknowledged_by: str  # empty while nobody has
    closed: bool
    done: bool  # this call acknowledged it


class VoiceOutcome(enum.Enum):
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    CLOSED = "closed"
    REPEAT = "repeat"  # read the alert again
    REFUSED = "refused"  # the alert's state forbids it; `say` tells why


_VOICE_OUTCOMES = {
    Command.ACKNOWLEDGE: VoiceOutcome.ACKNOWLEDGED,
    Command.CLOSE: VoiceOutcome.CLOSED,
    Command.ESCALATE: VoiceOutcome.ESCALATED,
}


@dataclass(frozen=True)
class VoiceAnswer:
    """What a key pressed did, and the page it answered, to read the alert again from."""

    outcome: VoiceOutcome
    say: str
    page_key: str
    alert_id: str
    tiny_id: int
    message: str
    priority: str
    team: str
    username: str
    address: str


class Inbound:
    def __init__(
        self,
        store: Store,
        alerts: Alerts,
        policies: Policies,
        clock: Clock,
        link_secret: Callable[[], bytes],
    ) -> None:
        """`link_secret` gives the key links are signed with (read once the service starts)."""
        self._store = store
        self._alerts = alerts
        self._policies = policies
        self._clock = clock
        self._link_secret = link_secret

    async def redeem_link(self, token: str, confirm: bool) -> LinkAlert:
        """Describes what the link would do; with `confirm`, does it, once."""
        claim = links.verify(self._link_secret(), token, links.ACKNOWLEDGE, self._clock.now())
        digest = links.digest(token)
        if await self._store.link_used(digest):
            raise links.LinkRefused("this link has been used already")
        try:
            user = await self._store.get_user(claim.user_id)
        except NotFound:
            raise links.LinkRefused(
                "the person this link was sent to is no longer a user"
            ) from None
        alert = await self._alerts.get(AlertRef(RefKind.ID, claim.alert_id))
        done = False
        if confirm:
            # Acknowledging is idempotent, so two clicks racing past the check above do no
            # harm; recording the use after it means a failed acknowledgement can be retried.
            transition = await self._alerts.acknowledge(
                AlertRef(RefKind.ID, alert.id), Actor(user.username)
            )
            alert, done = transition.alert, transition.changed
            await self._store.record_link_use(
                digest, alert.id, user.id, claim.expires_at, self._clock.now()
            )
        return LinkAlert(
            claim.action,
            alert.id,
            alert.tiny_id,
            alert.message,
            user.username,
            alert.acknowledged_by if alert.acknowledged else "",
            alert.status is Status.CLOSED,
            done,
        )

    async def sms_reply(self, from_number: str, body: str) -> str:
        """The answer to an SMS sent back to a page."""
        users = await self._store.users_by_contact(Channel.SMS, from_number.strip())
        if not users:
            return UNKNOWN_NUMBER
        if len(users) > 1:
            names = ", ".join(u.username for u in users)
            return f"Tocsin: this number belongs to several users ({names}); act in Tocsin itself."
        parsed = replies.parse_sms(body)
        if parsed is None:
            return replies.SMS_HELP
        try:
            alert = await self._alerts.get(AlertRef(RefKind.TINY_ID, str(parsed.tiny_id)))
        except NotFound:
            return f"Tocsin: there is no alert #{parsed.tiny_id}."
        try:
            changed, alert = await self._act(parsed.command, alert, users[0], "SMS")
        except FailedPrecondition as exc:
            return f"Tocsin: #{alert.tiny_id} unchanged: {exc}."
        quoted = _quoted(alert.message)
        if not changed:
            return f"Tocsin: #{alert.tiny_id} {_ALREADY[parsed.command]}: {quoted}"
        return f"{_DONE[parsed.command]} #{alert.tiny_id}: {quoted}"

    async def voice_digits(self, page_key: str, digits: str) -> VoiceAnswer:
        """What the key pressed during the voice page `page_key` does."""
        page = await self._store.get_page(page_key)
        if page.channel is not Channel.VOICE:
            raise NotFound("page: no voice page with that key")
        alert = await self._alerts.get(AlertRef(RefKind.ID, page.alert_id))
        user = await self._store.get_user(page.username)

        def answer(outcome: VoiceOutcome, say: str) -> VoiceAnswer:
            return VoiceAnswer(
                outcome, say, page.key, alert.id, alert.tiny_id, alert.message,
                alert.priority.name, alert.owner_team, user.username, page.address,
            )  # fmt: skip

        command = replies.key_command(digits)
        if command is None:
            return answer(VoiceOutcome.REPEAT, "")
        try:
            changed, alert = await self._act(command, alert, user, "phone")
        except FailedPrecondition as exc:
            return answer(VoiceOutcome.REFUSED, f"Nothing was changed: {exc}. Goodbye.")
        if not changed:
            return answer(
                _VOICE_OUTCOMES[command],
                f"Alert {alert.tiny_id} {_ALREADY[command]}. Goodbye.",
            )
        return answer(
            _VOICE_OUTCOMES[command], f"{_DONE[command]}: alert {alert.tiny_id}. Goodbye."
        )

    async def _act(
        self, command: Command, alert: Alert, user: User, via: str
    ) -> tuple[bool, Alert]:
        """Does `command` to the alert as `user`; whether it changed anything, and the alert."""
        ref = AlertRef(RefKind.ID, alert.id)
        if command is Command.ACKNOWLEDGE:
            transition = await self._alerts.acknowledge(ref, Actor(user.username))
        elif command is Command.CLOSE:
            transition = await self._alerts.close(ref, Actor(user.username))
        else:
            if alert.status is Status.CLOSED:
                raise FailedPrecondition(f"alert {alert.tiny_id} is closed")
            await self._policies.escalate_now(alert.id)
            # The escalation's own entry names the engine: this one names who asked.
            note = f"escalated to the next responder by {via}"
            transition = await self._alerts.add_note(ref, Actor(user.username, note))
            return True, transition.alert
        return transition.changed, transition.alert


def _quoted(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= _QUOTED_MAX else text[: _QUOTED_MAX - 3].rstrip() + "..."

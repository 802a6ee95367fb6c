"""The way back in: people answering their pages by a link, an SMS or a key on a call.

Each answer acts as the person paged (the activity log names them) through the same
lifecycle steps as the API, so an acknowledgement cancels the pending pages in its
transaction; what makes it happen once (the link's use, Twilio's request id) is written in
that transaction too (see `service.answers.receipts`). What the alert's state forbids
(acknowledging a closed alert, escalating past the last step) becomes a reply saying so,
since the person on the phone cannot read a status code.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from service.alerts import lifecycle
from service.alerts.model import Actor, Alert, AlertRef, RefKind, Status, Transition
from service.alerts.store import AlertEdit
from service.alerts.usecases import Alerts
from service.answers import links, receipts, replies
from service.answers.receipts import Answered, LinkUse, Receipt
from service.answers.replies import Command
from service.answers.store import AnswerStore
from service.core.clock import Clock
from service.core.errors import FailedPrecondition, NotFound
from service.people.model import Channel, User
from service.people.store import PeopleStore

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


_OUTCOMES_BY_VALUE = {outcome.value: outcome for outcome in VoiceOutcome}
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


class AnswersPorts(AnswerStore, PeopleStore, Protocol):
    """What `Answers` reads and writes: answers to pages, and the users who give them."""


class Answers:
    def __init__(
        self,
        store: AnswersPorts,
        alerts: Alerts,
        clock: Clock,
        link_secret: Callable[[], bytes],
    ) -> None:
        """`link_secret` gives the key links are signed with (read once the service starts)."""
        self._store = store
        self._alerts = alerts
        self._clock = clock
        self._link_secret = link_secret

    async def redeem_link(self, token: str, confirm: bool) -> LinkAlert:
        """Describes what the link would do; with `confirm`, does it, once."""
        claim = links.verify(self._link_secret(), token, links.ACKNOWLEDGE, self._clock.now())
        digest = links.digest(token)
        used = links.LinkRefused("this link has been used already")
        if await self._store.link_used(digest):
            raise used
        try:
            user = await self._store.get_user(claim.user_id)
        except NotFound:
            raise links.LinkRefused(
                "the person this link was sent to is no longer a user"
            ) from None
        alert = await self._alerts.get(AlertRef(RefKind.ID, claim.alert_id))
        done = False
        if confirm:
            # The use is recorded in the acknowledgement's transaction: of posts racing each
            # other one acknowledges, the others are refused, and a failed one can be retried.
            now = self._clock.now()
            transition = await self._store.redeem_link(
                LinkUse(digest, alert.id, user.id, claim.expires_at),
                lambda a: lifecycle.acknowledge(a, user.username, now),
                Actor(user.username),
                now,
            )
            if transition is None:
                raise used
            alert, done = transition.alert, transition.changed
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

    async def sms_reply(self, from_number: str, body: str, message_sid: str = "") -> str:
        """The answer to an SMS sent back to a page; the same again, doing nothing more, to
        a request with the `message_sid` of one answered before (Twilio's replays)."""
        sid = receipts.sid(message_sid)
        if sid and (answered := await self._store.twilio_answer(sid)) is not None:
            return answered.answer
        users = await self._store.users_by_contact(Channel.SMS, from_number.strip())
        if not users:
            return UNKNOWN_NUMBER
        if len(users) > 1:
            names = ", ".join(u.username for u in users)
            return f"Tocsin: this number belongs to several users ({names}); act in Tocsin itself."
        parsed = replies.parse_sms(body)
        if parsed is None:
            return replies.SMS_HELP
        user = users[0]
        missing = f"Tocsin: there is no alert #{parsed.tiny_id}."
        try:
            alert = await self._alerts.get(AlertRef(RefKind.TINY_ID, str(parsed.tiny_id)))
        except NotFound:
            return missing
        # A tiny id is easy to guess: an alert the sender was not paged for and whose team
        # they are not in is answered as one that does not exist.
        if not await self._store.may_answer(user.id, alert.id):
            return missing
        command = parsed.command

        def text(transition: Transition) -> str:
            tiny, quoted = transition.alert.tiny_id, _quoted(transition.alert.message)
            if not transition.changed:
                return f"Tocsin: #{tiny} {_ALREADY[command]}: {quoted}"
            return f"{_DONE[command]} #{tiny}: {quoted}"

        try:
            return (await self._act(command, alert, user, "SMS", Receipt(sid, "", text))).answer
        except FailedPrecondition as exc:
            return f"Tocsin: #{alert.tiny_id} unchanged: {exc}."

    async def voice_digits(self, page_key: str, digits: str, call_sid: str = "") -> VoiceAnswer:
        """What the key pressed during the voice page `page_key` does; the first answer
        again, doing nothing more, to a request of a call (`call_sid`) that acted before."""
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

        sid = receipts.sid(call_sid)
        if sid and (answered := await self._store.twilio_answer(sid)) is not None:
            return answer(_voice_outcome(answered), answered.answer)
        command = replies.key_command(digits)
        if command is None:
            return answer(VoiceOutcome.REPEAT, "")
        outcome = _VOICE_OUTCOMES[command]

        def say(transition: Transition) -> str:
            tiny = transition.alert.tiny_id
            if not transition.changed:
                return f"Alert {tiny} {_ALREADY[command]}. Goodbye."
            return f"{_DONE[command]}: alert {tiny}. Goodbye."

        try:
            said = await self._act(command, alert, user, "phone", Receipt(sid, outcome.value, say))
            return answer(_voice_outcome(said), said.answer)
        except FailedPrecondition as exc:
            return answer(VoiceOutcome.REFUSED, f"Nothing was changed: {exc}. Goodbye.")

    async def _act(
        self, command: Command, alert: Alert, user: User, via: str, receipt: Receipt
    ) -> Answered:
        """Does `command` to the alert as `user` and, if the request has a Twilio id, keeps
        the receipt's answer with it, in one transaction; returns the answer (the first one,
        if the request was answered before)."""
        now = self._clock.now()
        actor = Actor(user.username)
        step: AlertEdit
        if command is Command.ACKNOWLEDGE:
            step = lambda a: lifecycle.acknowledge(a, user.username, now)  # noqa: E731
        elif command is Command.CLOSE:
            step = lambda a: lifecycle.close(a, user.username, now)  # noqa: E731
        else:
            # The escalation's own entry names the engine: this one names who asked.
            actor = Actor(user.username, f"escalated to the next responder by {via}")
            note = actor.note
            step = lambda a: lifecycle.add_note(_open(a), note, now)  # noqa: E731
        done = await self._store.answer_page(
            alert.id, step, actor, now, receipt if receipt.sid else None,
            escalate=command is Command.ESCALATE,
        )  # fmt: skip
        return (
            done if isinstance(done, Answered) else Answered(receipt.outcome, receipt.answer(done))
        )


def _voice_outcome(answered: Answered) -> VoiceOutcome:
    # Kept by a call's answer, so always one; a message's id (no outcome) says nothing more.
    return _OUTCOMES_BY_VALUE.get(answered.outcome, VoiceOutcome.REFUSED)


def _open(alert: Alert) -> Alert:
    if alert.status is Status.CLOSED:
        raise FailedPrecondition(f"alert {alert.tiny_id} is closed")
    return alert


def _quoted(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= _QUOTED_MAX else text[: _QUOTED_MAX - 3].rstrip() + "..."

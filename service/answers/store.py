"""The answers' port: who answers a page, and what has been answered already."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from service.alerts.model import Actor, Transition
from service.alerts.store import AlertEdit
from service.answers.receipts import Answered, LinkUse, Receipt
from service.paging.planning import PageRecord
from service.people.model import Channel, User


class AnswerStore(Protocol):
    async def users_by_contact(self, channel: Channel, address: str) -> Sequence[User]:
        """The users with a contact method of this channel and address, by username."""

    async def get_page(self, key: str) -> PageRecord:
        """The page with this ledger key; `NotFound` if none."""

    async def link_used(self, digest: str) -> bool:
        """Whether the acknowledge link with this digest has been redeemed."""

    async def redeem_link(
        self, use: LinkUse, step: AlertEdit, actor: Actor, now: datetime
    ) -> Transition | None:
        """Records the link's use and runs `step` on its alert, in one transaction; None,
        doing nothing, when the link was used before (by a request racing this one, too)."""

    async def twilio_answer(self, sid: str) -> Answered | None:
        """The answer given to the Twilio request with this id, if one was."""

    async def answer_page(
        self,
        alert_id: str,
        step: AlertEdit,
        actor: Actor,
        now: datetime,
        receipt: Receipt | None,
        *,
        escalate: bool = False,
    ) -> Transition | Answered:
        """Runs `step` on the alert (first, with `escalate`, its escalation's next step now,
        else FailedPrecondition) and keeps the receipt's answer, in one transaction; the
        first answer, doing nothing, when the receipt's request was answered before."""

    async def may_answer(self, user_id: str, alert_id: str) -> bool:
        """Whether the user was paged for the alert or is a member of its team."""

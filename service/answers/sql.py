"""The SQL of answers to pages: who owns a number, which page a call was, whether a user may
answer for an alert, and which acknowledge links and Twilio requests have been answered
(see `service.answers.receipts`).

A mixin of `SQLStore`, whose backends supply `_read` and `_write`, and which supplies
`_update`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from service.alerts.model import Actor, AlertRef, RefKind, Transition
from service.alerts.store import AlertEdit
from service.answers.receipts import TWILIO_RETENTION, Answered, LinkUse, Receipt
from service.core.clock import to_micros
from service.core.database import Db, Transactions
from service.core.errors import FailedPrecondition, NotFound
from service.escalation import runs
from service.paging.planning import PageRecord
from service.paging.sql import page_record
from service.people.model import Channel, User
from service.people.sql import user_of


class SQLAnswers(Transactions):
    async def users_by_contact(self, channel: Channel, address: str) -> Sequence[User]:
        # Contact methods live as JSON on the user's row; people are few, so a scan is cheap.
        return await self._read(
            lambda conn: [
                user_of(r)
                for r in conn.execute(
                    f"SELECT * FROM users u WHERE {conn.dialect.contact_match} "
                    "ORDER BY u.username_key",
                    (channel.value, address),
                )
            ]
        )

    async def get_page(self, key: str) -> PageRecord:
        def job(conn: Db) -> PageRecord:
            row = conn.execute(
                "SELECT p.*, u.username FROM pages p LEFT JOIN users u ON u.id = p.user_id "
                "WHERE p.key = ?",
                (key,),
            ).fetchone()
            if row is None:
                raise NotFound("page: no page with that key")
            return page_record(row)

        return await self._read(job)

    async def link_used(self, digest: str) -> bool:
        return await self._read(
            lambda conn: (
                conn.execute("SELECT 1 FROM used_links WHERE digest = ?", (digest,)).fetchone()
                is not None
            )
        )

    async def redeem_link(
        self, use: LinkUse, step: AlertEdit, actor: Actor, now: datetime
    ) -> Transition | None:
        def job(conn: Db) -> Transition | None:
            # A link past its expiry is refused on that ground alone: its row can go.
            conn.execute("DELETE FROM used_links WHERE expires_at < ?", (to_micros(now),))
            if conn.execute("SELECT 1 FROM used_links WHERE digest = ?", (use.digest,)).fetchone():
                return None
            transition = self._update(conn, AlertRef(RefKind.ID, use.alert_id), step, actor, now)
            # No ON CONFLICT: a use committed by another transaction since this one's
            # snapshot is a unique violation, the job runs again, and the check above sees it.
            conn.execute(
                "INSERT INTO used_links (digest, alert_id, user_id, expires_at, used_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (use.digest, use.alert_id, use.user_id, to_micros(use.expires_at),
                 to_micros(now)),
            )  # fmt: skip
            return transition

        return await self._write(job)

    async def twilio_answer(self, sid: str) -> Answered | None:
        return await self._read(lambda conn: _answered(conn, sid))

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
        def job(conn: Db) -> Transition | Answered:
            if receipt is not None:
                cutoff = to_micros(now - TWILIO_RETENTION)
                conn.execute("DELETE FROM twilio_answers WHERE answered_at < ?", (cutoff,))
                answered = _answered(conn, receipt.sid)
                if answered is not None:
                    return answered
            # The step first: what it refuses (a closed alert) is the better reason.
            transition = self._update(conn, AlertRef(RefKind.ID, alert_id), step, actor, now)
            if escalate and not runs.escalate(conn, alert_id, now):
                raise FailedPrecondition("the alert's escalation has nothing left to do")
            if receipt is not None:
                # As for links: a replay racing this one conflicts here and runs again.
                conn.execute(
                    "INSERT INTO twilio_answers (sid, outcome, answer, answered_at) "
                    "VALUES (?, ?, ?, ?)",
                    (receipt.sid, receipt.outcome, receipt.answer(transition), to_micros(now)),
                )
            return transition

        return await self._write(job)

    async def may_answer(self, user_id: str, alert_id: str) -> bool:
        def job(conn: Db) -> bool:
            paged = conn.execute(
                "SELECT 1 FROM pages WHERE alert_id = ? AND user_id = ? LIMIT 1",
                (alert_id, user_id),
            ).fetchone()
            member = conn.execute(
                "SELECT 1 FROM alerts a JOIN team_members m ON m.team_id = a.team_id "
                "WHERE a.id = ? AND m.user_id = ?",
                (alert_id, user_id),
            ).fetchone()
            return paged is not None or member is not None

        return await self._read(job)

    @abc.abstractmethod
    def _update(
        self, conn: Db, ref: AlertRef, step: AlertEdit, actor: Actor, now: datetime
    ) -> Transition:
        """Runs `step` on the alert and writes what it changed, as `update_alert` does."""


def _answered(conn: Db, sid: str) -> Answered | None:
    row = conn.execute(
        "SELECT outcome, answer FROM twilio_answers WHERE sid = ?", (sid,)
    ).fetchone()
    return None if row is None else Answered(row["outcome"], row["answer"])

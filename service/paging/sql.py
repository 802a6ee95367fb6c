"""The SQL of the page ledger: claiming due pages for sending (with their throttles), recording
what the providers said, and reading the ledger.

`SQLPages` is a mixin of `SQLStore`, which supplies `_read`/`_write`/`_claim` and the alert
plumbing it shares (`_load_alert`, `_log`). Pages are planned into the ledger by the
escalation runs (`service.escalation.runs`), in the transaction of the step that pages.
"""

from __future__ import annotations

import abc
import functools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from service.alerts.model import Alert, Change
from service.core.clock import from_micros, to_micros
from service.core.database import Db, Row, Transactions
from service.paging.notifier import SendResult
from service.paging.planning import ClaimedPage, Claims, PageRecord, PageState
from service.paging.settlement import settle
from service.paging.throttle import THROTTLES, ClaimHolds, Send, Verdict
from service.people.model import Channel


def page_record(row: Row) -> PageRecord:
    """A row of the ledger (joined with its user's, for the username) as the ports give it."""
    return PageRecord(
        key=row["key"],
        alert_id=row["alert_id"],
        username=row["username"] or row["user_id"],
        channel=Channel(row["channel"]),
        address=row["address"],
        state=PageState(row["state"]),
        due_at=from_micros(row["due_at"]),
        attempts=row["attempts"],
        provider_id=row["provider_id"],
        detail=row["detail"],
        sent_at=None if row["sent_at"] is None else from_micros(row["sent_at"]),
    )


# The states of the partial index over pages still to send (`pages_due`), spelled exactly as it
# is: written into the SQL, not bound, so that SQLite uses the index.
_DUE_STATES = "('pending', 'retry', 'sending')"


def _recent_sends(conn: Db, channel: Channel, address: str, now: datetime) -> list[Send]:
    """The latest sends (page key, when) to `address` on a throttled channel, as many as its
    throttle counts and one more, since a page being sent again must not count itself. Only
    pages that went, or may have gone, count: one that failed or waits to retry did not."""
    count, window = THROTTLES[channel]
    return [
        (r["key"], from_micros(r["sent_at"]))
        for r in conn.execute(
            "SELECT key, sent_at FROM pages WHERE channel = ? AND address = ? AND sent_at > ? "
            "AND state IN ('sending', 'delivered') ORDER BY sent_at DESC LIMIT ?",
            (channel.value, address, to_micros(now - window), count + 1),
        )
    ]


def _hold(
    conn: Db,
    channel: Channel,
    address: str,
    until: datetime,
    now: datetime,
    claimed: set[str],
) -> list[Row]:
    """Moves every page due to `address` (not being sent, nor claimed by this claim) to
    `until`; returns those held back for the first time, for the activity log."""
    waiting = [
        row
        for row in conn.execute(
            "SELECT p.key, p.alert_id, p.user_id, p.detail, u.username FROM pages p "
            f"LEFT JOIN users u ON u.id = p.user_id WHERE p.state IN {_DUE_STATES} "
            "AND p.state != 'sending' AND p.due_at <= ? AND p.channel = ? "
            f"AND p.address = ?{conn.dialect.skip_locked('p')}",
            (to_micros(now), channel.value, address),
        )
        if row["key"] not in claimed
    ]
    conn.executemany(
        "UPDATE pages SET due_at = ?, detail = 'throttled' WHERE key = ? "
        "AND state IN ('pending', 'retry')",
        [(to_micros(until), row["key"]) for row in waiting],
    )
    return [row for row in waiting if row["detail"] != "throttled"]


def _claimed(row: Row, alert: Alert) -> ClaimedPage:
    """The due page `row`, claimed for its next attempt."""
    return ClaimedPage(
        key=row["key"],
        alert=alert,
        user_id=row["user_id"],
        username=row["username"] or row["user_id"],
        channel=Channel(row["channel"]),
        address=row["address"],
        round=row["round"],
        attempt=row["attempts"] + 1,
    )


def _throttled(row: Row, channel: Channel, until: datetime) -> Change:
    """The activity entry of a page held back for the first time."""
    who = row["username"] or row["user_id"]
    after = {"user": who, "channel": channel.value, "until": until.isoformat()}
    return Change("page throttled", after=after)


def _lock_throttled_addresses(conn: Db, rows: Sequence[Row]) -> None:
    """With other engines at work, only one at a time may count and add to the recent sends
    to one phone number; in one order, so that two engines never wait for each other."""
    if not conn.dialect.name_lock:
        return
    addresses = sorted(
        {f"{row['channel']}:{row['address']}" for row in rows if Channel(row["channel"]) in
         THROTTLES}
    )  # fmt: skip
    for address in addresses:
        conn.execute(conn.dialect.name_lock, (address,))


class SQLPages(Transactions):
    # What the ledger shares with the alerts (`SQLStore` has them).

    @abc.abstractmethod
    def _load_alert(self, conn: Db, alert_id: str) -> Alert: ...

    @abc.abstractmethod
    def _log(self, conn: Db, alert_id: str, changes: Sequence[Change], now: datetime) -> None: ...

    async def claim_pages(self, now: datetime, limit: int, lease: timedelta) -> Claims:
        """Due pages, marked as being sent (with a lease: if this process dies, they are due
        again when it runs out). Pages a throttle holds back are moved to when it allows."""
        return await self._claim(lambda conn: self._claim_pages(conn, now, limit, lease))

    def _claim_pages(self, conn: Db, now: datetime, limit: int, lease: timedelta) -> Claims:
        # The states are written into the SQL, not bound: only then can SQLite use the
        # partial index over pages still to send, instead of scanning the whole ledger.
        rows = conn.execute(
            "SELECT p.*, u.username FROM pages p LEFT JOIN users u ON u.id = p.user_id "
            f"WHERE p.state IN {_DUE_STATES} AND p.due_at <= ? AND (p.state != 'sending' "
            f"OR p.lease_until <= ?) ORDER BY p.due_at LIMIT ?{conn.dialect.skip_locked('p')}",
            (to_micros(now), to_micros(now), limit),
        ).fetchall()
        _lock_throttled_addresses(conn, rows)
        holds = ClaimHolds(now)
        alerts: dict[str, Alert] = {}
        claimed: list[ClaimedPage] = []
        held: list[tuple[object, ...]] = []
        notes: dict[str, list[Change]] = {}
        for row in rows:
            why = row["cancelled_because"]
            if row["state"] == PageState.SENDING.value and why is not None:
                # Its sender died after the alert was acknowledged: not sent again.
                conn.execute(
                    "UPDATE pages SET state = 'cancelled', detail = ?, lease_until = NULL "
                    "WHERE key = ?",
                    (why, row["key"]),
                )
                continue
            channel, address = Channel(row["channel"]), row["address"]
            recent = functools.partial(_recent_sends, conn, channel, address, now)
            decision = holds.decide(row["key"], channel, address, recent)
            if decision.verdict is Verdict.HOLD:
                held.append((to_micros(decision.until), row["key"]))
                # Every page due to this address waits with it: one statement for a storm of
                # pages to one phone, not one per page.
                mine = {page.key for page in claimed}
                for waiting in _hold(conn, channel, address, decision.until, now, mine):
                    note = _throttled(waiting, channel, decision.until)
                    notes.setdefault(waiting["alert_id"], []).append(note)
            elif decision.verdict is Verdict.HELD:
                if row["state"] == PageState.SENDING.value:  # not pending: not moved with them
                    held.append((to_micros(decision.until), row["key"]))
            else:
                alert = alerts.get(row["alert_id"])
                if alert is None:  # an alert's pages tend to fall due together
                    alert = alerts[row["alert_id"]] = self._load_alert(conn, row["alert_id"])
                claimed.append(_claimed(row, alert))
        conn.executemany(
            "UPDATE pages SET state = 'sending', attempts = ?, lease_until = ?, "
            "sent_at = ?, detail = '' WHERE key = ?",
            [(page.attempt, to_micros(now + lease), to_micros(now), page.key) for page in claimed],
        )
        conn.executemany("UPDATE pages SET due_at = ?, detail = 'throttled' WHERE key = ?", held)
        for alert_id, changes in notes.items():
            self._log(conn, alert_id, changes, now)
        return Claims(claimed, len(rows))

    async def record_pages(
        self,
        answers: Sequence[tuple[ClaimedPage, SendResult]],
        now: datetime,
        rng: random.Random,
    ) -> list[PageState]:
        """What the providers said, into the ledger and the alerts' activity, in one job;
        nothing for a page that is no longer its sender's (its lease ran out and it was
        claimed again)."""
        return await self._write(
            lambda conn: [self._record(conn, c, r, now, rng) for c, r in answers]
        )

    def _record(
        self,
        conn: Db,
        claimed: ClaimedPage,
        result: SendResult,
        now: datetime,
        rng: random.Random,
    ) -> PageState:
        """One provider's answer; a job already runs."""
        flag = conn.execute(
            "SELECT cancelled_because FROM pages WHERE key = ? AND state = 'sending' "
            "AND attempts = ?",
            (claimed.key, claimed.attempt),
        ).fetchone()
        why = None if flag is None else flag["cancelled_because"]
        settled = settle(claimed, result, why, now, rng)
        due = None if settled.due is None else to_micros(settled.due)
        recorded = conn.execute(
            "UPDATE pages SET state = ?, due_at = COALESCE(?, due_at), provider_id = ?, "
            "detail = ?, lease_until = NULL WHERE key = ? AND state = 'sending' "
            "AND attempts = ?",
            (settled.state.value, due, result.provider_id, result.detail, claimed.key,
             claimed.attempt),
        ).rowcount  # fmt: skip
        if not recorded:
            row = conn.execute("SELECT state FROM pages WHERE key = ?", (claimed.key,))
            found = row.fetchone()
            return PageState(found["state"]) if found else PageState.CANCELLED
        self._log(conn, claimed.alert.id, [Change(settled.action, after=settled.details)], now)
        return settled.state

    async def next_due(self) -> datetime | None:
        """The earliest escalation step, page or snooze end due, for the engine to sleep
        until."""

        def job(conn: Db) -> datetime | None:
            found = [
                conn.execute(
                    "SELECT MIN(due_at) FROM escalations WHERE due_at IS NOT NULL"
                ).fetchone()[0],
                conn.execute(
                    "SELECT MIN(snoozed_until) FROM alerts "
                    "WHERE snoozed_until IS NOT NULL AND status = 'open'"
                ).fetchone()[0],
                # A page being sent is due again only when its lease runs out.
                conn.execute(
                    "SELECT MIN(CASE WHEN state = 'sending' AND lease_until > due_at "
                    "THEN lease_until ELSE due_at END) "
                    f"FROM pages WHERE state IN {_DUE_STATES}"
                ).fetchone()[0],
            ]
            times = [t for t in found if t is not None]
            return from_micros(min(times)) if times else None

        return await self._read(job)

    async def list_pages(self, alert_id: str) -> Sequence[PageRecord]:
        return await self._read(
            lambda conn: [
                page_record(r)
                for r in conn.execute(
                    "SELECT p.*, u.username FROM pages p LEFT JOIN users u ON u.id = p.user_id "
                    "WHERE p.alert_id = ? ORDER BY p.due_at, p.key",
                    (alert_id,),
                )
            ]
        )

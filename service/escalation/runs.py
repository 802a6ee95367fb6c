"""The SQL of escalation runs: starting an alert's escalation in the transaction that creates
it, what a change to the alert does to it, and the engine moving it on, step by step, with
the pages each step plans.

The policy and routing SQL is `service.escalation.sql`; this is the engine's side, written
against the alerts and the page ledger too. `SQLEscalations` is a mixin of `SQLStore`, which
supplies `_read`/`_write`/`_claim` and the alert plumbing it shares (`_load_alert`, `_log`,
`_save_alert`). The escalation and page logic is pure (`service.escalation.steps`,
`service.paging.planning`, `service.escalation.recipients`); here it is run inside one
transaction per step, so a step's outcome and its next job are written together.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from service.alerts import lifecycle
from service.alerts.model import Actor, Alert, Change, PagingPlan, PlannedStep, Status, Transition
from service.core.clock import from_micros, to_micros
from service.core.database import RETRY_WHOLE_JOB, Db, Transactions
from service.core.errors import NotFound
from service.escalation import documents as escalation_documents
from service.escalation import recipients
from service.escalation import sql as escalation_sql
from service.escalation import steps as escalation
from service.escalation.model import EscalationRule
from service.escalation.responders import people, resolve_responders
from service.escalation.steps import ENGINE_ACTOR, Escalation, State
from service.paging import planning as paging
from service.paging.planning import PageState
from service.people.model import User
from service.people.sql import user_of, user_row

log = logging.getLogger(__name__)
ENGINE = Actor(ENGINE_ACTOR)
_STEPS_MAX = 1_000  # rules x cycles is at most 20 x 21: a bound, not a limit anyone meets
_FAILED_STEP_RETRY = timedelta(minutes=1)


# Run inside the alert writes of `SQLStore`


def start_escalation(
    conn: Db, alert: Alert, now: datetime
) -> tuple[dict[str, object], list[Change], PagingPlan]:
    """Snapshots the policy the new alert routes to (plus its responders: users, teams and
    schedules at once, escalation policies' rules alongside the policy's by their delays)
    and schedules its first rule; returns what to add to the alert's "created" entry, other
    activity, and whom it will page."""
    routing = escalation_sql.team_routing(conn, alert.owner_team_id)
    wanted = set()
    if routing is not None:
        wanted = {r.policy_id for r in routing.rules} | {routing.default_policy_id}
    chosen_from = (escalation_sql.policy_by_id(conn, p) for p in sorted(wanted - {""}))
    policies = {p.id: p for p in chosen_from if p is not None}
    chosen, rule_name = recipients.route(alert, routing, policies, now)
    responders = resolve_responders(conn, alert.responders)
    extra = [rule for policy in responders.policies for rule in policy.rules]
    if responders.targets:
        extra.append(EscalationRule(timedelta(), responders.targets))
    if extra:
        rules = (*chosen.rules, *extra)
        chosen = dataclasses.replace(chosen, rules=tuple(sorted(rules, key=lambda r: r.delay)))
    state = escalation.start(alert.id, chosen, now)
    routed: dict[str, object] = {"policy": chosen.name}
    if rule_name:
        routed["routing rule"] = rule_name
    if responders.policies:
        routed["responder policies"] = [p.name for p in responders.policies]
    on_call = escalation_sql.directory(conn, {alert.owner_team_id: routing})
    steps, why = recipients.plan(chosen, now, on_call)
    nobody = "" if any(users for _, users in steps) else "; ".join(why) or "no rule names anyone"
    if nobody and not chosen.id and not extra:
        # A team without a policy pages its on-call at once, and only that: when that is
        # nobody, the escalation is over before it starts, and the alert's first entry says
        # so (no step for the engine to run a moment later).
        state = dataclasses.replace(state, state=escalation.State.DONE, due_at=None)
        routed["paging"] = f"nobody: {nobody}"
    save_escalation(conn, state, insert=True)
    found = people(conn, sorted({user for _, users in steps for user in users}))
    named = {user: found.get(user, (user, False)) for _, users in steps for user in users}
    unreachable = tuple(dict.fromkeys(name for name, reachable in named.values() if not reachable))
    if named and len(unreachable) == len(named):
        nobody = f"{', '.join(unreachable)}: no contact methods"
    plan = PagingPlan(
        ", ".join([chosen.name, *(p.name for p in responders.policies)]),
        tuple(PlannedStep(delay, tuple(named[u][0] for u in users)) for delay, users in steps),
        nobody,
        unreachable,
    )
    missing = [Change("responder not found", after={"responder": m}) for m in responders.missing]
    return routed, missing, plan


def react_to_change(conn: Db, before: Alert, after: Alert, now: datetime) -> list[Change]:
    """What a change to the alert does to its escalation and pending pages, in the same
    transaction as the change."""
    # Locked, even when only pages are cancelled: an engine paging this alert right now
    # saves the escalation, so this waits for it and then runs again on a snapshot that has
    # the pages it planned, to cancel them too.
    current = load_escalation(conn, after.id, lock=True)
    if current is None:
        return []
    reaction = escalation.react(before, after, current, now)
    changes = []
    if reaction.cancel_pages:
        why = _why_cancelled(after)
        cancelled = _cancel_pages(conn, after.id, why)
        if cancelled:
            changes.append(Change("pages cancelled", after={"count": cancelled, "why": why}))
    if reaction.escalation is not None:
        save_escalation(conn, reaction.escalation)
        if reaction.escalation.run != current.run:
            changes.append(Change("escalation restarted", after={"from rule": 1}))
    return changes


def _cancel_pages(conn: Db, alert_id: str, why: str) -> int:
    """Cancels the alert's pages still waiting to be sent; returns how many. Pages being sent
    right now cannot be stopped: they are flagged, so that if the send fails (or its sender
    dies) they are cancelled rather than tried again, whoever stopped the paging (a person's
    change, or the engine closing the alert after its last repeat)."""
    cancelled = conn.execute(
        "UPDATE pages SET state = ?, detail = ? WHERE alert_id = ? AND state IN (?, ?)",
        (PageState.CANCELLED.value, why, alert_id, PageState.PENDING.value,
         PageState.RETRY.value),
    ).rowcount  # fmt: skip
    conn.execute(
        "UPDATE pages SET cancelled_because = ? WHERE alert_id = ? AND state = ?",
        (why, alert_id, PageState.SENDING.value),
    )
    return int(cancelled)


def _why_cancelled(alert: Alert) -> str:
    if alert.status is Status.CLOSED:
        return "closed"
    if alert.snoozed_until is not None:
        return "snoozed"
    return "acknowledged"


def load_escalation(conn: Db, alert_id: str, *, lock: bool = False) -> Escalation | None:
    """The alert's escalation, None if it has none; `lock`: locked until the job ends."""
    locking = conn.dialect.lock_rows("escalations") if lock else ""
    row = conn.execute(
        f"SELECT * FROM escalations WHERE alert_id = ?{locking}", (alert_id,)
    ).fetchone()
    if row is None:
        return None
    return Escalation(
        alert_id=alert_id,
        policy=escalation_documents.policy(row["policy"]),
        cycle_start=from_micros(row["cycle_start"]),
        run=row["run"],
        cycle=row["cycle"],
        next_rule=row["next_rule"],
        due_at=None if row["due_at"] is None else from_micros(row["due_at"]),
        state=State(row["state"]),
    )


def save_escalation(conn: Db, e: Escalation, *, insert: bool = False) -> None:
    """Writes where the escalation stands (`insert`: its first row, with its policy)."""
    due = None if e.due_at is None else to_micros(e.due_at)
    if insert:
        conn.execute(
            "INSERT INTO escalations (alert_id, policy, cycle_start, run, cycle, next_rule, "
            "due_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.alert_id,
                escalation_documents.policy_json(e.policy),
                to_micros(e.cycle_start),
                e.run,
                e.cycle,
                e.next_rule,
                due,
                e.state.value,
            ),
        )
        return
    conn.execute(
        "UPDATE escalations SET cycle_start = ?, run = ?, cycle = ?, next_rule = ?, due_at = ?, "
        "state = ? WHERE alert_id = ?",
        (to_micros(e.cycle_start), e.run, e.cycle, e.next_rule, due, e.state.value, e.alert_id),
    )


def escalate(conn: Db, alert_id: str, now: datetime) -> bool:
    """Makes the alert's next escalation step due now; False if nothing is left."""
    current = load_escalation(conn, alert_id)
    moved = None if current is None else escalation.escalate_now(current, now)
    if moved is None:
        return False
    save_escalation(conn, moved)
    return True


def claim_due_escalations(conn: Db, now: datetime, limit: int) -> Sequence[str]:
    """The earliest escalations due by `now` that nobody else is working on, locked with
    their alerts: a step may write the alert back (a repeat that resets the acknowledgement),
    and a change made to it meanwhile must wait, not be overwritten. Chosen and locked in one
    statement, so that engines on other replicas take the next ones, not the same."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT e.alert_id FROM escalations e JOIN alerts a ON a.id = e.alert_id "
            "WHERE e.due_at IS NOT NULL AND e.due_at <= ? "
            f"ORDER BY e.due_at LIMIT ?{conn.dialect.skip_locked('e, a')}",
            (to_micros(now), limit),
        )
    ]


class SQLEscalations(Transactions):
    # What escalation runs share with the alerts (`SQLStore` has them).

    @abc.abstractmethod
    def _load_alert(self, conn: Db, alert_id: str) -> Alert: ...

    @abc.abstractmethod
    def _load_alerts(self, conn: Db, alert_ids: Sequence[str]) -> dict[str, Alert]: ...

    @abc.abstractmethod
    def _log(self, conn: Db, alert_id: str, changes: Sequence[Change], now: datetime) -> None: ...

    @abc.abstractmethod
    def _save_alert(self, conn: Db, transition: Transition, now: datetime) -> None:
        """Writes an engine-made change to the alert without reacting to it again."""

    async def escalate_now(self, alert_id: str, now: datetime) -> bool:
        return await self._write(lambda conn: escalate(conn, alert_id, now))

    async def run_due_escalations(self, now: datetime, limit: int) -> tuple[int, int]:
        """Takes up to `limit` escalations with a step due by `now` that no other engine is
        running, and runs every due step of each (pages planned, activity recorded, the next
        step scheduled) in one job, sharing look-ups of schedules and users. Each alert's
        steps are fenced by a savepoint: one that fails is undone and logged, and the others
        still commit; it is retried a minute later. Returns (escalations run, pages planned)."""

        def job(conn: Db) -> tuple[int, int]:
            directory = escalation_sql.directory(conn)
            users: dict[str, User] = {}
            planned = 0
            mine = claim_due_escalations(conn, now, limit)
            alerts = self._load_alerts(conn, mine)  # in one go: each step reads its alert
            for alert_id in mine:
                try:
                    with conn.savepoint():
                        alert = alerts.get(alert_id) or self._load_alert(conn, alert_id)
                        planned += self._advance(conn, alert, now, directory, users)
                except RETRY_WHOLE_JOB:
                    raise
                except Exception:
                    log.exception("the escalation of alert %s failed; retrying later", alert_id)
                    conn.execute(  # not at once: a step that fails now will likely fail again
                        "UPDATE escalations SET due_at = ? WHERE alert_id = ?",
                        (to_micros(now + _FAILED_STEP_RETRY), alert_id),
                    )
            return len(mine), planned

        return await self._claim(job)

    def _advance(
        self,
        conn: Db,
        alert: Alert,
        now: datetime,
        directory: recipients.Directory,
        users: dict[str, User],
    ) -> int:
        alert_id = alert.id
        current = load_escalation(conn, alert_id)
        if current is None:
            return 0
        changes: list[Change] = []
        planned = 0
        for _ in range(_STEPS_MAX):
            if current.due_at is None or current.due_at > now:
                break
            # Each step happens at its due time, however late the engine runs it: the
            # people on call then are paged, and the next step keeps its own time.
            when = current.due_at
            result = escalation.step(current, alert, when)
            changes.extend(result.changes)
            current = result.escalation
            if result.rule is not None:
                count, paging_whom, notes = self._page_rule(
                    conn, alert, current, result.rule, when, directory, users
                )
                planned += count
                if paging_whom:  # one entry per step: whom it pages, and how
                    step = changes[-1]
                    whom = "; ".join(paging_whom)
                    changes[-1] = Change(step.action, step.before, {**step.after, "paging": whom})
                changes.extend(notes)
                if count == 0:
                    current = escalation.nobody_paged(current, when)
            if (result.unacknowledge and alert.acknowledged) or result.close:
                self._log(conn, alert_id, changes, now)  # the step first, then its effect
                changes = []
            if result.unacknowledge and alert.acknowledged:
                transition = lifecycle.unacknowledge(alert, now)
                self._save_alert(conn, transition, now)
                alert = transition.alert
            if result.close and alert.status is Status.OPEN:
                transition = lifecycle.close(alert, ENGINE_ACTOR, now)
                self._save_alert(conn, transition, now)
                _cancel_pages(conn, alert_id, "closed")
                alert = transition.alert
        save_escalation(conn, current)
        if changes:
            self._log(conn, alert_id, changes, now)
        return planned

    def _page_rule(
        self,
        conn: Db,
        alert: Alert,
        current: Escalation,
        index: int,
        now: datetime,
        directory: recipients.Directory,
        known: dict[str, User],
    ) -> tuple[int, list[str], list[Change]]:
        """Plans the pages of rule `index`: how many, whom ("alice (email, sms)"), and
        activity for targets with nobody to page."""
        rule = current.policy.rules[index]
        notes: list[Change] = []
        whom: list[str] = []
        users: list[str] = []
        for target in rule.targets:
            found = recipients.recipients(target, now, directory)
            if not found.users:
                notes.append(Change("nobody to page", after={"target": target.describe(),
                                                             "why": found.why_nobody}))  # fmt: skip
            users.extend(u for u in found.users if u not in users)
        planned = 0
        for user_id in users:
            user = known.get(user_id)
            if user is None:
                try:
                    user = known[user_id] = user_of(user_row(conn, user_id))
                except NotFound:
                    notes.append(
                        Change("nobody to page", after={"user": user_id, "why": "deleted"})
                    )
                    continue
            pages = paging.plan(user, alert, current.run, current.cycle, index, now)
            if not pages:
                notes.append(Change("nobody to page", after={
                    "user": user.username, "why": "no contact methods"}))  # fmt: skip
                continue
            inserted = conn.executemany(
                "INSERT INTO pages (key, alert_id, user_id, contact_method_id, channel, "
                "address, round, state, due_at, attempts, lease_until, sent_at, "
                "provider_id, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0, "
                "NULL, NULL, '', '', ?) ON CONFLICT (key) DO NOTHING",
                [
                    (page.key, page.alert_id, page.user_id, page.contact_method_id,
                     page.channel.value, page.address, page.round, to_micros(page.due_at),
                     to_micros(now))
                    for page in pages
                ],
            )  # fmt: skip
            planned += inserted.rowcount  # pages planned before (same key) are not planned again
            channels = ", ".join(dict.fromkeys(p.channel.value for p in pages if p.round == 0))
            whom.append(f"{user.username} ({channels})")
        return planned, whom, notes

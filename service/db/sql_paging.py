"""The SQL of paging: policies, team routing, escalations and the page ledger.

A mixin of `SQLStore`, which supplies `_read`/`_write`/`_claim` and the alert plumbing it shares
(`_load_alert`, `_log`, `_save_alert`). The escalation and page logic is pure
(`service.escalation.steps`, `service.paging.planning`, `service.escalation.recipients`); here
it is run inside one transaction per step, so a step's outcome and its next job are written
together.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from service.alerts import lifecycle
from service.alerts.model import Actor, Alert, Change, PagingPlan, PlannedStep, Status, Transition
from service.core.clock import from_micros, to_micros
from service.core.database import (
    RETRY_WHOLE_JOB,
    Db,
    IntegrityError,
    Row,
    Transactions,
    hold_references,
    lock_referenced,
)
from service.core.errors import AlreadyExists, FailedPrecondition, NotFound, shown
from service.escalation import documents as escalation_documents
from service.escalation import recipients
from service.escalation import steps as escalation
from service.escalation.model import EscalationRule, Policy, Routing, TargetKind
from service.escalation.responders import people, resolve_responders
from service.escalation.steps import ENGINE_ACTOR, Escalation, State
from service.oncall.model import Override, Schedule
from service.oncall.sql import override_of, schedule_of
from service.paging import planning as paging
from service.paging.notifier import Outcome, SendResult
from service.paging.planning import ClaimedPage, Claims, PageRecord, PageState
from service.people.model import Channel, User
from service.people.sql import user_of, user_row

log = logging.getLogger(__name__)
ENGINE = Actor(ENGINE_ACTOR)
_STEPS_MAX = 1_000  # rules x cycles is at most 20 x 21: a bound, not a limit anyone meets


# Run inside the alert writes of SQLiteStore


def start_escalation(
    conn: Db, alert: Alert, now: datetime
) -> tuple[dict[str, object], list[Change], PagingPlan]:
    """Snapshots the policy the new alert routes to (plus its responders: users, teams and
    schedules at once, escalation policies' rules alongside the policy's by their delays)
    and schedules its first rule; returns what to add to the alert's "created" entry, other
    activity, and whom it will page."""
    routing = _routing(conn, alert.owner_team_id)
    wanted = set()
    if routing is not None:
        wanted = {r.policy_id for r in routing.rules} | {routing.default_policy_id}
    policies = {
        p.id: p
        for p in (_policy_by_id(conn, policy_id) for policy_id in sorted(wanted - {""}))
        if p is not None
    }
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
    steps, why = recipients.plan(chosen, now, _directory(conn, {alert.owner_team_id: routing}))
    nobody = "" if any(users for _, users in steps) else "; ".join(why) or "no rule names anyone"
    if nobody and not chosen.id and not extra:
        # A team without a policy pages its on-call at once, and only that: when that is
        # nobody, the escalation is over before it starts, and the alert's first entry says
        # so (no step for the engine to run a moment later).
        state = dataclasses.replace(state, state=escalation.State.DONE, due_at=None)
        routed["paging"] = f"nobody: {nobody}"
    _save_escalation(conn, state, insert=True)
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


def react(conn: Db, before: Alert, after: Alert, now: datetime) -> list[Change]:
    """What a change to the alert does to its escalation and pending pages, in the same
    transaction as the change."""
    # Locked, even when only pages are cancelled: an engine paging this alert right now
    # saves the escalation, so this waits for it and then runs again on a snapshot that has
    # the pages it planned, to cancel them too.
    current = _load_escalation(conn, after.id, lock=True)
    if current is None:
        return []
    reaction = escalation.react(before, after, current, now)
    changes = []
    if reaction.cancel_pages:
        cancelled = conn.execute(
            "UPDATE pages SET state = ?, detail = ? WHERE alert_id = ? AND state IN (?, ?)",
            (
                PageState.CANCELLED.value,
                _why_cancelled(after),
                after.id,
                PageState.PENDING.value,
                PageState.RETRY.value,
            ),
        ).rowcount
        # Pages being sent right now cannot be stopped; flag them, so that if this send
        # fails (or the sender dies) they are cancelled rather than tried again.
        conn.execute(
            "UPDATE pages SET detail = ? WHERE alert_id = ? AND state = 'sending'",
            (f"cancel:{_why_cancelled(after)}", after.id),
        )
        if cancelled:
            changes.append(
                Change("pages cancelled", after={"count": cancelled, "why": _why_cancelled(after)})
            )
    if reaction.escalation is not None:
        _save_escalation(conn, reaction.escalation)
        if reaction.escalation.run != current.run:
            changes.append(Change("escalation restarted", after={"from rule": 1}))
    return changes


def _why_cancelled(alert: Alert) -> str:
    if alert.status is Status.CLOSED:
        return "closed"
    if alert.snoozed_until is not None:
        return "snoozed"
    return "acknowledged"


# Rows


_TARGET_TABLES = {
    TargetKind.USER: ("users", "user"),
    TargetKind.SCHEDULE: ("schedules", "schedule"),
    TargetKind.SCHEDULE_NEXT: ("schedules", "schedule"),
    TargetKind.SCHEDULE_PREVIOUS: ("schedules", "schedule"),
    TargetKind.TEAM: ("teams", "team"),
    TargetKind.TEAM_MEMBERS: ("teams", "team"),
}


def _hold_targets(conn: Db, policy: Policy) -> None:
    """The users, schedules and teams the policy pages still exist, and stay until it is
    saved."""
    targets = [t for rule in policy.rules for t in rule.targets]
    for table, what in sorted(set(_TARGET_TABLES.values())):
        ids = [t.ref for t in targets if _TARGET_TABLES[t.kind] == (table, what)]
        hold_references(conn, table, ids, what)


def _routed_to(conn: Db, policy_id: str) -> bool:
    """Whether any team's routing chooses the policy."""
    for routing in conn.execute("SELECT team_id, document FROM team_routing"):
        used = escalation_documents.routing(routing["team_id"], routing["document"])
        if policy_id in {r.policy_id for r in used.rules} | {used.default_policy_id}:
            return True
    return False


def _policy_by_id(conn: Db, policy_id: str) -> Policy | None:
    row = conn.execute(
        "SELECT document FROM escalation_policies WHERE id = ?", (policy_id,)
    ).fetchone()
    return None if row is None else escalation_documents.policy(row["document"])


def _policy_row(conn: Db, ref: str) -> Row:
    row: Row | None = conn.execute(
        "SELECT * FROM escalation_policies WHERE id = ?", (ref,)
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT * FROM escalation_policies WHERE name_key = ?", (ref.lower(),)
        ).fetchone()
    if row is None:
        raise NotFound(f"policy: no policy named {shown(ref)}")
    return row


def _load_escalation(conn: Db, alert_id: str, *, lock: bool = False) -> Escalation | None:
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


def _save_escalation(conn: Db, e: Escalation, *, insert: bool = False) -> None:
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


def _routing(conn: Db, team_id: str) -> Routing | None:
    """The team's routing as stored; None if it has none."""
    row = conn.execute("SELECT document FROM team_routing WHERE team_id = ?", (team_id,))
    found = row.fetchone()
    return None if found is None else escalation_documents.routing(team_id, found["document"])


def _directory(
    conn: Db, routings: Mapping[str, Routing | None] | None = None
) -> recipients.Directory:
    """Look-ups on `conn` for one job: each answer is read once and remembered, since the
    job's steps all happen within moments of each other (a schedule is read with its
    overrides a year either side of the first step that asks). `routings`: teams' routing
    the job has read already."""
    routings = routings or {}
    schedules: dict[str, tuple[Schedule, Sequence[Override]] | None] = {}

    def schedule(schedule_id: str, now: datetime) -> tuple[Schedule, Sequence[Override]] | None:
        if schedule_id not in schedules:
            row = conn.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
            found = None
            if row is not None:
                horizon = to_micros(now + timedelta(days=366)), to_micros(now - timedelta(days=366))
                overrides = [
                    override_of(r)
                    for r in conn.execute(
                        "SELECT * FROM schedule_overrides WHERE schedule_id = ? AND start_at < ? "
                        "AND end_at > ? ORDER BY created_at, id",
                        (schedule_id, *horizon),
                    )
                ]
                found = (schedule_of(row), overrides)
            schedules[schedule_id] = found
        return schedules[schedule_id]

    @functools.cache
    def team_schedules(team_id: str) -> list[str]:
        return [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM schedules WHERE team_id = ? ORDER BY name_key", (team_id,)
            )
        ]

    @functools.cache
    def team_members(team_id: str) -> list[str]:
        return [
            r["user_id"]
            for r in conn.execute(
                "SELECT m.user_id FROM team_members m JOIN users u ON u.id = m.user_id "
                "WHERE m.team_id = ? ORDER BY u.username_key",
                (team_id,),
            )
        ]

    @functools.cache
    def default_schedule(team_id: str) -> str:
        routing = routings[team_id] if team_id in routings else _routing(conn, team_id)
        return "" if routing is None else routing.default_schedule_id

    return recipients.Directory(schedule, team_schedules, team_members, default_schedule)


def _page_record(row: Row) -> PageRecord:
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


_DUE_STATES = "('pending', 'retry', 'sending')"
_FAILED_STEP_RETRY = timedelta(minutes=1)


def _recent_sends(
    conn: Db, channel: Channel, address: str, now: datetime
) -> list[tuple[str, datetime]]:
    """The latest sends (page key, when) to `address` on a throttled channel, as many as its
    throttle counts and one more, since a page being sent again must not count itself. Only
    pages that went, or may have gone, count: one that failed or waits to retry did not."""
    count, window = paging.THROTTLES[channel]
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
            # The state list is the partial index's, written out so SQLite uses it.
            "SELECT p.key, p.alert_id, p.user_id, p.detail, u.username FROM pages p "
            "LEFT JOIN users u ON u.id = p.user_id WHERE p.state IN ('pending', 'retry', "
            "'sending') AND p.state != 'sending' AND p.due_at <= ? AND p.channel = ? "
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


class SQLPaging(Transactions):
    # What the paging tables share with the alerts (`SQLStore` has them).

    @abc.abstractmethod
    def _load_alert(self, conn: Db, alert_id: str) -> Alert: ...

    @abc.abstractmethod
    def _load_alerts(self, conn: Db, alert_ids: Sequence[str]) -> dict[str, Alert]: ...

    @abc.abstractmethod
    def _log(self, conn: Db, alert_id: str, changes: Sequence[Change], now: datetime) -> None: ...

    @abc.abstractmethod
    def _save_alert(self, conn: Db, transition: Transition, now: datetime) -> None:
        """Writes an engine-made change to the alert without reacting to it again."""

    # Policies

    async def create_policy(self, policy: Policy) -> Policy:
        def job(conn: Db) -> Policy:
            _hold_targets(conn, policy)
            try:
                conn.execute(
                    "INSERT INTO escalation_policies (id, name, name_key, team_id, document, "
                    "created_at) VALUES (?, ?, ?, ?, ?, 0)",
                    (policy.id, policy.name, policy.name.lower(), policy.team_id,
                     escalation_documents.policy_json(policy)),
                )  # fmt: skip
            except IntegrityError as exc:
                raise AlreadyExists(f"a policy named {policy.name!r} already exists") from exc
            return policy

        return await self._write(job)

    async def get_policy(self, policy: str) -> Policy:
        return await self._read(
            lambda conn: escalation_documents.policy(_policy_row(conn, policy)["document"])
        )

    async def list_policies(self, team: str) -> Sequence[Policy]:
        def job(conn: Db) -> list[Policy]:
            sql = "SELECT document FROM escalation_policies"
            params: tuple[str, ...] = ()
            if team:
                found = conn.execute(
                    "SELECT id FROM teams WHERE id = ? OR name_key = ?", (team, team.lower())
                ).fetchone()
                if found is None:
                    raise NotFound(f"team: no team named {shown(team)}")
                sql, params = sql + " WHERE team_id = ?", (found["id"],)
            rows = conn.execute(sql + " ORDER BY name_key", params)
            return [escalation_documents.policy(r["document"]) for r in rows]

        return await self._read(job)

    async def update_policy(self, policy: str, step: Callable[[Policy], Policy]) -> Policy:
        def job(conn: Db) -> Policy:
            # Locked before it is read, in case it moves to another team (and read after, as a
            # claim sees the latest commit).
            policy_id = _policy_row(conn, policy)["id"]
            lock_referenced(conn, "escalation_policies", policy_id)
            row = _policy_row(conn, policy_id)
            changed = step(escalation_documents.policy(row["document"]))
            if changed.team_id != row["team_id"] and _routed_to(conn, row["id"]):
                # A team's routing may only choose its own policies.
                raise FailedPrecondition(
                    f"policy {row['name']!r} is used by its team's routing: change that "
                    "before moving the policy to another team"
                )
            _hold_targets(conn, changed)
            try:
                conn.execute(
                    "UPDATE escalation_policies SET name = ?, name_key = ?, team_id = ?, "
                    "document = ? WHERE id = ?",
                    (changed.name, changed.name.lower(), changed.team_id,
                     escalation_documents.policy_json(changed), row["id"]),
                )  # fmt: skip
            except IntegrityError as exc:
                raise AlreadyExists(f"a policy named {changed.name!r} already exists") from exc
            return changed

        return await self._claim(job)

    async def delete_policy(self, policy: str) -> None:
        def job(conn: Db) -> None:
            row = _policy_row(conn, policy)
            lock_referenced(conn, "escalation_policies", row["id"])
            if _routed_to(conn, row["id"]):
                raise FailedPrecondition(
                    f"policy {row['name']!r} is used by its team's routing: change that first"
                )
            conn.execute("DELETE FROM escalation_policies WHERE id = ?", (row["id"],))

        await self._claim(job)

    async def set_routing(self, routing: Routing) -> Routing:
        def job(conn: Db) -> Routing:
            # A team's routing chooses among its own policies and schedules.
            policies = [r.policy_id for r in routing.rules] + [routing.default_policy_id]
            team = routing.team_id
            hold_references(conn, "escalation_policies", policies, "policy", team)
            hold_references(conn, "schedules", [routing.default_schedule_id], "schedule", team)
            conn.execute(
                "INSERT INTO team_routing (team_id, document) VALUES (?, ?) "
                "ON CONFLICT (team_id) DO UPDATE SET document = excluded.document",
                (routing.team_id, escalation_documents.routing_json(routing)),
            )
            return routing

        return await self._write(job)

    async def get_routing(self, team: str) -> Routing:
        def job(conn: Db) -> Routing:
            found = conn.execute(
                "SELECT id FROM teams WHERE id = ? OR name_key = ?", (team, team.lower())
            ).fetchone()
            if found is None:
                raise NotFound(f"team: no team named {shown(team)}")
            return _routing(conn, found["id"]) or Routing(found["id"])

        return await self._read(job)

    # Escalations

    async def escalate_now(self, alert_id: str, now: datetime) -> bool:
        def job(conn: Db) -> bool:
            current = _load_escalation(conn, alert_id)
            moved = None if current is None else escalation.escalate_now(current, now)
            if moved is None:
                return False
            _save_escalation(conn, moved)
            return True

        return await self._write(job)

    async def run_due_escalations(self, now: datetime, limit: int) -> tuple[int, int]:
        """Takes up to `limit` escalations with a step due by `now` that no other engine is
        running, and runs every due step of each (pages planned, activity recorded, the next
        step scheduled) in one job, sharing look-ups of schedules and users. Each alert's
        steps are fenced by a savepoint: one that fails is undone and logged, and the others
        still commit; it is retried a minute later. Returns (escalations run, pages planned)."""

        def job(conn: Db) -> tuple[int, int]:
            directory = _directory(conn)
            users: dict[str, User] = {}
            planned = 0
            mine = _claim_due(conn, now, limit)
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
        current = _load_escalation(conn, alert_id)
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
                conn.execute(
                    "UPDATE pages SET state = ?, detail = 'closed' WHERE alert_id = ? "
                    "AND state IN (?, ?)",
                    (PageState.CANCELLED.value, alert_id, PageState.PENDING.value,
                     PageState.RETRY.value),
                )  # fmt: skip
                alert = transition.alert
        _save_escalation(conn, current)
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

    # Pages

    async def claim_pages(self, now: datetime, limit: int, lease: timedelta) -> Claims:
        """Due pages, marked as being sent (with a lease: if this process dies, they are due
        again when it runs out). Pages a throttle holds back are moved to when it allows."""

        def job(conn: Db) -> Claims:
            # The states are written into the SQL, not bound: only then can SQLite use the
            # partial index over pages still to send, instead of scanning the whole ledger.
            rows = conn.execute(
                "SELECT p.*, u.username FROM pages p LEFT JOIN users u ON u.id = p.user_id "
                f"WHERE p.state IN {_DUE_STATES} AND p.due_at <= ? AND (p.state != 'sending' "
                f"OR p.lease_until <= ?) ORDER BY p.due_at LIMIT ?{conn.dialect.skip_locked('p')}",
                (to_micros(now), to_micros(now), limit),
            ).fetchall()
            _lock_throttled_addresses(conn, rows)
            claimed = []
            alerts: dict[str, Alert] = {}
            recent: dict[tuple[Channel, str], list[tuple[str, datetime]]] = {}
            sending: list[tuple[int, str]] = []
            held: list[tuple[object, ...]] = []
            notes: dict[str, list[Change]] = {}
            holding: dict[tuple[Channel, str], datetime] = {}
            for row in rows:
                if row["state"] == PageState.SENDING.value and row["detail"].startswith("cancel:"):
                    # Its sender died after the alert was acknowledged: not sent again.
                    conn.execute(
                        "UPDATE pages SET state = 'cancelled', lease_until = NULL WHERE key = ?",
                        (row["key"],),
                    )
                    continue
                channel = Channel(row["channel"])
                if channel in paging.THROTTLES:
                    address = (channel, row["address"])
                    if address in holding:  # already held back, with every page due to it
                        if row["state"] == PageState.SENDING.value:  # not pending: by itself
                            held.append((to_micros(holding[address]), row["key"]))
                        continue
                    # The address's recent sends are read once per claim, then kept up to date
                    # here as this claim sends to it.
                    sends = recent.get(address)
                    if sends is None:
                        sends = recent[address] = _recent_sends(conn, channel, row["address"], now)
                    others = [at for key, at in sends if key != row["key"]]
                    until = paging.throttled_until(channel, others, now)
                    if until is not None:
                        holding[address] = until
                        held.append((to_micros(until), row["key"]))
                        # Every page due to this address waits with it: one statement for a
                        # storm of pages to one phone, not one per page.
                        mine = {key for _, key in sending}
                        for waiting in _hold(conn, channel, row["address"], until, now, mine):
                            note = {
                                "user": waiting["username"] or waiting["user_id"],
                                "channel": channel.value,
                                "until": until.isoformat(),
                            }
                            notes.setdefault(waiting["alert_id"], []).append(
                                Change("page throttled", after=note)
                            )
                        continue
                    sends.append((row["key"], now))
                attempt = row["attempts"] + 1
                sending.append((attempt, row["key"]))
                alert = alerts.get(row["alert_id"])
                if alert is None:  # an alert's pages tend to fall due together
                    alert = alerts[row["alert_id"]] = self._load_alert(conn, row["alert_id"])
                claimed.append(
                    ClaimedPage(
                        key=row["key"],
                        alert=alert,
                        user_id=row["user_id"],
                        username=row["username"] or row["user_id"],
                        channel=channel,
                        address=row["address"],
                        round=row["round"],
                        attempt=attempt,
                    )
                )
            conn.executemany(
                "UPDATE pages SET state = 'sending', attempts = ?, lease_until = ?, "
                "sent_at = ?, detail = '' WHERE key = ?",
                [
                    (attempt, to_micros(now + lease), to_micros(now), key)
                    for attempt, key in sending
                ],
            )
            conn.executemany(
                "UPDATE pages SET due_at = ?, detail = 'throttled' WHERE key = ?", held
            )
            for alert_id, changes in notes.items():
                self._log(conn, alert_id, changes, now)
            return Claims(claimed, len(rows))

        return await self._claim(job)

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
        who: dict[str, object] = {"user": claimed.username, "channel": claimed.channel.value}
        due = None  # unchanged
        if result.outcome is Outcome.DELIVERED:
            state, action = PageState.DELIVERED, "paged"
            details = {**who, "provider id": result.provider_id}
        elif result.outcome is Outcome.RETRYABLE and claimed.attempt < paging.MAX_ATTEMPTS:
            wait = paging.retry_delay(claimed.attempt, rng)
            state, due, action = PageState.RETRY, to_micros(now + wait), "page retrying"
            details = {**who, "why": result.detail, "in seconds": round(wait.total_seconds())}
        else:
            state, action = PageState.FAILED, "page failed"
            details = {**who, "why": result.detail, "attempts": claimed.attempt}
        flag = conn.execute(
            "SELECT detail FROM pages WHERE key = ? AND state = 'sending' AND attempts = ?",
            (claimed.key, claimed.attempt),
        ).fetchone()
        if (
            flag is not None
            and flag["detail"].startswith("cancel:")
            and (state is not PageState.DELIVERED)
        ):
            # Acknowledged (or closed, snoozed) while this was with the provider: a
            # failed send is not tried again.
            state, due, action = PageState.CANCELLED, None, "page cancelled"
            details = {**who, "why": flag["detail"].removeprefix("cancel:")}
        recorded = conn.execute(
            "UPDATE pages SET state = ?, due_at = COALESCE(?, due_at), provider_id = ?, "
            "detail = ?, lease_until = NULL WHERE key = ? AND state = 'sending' "
            "AND attempts = ?",
            (state.value, due, result.provider_id, result.detail, claimed.key,
             claimed.attempt),
        ).rowcount  # fmt: skip
        if not recorded:
            row = conn.execute("SELECT state FROM pages WHERE key = ?", (claimed.key,))
            found = row.fetchone()
            return PageState(found["state"]) if found else PageState.CANCELLED
        self._log(conn, claimed.alert.id, [Change(action, after=details)], now)
        return state

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
                _page_record(r)
                for r in conn.execute(
                    "SELECT p.*, u.username FROM pages p LEFT JOIN users u ON u.id = p.user_id "
                    "WHERE p.alert_id = ? ORDER BY p.due_at, p.key",
                    (alert_id,),
                )
            ]
        )


def _lock_throttled_addresses(conn: Db, rows: Sequence[Row]) -> None:
    """With other engines at work, only one at a time may count and add to the recent sends
    to one phone number; in one order, so that two engines never wait for each other."""
    if not conn.dialect.name_lock:
        return
    addresses = sorted(
        {f"{row['channel']}:{row['address']}" for row in rows if Channel(row["channel"]) in
         paging.THROTTLES}
    )  # fmt: skip
    for address in addresses:
        conn.execute(conn.dialect.name_lock, (address,))


def _claim_due(conn: Db, now: datetime, limit: int) -> Sequence[str]:
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

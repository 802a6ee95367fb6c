"""The SQL of escalation policies and team routing: their rows, what they refer to (see
`service.core.database`), and the on-call directory their targets resolve through.

`SQLPolicies` is a mixin of `SQLStore`, whose backends supply `_read`, `_write` and `_claim`.
The SQL of the escalations themselves (starting one with its alert, moving it on as the engine
runs it) is `service.escalation.runs`: together the two would pass 400 lines, and they split
where their tables do, this module writing only policies and routing (and reading the
schedules, teams and members they name), that one the escalations, alerts and page ledger.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from service.core.clock import to_micros
from service.core.database import (
    Db,
    IntegrityError,
    Row,
    Transactions,
    hold_references,
    lock_referenced,
    row_by_id_or_name,
)
from service.core.errors import AlreadyExists, FailedPrecondition
from service.escalation import documents as escalation_documents
from service.escalation import recipients
from service.escalation.model import Policy, Routing, TargetKind
from service.oncall.model import Override, Schedule
from service.oncall.sql import override_of, schedule_of
from service.teams.owners import team_row


class SQLPolicies(Transactions):
    # Policies

    async def create_policy(self, policy: Policy) -> Policy:
        def job(conn: Db) -> Policy:
            _hold_targets(conn, policy)
            try:
                conn.execute(
                    f"INSERT INTO escalation_policies (id, created_at, {', '.join(_COLUMNS)}) "
                    f"VALUES (?, 0, {', '.join('?' * len(_COLUMNS))})",
                    (policy.id, *_columns(policy)),
                )
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
                sql, params = sql + " WHERE team_id = ?", (team_row(conn, team, "team")["id"],)
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
                    f"UPDATE escalation_policies SET {', '.join(f'{c} = ?' for c in _COLUMNS)} "
                    "WHERE id = ?",
                    (*_columns(changed), row["id"]),
                )
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
            team_id = team_row(conn, team, "team")["id"]
            return team_routing(conn, team_id) or Routing(team_id)

        return await self._read(job)


def refuse_if_paged(conn: Db, ref_id: str, what: str) -> None:
    """Refuses to delete what an escalation policy pages, or what a team's routing names as
    its on-call schedule: alerts would otherwise page nobody, without a word."""
    policies = [
        r["name"]
        for r in conn.execute("SELECT name, document FROM escalation_policies ORDER BY name_key")
        if any(
            t.ref == ref_id
            for rule in escalation_documents.policy(r["document"]).rules
            for t in rule.targets
        )
    ]
    routings = routing_teams(conn, ref_id)
    if policies:
        raise FailedPrecondition(
            f"{what} is paged by escalation policy {', '.join(policies)}: change those first"
        )
    if routings:
        raise FailedPrecondition(
            f"{what} is the on-call schedule of team {', '.join(routings)}'s routing: "
            "change that first"
        )


def routing_teams(conn: Db, schedule_id: str) -> list[str]:
    """The teams whose routing names the schedule as their on-call schedule."""
    return [
        r["name"]
        for r in conn.execute(
            "SELECT t.name, r.team_id, r.document FROM team_routing r "
            "JOIN teams t ON t.id = r.team_id ORDER BY t.name_key"
        )
        if escalation_documents.routing(r["team_id"], r["document"]).default_schedule_id
        == schedule_id
    ]


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


def policy_by_id(conn: Db, policy_id: str) -> Policy | None:
    row = conn.execute(
        "SELECT document FROM escalation_policies WHERE id = ?", (policy_id,)
    ).fetchone()
    return None if row is None else escalation_documents.policy(row["document"])


# What a policy's insert and update write, in the order `_columns` gives them.
_COLUMNS = ("name", "name_key", "team_id", "document")


def _columns(policy: Policy) -> tuple[object, ...]:
    return (
        policy.name,
        policy.name.lower(),
        policy.team_id,
        escalation_documents.policy_json(policy),
    )


def _policy_row(conn: Db, ref: str) -> Row:
    return row_by_id_or_name(conn, "escalation_policies", "name_key", ref, "policy")


def team_routing(conn: Db, team_id: str) -> Routing | None:
    """The team's routing as stored; None if it has none."""
    row = conn.execute("SELECT document FROM team_routing WHERE team_id = ?", (team_id,))
    found = row.fetchone()
    return None if found is None else escalation_documents.routing(team_id, found["document"])


def directory(
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
        routing = routings[team_id] if team_id in routings else team_routing(conn, team_id)
        return "" if routing is None else routing.default_schedule_id

    return recipients.Directory(schedule, team_schedules, team_members, default_schedule)

"""The store's SQL, composed of each capability's (see `service.core.database`), and the jobs that
span capabilities in one transaction.

Each capability's SQL is a mixin of `SQLStore`: `service.alerts.sql`, `service.teams.sql`,
`service.tokens.sql`, `service.ingest.sql` and the rest below. What writes an alert and, in
the same transaction, starts or moves its escalation (creating an alert, changing it by
hand, taking an SNS delivery or a monitoring tool's event), or asks every capability what a
team still owns, is composed here: the capabilities' SQL modules do not import one another.

`SQLiteStore` and `PostgresStore` supply the plumbing: `_read` and `_write` run a job on a
connection inside one transaction, and `_signal` wakes watchers after each commit.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from service.alerts import lifecycle
from service.alerts import sql as alerts_sql
from service.alerts.model import (
    Actor,
    Alert,
    AlertRef,
    Change,
    CreateResult,
    NewAlert,
    RefKind,
    Status,
    Transition,
)
from service.alerts.sql import SQLAlerts, alert_from, alert_row, insert_activity
from service.alerts.store import AlertEdit
from service.answers.sql import SQLAnswers
from service.core.database import Db, Row
from service.core.errors import InvalidArgument, NotFound
from service.db.references import SQLReferences
from service.escalation.responders import resolve_responders
from service.escalation.runs import ENGINE, SQLEscalations, react_to_change, start_escalation
from service.escalation.sql import SQLPolicies
from service.ingest import opsgenie, rules
from service.ingest import sql as ingest_sql
from service.ingest.model import (
    ActionKind,
    IngestAction,
    IngestResult,
    IntegrationType,
    RequestRecord,
    SnsDelivery,
)
from service.ingest.sql import SQLIntegrations
from service.oncall.sql import SQLSchedules
from service.paging.sql import SQLPages
from service.people.sql import SQLPeople
from service.teams.model import DEFAULT_TEAM
from service.teams.sql import SQLTeams
from service.tokens.sql import SQLTokens

log = logging.getLogger(__name__)


class SQLStore(
    SQLAlerts,
    SQLTeams,
    SQLIntegrations,
    SQLTokens,
    SQLPeople,
    SQLSchedules,
    SQLReferences,
    SQLPolicies,
    SQLEscalations,
    SQLPages,
    SQLAnswers,
):
    """The `Store`, but for its connections: `SQLiteStore` and `PostgresStore` add them."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def migrate(self) -> list[str]: ...

    async def ping(self) -> None:
        """Answers once the database does: what health checks ask."""
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    # What escalation runs and the page ledger write to the alerts

    def _log(self, conn: Db, alert_id: str, changes: Sequence[Change], now: datetime) -> None:
        insert_activity(conn, alert_id, changes, ENGINE, now)

    def _save_alert(self, conn: Db, transition: Transition, now: datetime) -> None:
        alerts_sql.save_transition(conn, transition, ENGINE, now)  # the engine's own change

    # Alerts, with what each change does to their escalation

    async def create_alert(
        self, alert: NewAlert, actor: Actor, now: datetime, new_id: str
    ) -> CreateResult:
        return await self._write(lambda conn: _create_alert(conn, alert, actor, now, new_id))

    async def update_alert(
        self, ref: AlertRef, step: AlertEdit, actor: Actor, now: datetime
    ) -> Transition:
        return await self._write(lambda conn: self._update(conn, ref, step, actor, now))

    def _update(
        self, conn: Db, ref: AlertRef, step: AlertEdit, actor: Actor, now: datetime
    ) -> Transition:
        before = alert_from(alert_row(conn, ref))
        transition = step(before)
        _write_transition(conn, before, transition, actor, now)
        return transition

    # SNS deliveries, which write alerts

    async def ingest_sns(
        self,
        delivery: SnsDelivery,
        key_hash: str,
        action: Callable[[IntegrationType], IngestAction] | None,
        actor: Actor,
        now: datetime,
        new_id: str,
    ) -> IngestResult:
        def job(conn: Db) -> IngestResult:
            row = ingest_sql.accepting_integration(conn, delivery, key_hash, pin=action is not None)
            seen = ingest_sql.message_seen(conn, row["id"], delivery.message_id)
            if action is None:
                return IngestResult(duplicate=seen is not None, alert=None, deduplicated=False)
            if seen is not None:
                earlier = None
                if seen["alert_id"] is not None:
                    earlier = alert_from(alert_row(conn, AlertRef(RefKind.ID, seen["alert_id"])))
                return IngestResult(duplicate=True, alert=earlier, deduplicated=False)
            default = action(IntegrationType(row["type"]))
            result = _apply_rules(conn, row, default, actor, now, new_id)
            alert_id = None if result.alert is None else result.alert.id
            ingest_sql.record_message(conn, row["id"], delivery.message_id, alert_id, now)
            return result

        return await self._write(job)

    # Events in a monitoring tool's API, which write alerts the same way

    async def ingest_event(
        self,
        kind: IntegrationType,
        key_hash: str,
        integration_id: str,
        actions: Callable[[str], Sequence[IngestAction]],
        actor: Actor,
        now: datetime,
        new_id: Callable[[], str],
        request: tuple[str, str] | None = None,
    ) -> IngestResult:
        def job(conn: Db) -> IngestResult:
            row = ingest_sql.keyed_integration(conn, kind, key_hash, integration_id)
            taken = actions(row["name"])
            result = _first_found(
                _apply_rules(conn, row, action, actor, now, new_id()) for action in taken
            )
            if request is not None:
                alias = taken[0].alert.alias if taken else ""
                _record_request(conn, row["id"], request, alias, result, now)
            return result

        return await self._write(job)

    async def request_status(
        self, kind: IntegrationType, key_hash: str, request_id: str
    ) -> RequestRecord:
        def job(conn: Db) -> RequestRecord:
            row = ingest_sql.keyed_integration(conn, kind, key_hash, "")
            return ingest_sql.request_record(conn, row["id"], request_id)

        return await self._read(job)


def _record_request(
    conn: Db, integration_id: str, request: tuple[str, str], alias: str, result: IngestResult,
    now: datetime,
) -> None:  # fmt: skip
    request_id, name = request
    found = result.alert is not None
    success, status = opsgenie.status(name, found, result.deduplicated)
    alert_id = "" if result.alert is None else result.alert.id
    alias = alias if result.alert is None else result.alert.alias
    record = RequestRecord(
        request_id, integration_id, name, success, status, alert_id, alias, now
    )  # fmt: skip
    ingest_sql.record_request(conn, record)


def _apply_rules(
    conn: Db, row: Row, default: IngestAction, actor: Actor, now: datetime, new_id: str
) -> IngestResult:
    """Takes what the integration's rules make of `default`, for its assignee team: what every
    way in for alerts shares. The result is the first action's, or the first that found an
    alert."""
    outcome = rules.decide(row["rules"], default)
    results = []
    for taken in outcome.actions:
        routed = dataclasses.replace(
            taken.alert, owner_team=row["assignee_team_id"], integration=row["name"]
        )
        results.append(_take(conn, taken, routed, Actor(actor.user, taken.note), now, new_id))
    return _first_found(results)


def _first_found(results: Iterable[IngestResult]) -> IngestResult:
    """Takes every result in turn and answers with the first, or the first that found an
    alert: what an event or a rule that does several things answers."""
    result = IngestResult(duplicate=False, alert=None, deduplicated=False)
    for index, done in enumerate(results):
        if index == 0 or result.alert is None:
            result = done
    return result


def _create_alert(
    conn: Db, alert: NewAlert, actor: Actor, now: datetime, new_id: str, *, strict: bool = True
) -> CreateResult:
    """Creates the alert, or counts it into the open one with its alias and team. A caller's
    responder that names nothing is refused (`strict`); one set by an integration's rules is
    noted on the alert instead, since its delivery cannot be told and must not be lost."""
    if strict:
        unknown = resolve_responders(conn, alert.responders)
        if unknown.missing:
            index, responder = unknown.missing_at[0], alert.responders[unknown.missing_at[0]]
            raise InvalidArgument(
                f"responders[{index}]", f"no {responder.type} named {responder.name!r}"
            )
    alias = alert.alias or new_id
    row = alerts_sql.team_with_open_alias(conn, alert.owner_team or DEFAULT_TEAM, alias)
    if row["id"] is not None:
        before = alert_from(row)
        transition = lifecycle.deduplicate(before, now)
        _write_transition(conn, before, transition, actor, now)
        return CreateResult(transition.alert, deduplicated=True)

    def fresh(tiny_id: int) -> Alert:
        return lifecycle.new(alert, new_id, tiny_id, row["owner_id"], row["team_name"], now)

    created = fresh(alerts_sql.insert_alert(conn, new_id, alias, fresh(0)))
    # The policy is snapshotted in the transaction that creates the alert: nothing that
    # happens to the policy afterwards changes whom this alert pages.
    routed, notes, plan = start_escalation(conn, created, now)
    if notes:
        log.warning(
            "alert %s names responders that do not exist: %s",
            created.tiny_id, ", ".join(str(n.after["responder"]) for n in notes),
        )  # fmt: skip
    entry = lifecycle.created(created)
    entry = dataclasses.replace(entry, after={**entry.after, **routed})
    insert_activity(conn, created.id, (entry,), actor, now)
    insert_activity(conn, created.id, notes, ENGINE, now)
    return CreateResult(created, deduplicated=False, paging=plan)


def _write_transition(
    conn: Db, before: Alert, transition: Transition, actor: Actor, now: datetime
) -> None:
    """Saves a change to the alert and what it does to the escalation: acknowledging cancels
    pending pages in this same transaction."""
    if not transition.changes:
        return
    alerts_sql.save_transition(conn, transition, actor, now)
    changes = react_to_change(conn, before, transition.alert, now)
    insert_activity(conn, transition.alert.id, changes, ENGINE, now)


def _take(
    conn: Db,
    action: IngestAction,
    alert: NewAlert,
    actor: Actor,
    now: datetime,
    new_id: str,
) -> IngestResult:
    """One action of a delivery. Acting on the open alert with the alert's alias when there
    is none is no error: an OK may come for an alarm that was closed by hand."""
    if action.kind is ActionKind.CREATE:
        created = _create_alert(conn, alert, actor, now, new_id, strict=False)
        return IngestResult(False, created.alert, created.deduplicated)
    current = _acted_on(conn, action, alert)
    if current is None:
        return IngestResult(duplicate=False, alert=None, deduplicated=False)
    if action.kind is ActionKind.UNACKNOWLEDGE and not current.acknowledged:
        return IngestResult(duplicate=False, alert=current, deduplicated=False)
    if action.kind is ActionKind.CLOSE:
        transition = lifecycle.close(current, actor.user, now)
    elif action.kind is ActionKind.ACKNOWLEDGE:
        transition = lifecycle.acknowledge(current, actor.user, now)
    elif action.kind is ActionKind.UNACKNOWLEDGE:
        transition = lifecycle.unacknowledge(current, now)
    else:
        transition = lifecycle.add_note(current, actor.note or "(no note)", now)
    _write_transition(conn, current, transition, actor, now)
    return IngestResult(duplicate=False, alert=transition.alert, deduplicated=False)


def _acted_on(conn: Db, action: IngestAction, alert: NewAlert) -> Alert | None:
    """The open alert an action other than create acts on: the team's with the alias, or the
    one its `ref` names when that is open and the team's (another team's is none)."""
    if action.ref is None:
        row = alerts_sql.team_with_open_alias(conn, alert.owner_team, alert.alias)
        return None if row["id"] is None else alert_from(row)
    try:
        found = alert_from(alert_row(conn, action.ref))
    except NotFound:
        return None
    ours = found.status is Status.OPEN and found.owner_team_id == alert.owner_team
    return found if ours else None

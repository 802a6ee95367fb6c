"""The `Store` contract. Every backend must pass this suite; today that is SQLite."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.alerts import lifecycle
from service.alerts.model import (
    Actor,
    Alert,
    AlertFilter,
    AlertQuery,
    AlertRef,
    Change,
    CreateResult,
    NewAlert,
    Priority,
    RefKind,
    SortField,
    Status,
    Transition,
)
from service.alerts.sql import insert_activity
from service.core.database import Db
from service.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service.db.sqlite import SQLiteStore
from tests.fakes import FakeClock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANA = Actor("ana")
_ids = iter(range(1, 1_000_000))


def new_id() -> str:
    return f"alert-{next(_ids):06d}"


def by_id(alert: Alert) -> AlertRef:
    return AlertRef(RefKind.ID, alert.id)


async def create(store: SQLiteStore, message: str = "Disk full", **fields: object) -> Alert:
    at = fields.pop("at", T0)
    result = await store.create_alert(NewAlert(message=message, **fields), ANA, at, new_id())  # type: ignore[arg-type]
    return result.alert


async def test_created_alert_reads_back_by_id_tiny_id_and_alias(store: SQLiteStore) -> None:
    first = await create(store, alias="disk-db1", tags=("disk",), details={"host": "db-1"})
    second = await create(store, "Other")
    assert (first.tiny_id, second.tiny_id) == (1, 2)
    assert second.alias == second.id  # the alias defaults to the id
    for ref in (
        by_id(first),
        AlertRef(RefKind.TINY_ID, "1"),
        AlertRef(RefKind.ALIAS, "disk-db1"),
        AlertRef(RefKind.ALIAS, "disk-db1", "DEFAULT"),
    ):
        assert await store.get_alert(ref) == first
    assert first.owner_team == "default" and first.status is Status.OPEN and first.count == 1


async def test_unknown_alerts_and_bad_tiny_ids(store: SQLiteStore) -> None:
    with pytest.raises(NotFound, match="no alert with id 'nope'"):
        await store.get_alert(AlertRef(RefKind.ID, "nope"))
    with pytest.raises(NotFound):
        await store.get_alert(AlertRef(RefKind.TINY_ID, "99"))
    for malformed in ("x1", "99999999999999999999", "²"):
        with pytest.raises(InvalidArgument, match="ref.tiny_id"):
            await store.get_alert(AlertRef(RefKind.TINY_ID, malformed))
    with pytest.raises(NotFound, match="ref.team: no team named 'ghost'"):
        await store.get_alert(AlertRef(RefKind.ALIAS, "a", "ghost"))


async def test_open_alias_deduplicates_and_closed_alias_starts_anew(store: SQLiteStore) -> None:
    first = await create(store, alias="cpu")
    later = T0 + timedelta(minutes=3)
    dup = await store.create_alert(NewAlert(message="CPU", alias="cpu"), ANA, later, new_id())
    assert dup.deduplicated and dup.alert.id == first.id
    assert dup.alert.count == 2 and dup.alert.last_occurred_at == later
    await store.update_alert(by_id(first), lambda a: lifecycle.close(a, "ana", later), ANA, later)
    fresh = await store.create_alert(NewAlert(message="CPU", alias="cpu"), ANA, later, new_id())
    assert not fresh.deduplicated and fresh.alert.id != first.id and fresh.alert.count == 1
    # By alias, the open alert wins over the closed one.
    assert (await store.get_alert(AlertRef(RefKind.ALIAS, "cpu"))).id == fresh.alert.id
    actions = [e.action for e in (await store.list_activity(by_id(first), 100, "")).items]
    assert actions == ["created", "deduplicated", "closed"]


async def test_same_alias_in_another_team_is_another_alert(store: SQLiteStore) -> None:
    await store.create_team("ops", "", T0, "team-ops")
    a = await create(store, alias="x")
    b = await create(store, alias="x", owner_team="ops")
    assert a.id != b.id and b.owner_team == "ops"
    with pytest.raises(NotFound, match="owner_team"):
        await create(store, alias="x", owner_team="nobody")


async def test_concurrent_creates_of_one_alias_yield_one_alert(store: SQLiteStore) -> None:
    results = await asyncio.gather(
        *(store.create_alert(NewAlert("m", alias="storm"), ANA, T0, new_id()) for _ in range(64))
    )
    assert len({r.alert.id for r in results}) == 1
    assert sum(not r.deduplicated for r in results) == 1
    assert (await store.get_alert(AlertRef(RefKind.ALIAS, "storm"))).count == 64


async def test_a_failing_step_writes_nothing_and_spares_its_neighbours(store: SQLiteStore) -> None:
    alert = await create(store)

    def half_then_fail(a: Alert) -> Transition:
        raise FailedPrecondition("refused")

    outcomes = await asyncio.gather(
        store.update_alert(by_id(alert), half_then_fail, ANA, T0),
        store.update_alert(by_id(alert), lambda a: lifecycle.acknowledge(a, "ana", T0), ANA, T0),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], FailedPrecondition)
    assert isinstance(outcomes[1], Transition) and outcomes[1].alert.acknowledged
    entries = (await store.list_activity(by_id(alert), 100, "")).items
    assert [e.action for e in entries] == ["created", "acknowledged"]


async def test_an_unexpected_failure_is_undone_and_its_batch_redone(store: SQLiteStore) -> None:
    alert = await create(store)

    def broken(a: Alert) -> Transition:
        raise RuntimeError("a bug in one step")

    outcomes = await asyncio.gather(
        store.create_alert(NewAlert("before"), ANA, T0, new_id()),
        store.update_alert(by_id(alert), broken, ANA, T0),
        store.create_alert(NewAlert("after"), ANA, T0, new_id()),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], RuntimeError)
    made = [o.alert for o in outcomes if isinstance(o, CreateResult)]
    assert [a.message for a in made] == ["before", "after"]
    for fresh in made:
        assert await store.get_alert(by_id(fresh)) == fresh
    assert (await store.get_alert(by_id(alert))).tiny_id == 1


async def test_a_write_that_fails_halfway_leaves_nothing_behind(store: SQLiteStore) -> None:
    alert = await create(store)

    def half_written(a: Alert) -> Transition:
        # The alert row is updated first; the activity entry then cannot be encoded.
        changed = dataclasses.replace(a, message="half written")
        return Transition(changed, (Change("broken", {}, {"value": object()}),))

    outcomes = await asyncio.gather(
        store.update_alert(by_id(alert), half_written, ANA, T0),
        store.create_alert(NewAlert("neighbour"), ANA, T0, new_id()),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], TypeError)
    assert isinstance(outcomes[1], CreateResult)
    assert await store.get_alert(by_id(alert)) == alert
    assert [e.action for e in (await store.list_activity(by_id(alert), 100, "")).items] == [
        "created"
    ]
    assert await store.get_alert(by_id(outcomes[1].alert)) == outcomes[1].alert


async def test_activity_records_actor_note_and_before_after(store: SQLiteStore) -> None:
    alert = await create(store)
    await store.update_alert(
        by_id(alert),
        lambda a: lifecycle.update_priority(a, Priority.P1, T0),
        Actor("bo", "why"),
        T0 + timedelta(minutes=1),
    )
    entry = (await store.list_activity(by_id(alert), 100, "")).items[-1]
    assert (entry.actor, entry.action, entry.note) == ("bo", "priority_updated", "why")
    assert entry.at == T0 + timedelta(minutes=1)
    assert (entry.before, entry.after) == ({"priority": "P3"}, {"priority": "P1"})


async def test_list_filters(store: SQLiteStore) -> None:
    await store.create_team("ops", "", T0, "team-ops")
    a = await create(store, "Disk full on db-1", priority=Priority.P1, tags=("disk", "db"))
    b = await create(store, "CPU high", priority=Priority.P2, tags=("cpu",), owner_team="ops")
    c = await create(store, "disk slow", priority=Priority.P3, tags=("disk",))
    await store.update_alert(by_id(b), lambda x: lifecycle.acknowledge(x, "ana", T0), ANA, T0)
    await store.update_alert(by_id(c), lambda x: lifecycle.close(x, "ana", T0), ANA, T0)
    soon = T0 + timedelta(hours=1)
    await store.update_alert(by_id(a), lambda x: lifecycle.snooze(x, soon, T0), ANA, T0)

    async def ids(**f: object) -> set[str]:
        page = await store.list_alerts(AlertQuery(filter=AlertFilter(**f)))  # type: ignore[arg-type]
        return {x.id for x in page.items}

    assert await ids() == {a.id, b.id, c.id}
    assert await ids(statuses=frozenset({Status.OPEN})) == {a.id, b.id}
    assert await ids(acknowledged=True) == {b.id}
    assert await ids(snoozed=True) == {a.id}
    assert await ids(priorities=frozenset({Priority.P1, Priority.P3})) == {a.id, c.id}
    assert await ids(tags=("disk",)) == {a.id, c.id}
    assert await ids(tags=("disk", "db")) == {a.id}
    assert await ids(team="ops") == {b.id}
    assert await ids(text="DISK") == {a.id, c.id}
    assert await ids(created_after=T0) == {a.id, b.id, c.id}
    assert await ids(created_before=T0) == set()


async def test_a_page_token_survives_a_restart(tmp_path: Path) -> None:
    """Tokens hold no per-process state: another process (or replica) accepts them."""
    path = tmp_path / "tocsin.db"
    query = AlertQuery(
        filter=AlertFilter(
            statuses=frozenset({Status.OPEN, Status.CLOSED}),
            priorities=frozenset({Priority.P1, Priority.P3, Priority.P5}),
        ),
        page_size=1,
    )
    first = SQLiteStore(path, FakeClock())
    await first.open()
    for i in range(2):
        await create(first, f"m{i}")
    token = (await first.list_alerts(query)).next_page_token
    await first.close()
    second = SQLiteStore(path, FakeClock())
    await second.open()
    try:
        page = await second.list_alerts(AlertQuery(query.filter, page_size=1, page_token=token))
        assert [a.message for a in page.items] == ["m0"]
    finally:
        await second.close()


async def test_pages_cover_everything_once_in_order(store: SQLiteStore) -> None:
    made = [await create(store, f"m{i}", at=T0 + timedelta(seconds=i % 7)) for i in range(23)]
    for sort in SortField:
        for descending in (True, False):
            seen: list[Alert] = []
            token = ""
            while True:
                query = AlertQuery(sort=sort, descending=descending, page_size=5, page_token=token)
                page = await store.list_alerts(query)
                seen.extend(page.items)
                token = page.next_page_token
                if not token:
                    break
            assert sorted(a.id for a in seen) == sorted(a.id for a in made)
            column = sort.value
            keys = [(getattr(a, column), a.id) for a in seen]
            assert keys == sorted(keys, reverse=descending)


async def test_a_page_token_only_fits_its_own_query(store: SQLiteStore) -> None:
    for i in range(3):
        await create(store, f"m{i}")
    page = await store.list_alerts(AlertQuery(page_size=1))
    with pytest.raises(InvalidArgument, match="page_token"):
        await store.list_alerts(
            AlertQuery(page_size=1, sort=SortField.COUNT, page_token=page.next_page_token)
        )
    with pytest.raises(InvalidArgument, match="page_token"):
        await store.list_alerts(AlertQuery(page_token="garbage!"))
    scope = page.next_page_token  # a well-formed token whose position is forged
    for forged in ([1], ["x", "y"], [2**70, "id"], [True, "id"], [1, "id", 3]):
        raw = json.loads(base64.urlsafe_b64decode(scope + "=" * (-len(scope) % 4)))
        raw["p"] = forged
        token = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
        with pytest.raises(InvalidArgument, match="page_token"):
            await store.list_alerts(AlertQuery(page_size=1, page_token=token))


async def test_activity_pages(store: SQLiteStore) -> None:
    alert = await create(store, alias="p")
    for _ in range(9):
        await store.create_alert(NewAlert("m", alias="p"), ANA, T0, new_id())
    first = await store.list_activity(by_id(alert), 4, "")
    second = await store.list_activity(by_id(alert), 4, first.next_page_token)
    third = await store.list_activity(by_id(alert), 4, second.next_page_token)
    seqs = [e.seq for page in (first, second, third) for e in page.items]
    assert len(seqs) == 10 and seqs == sorted(seqs) and not third.next_page_token
    other = await create(store)
    with pytest.raises(InvalidArgument, match="page_token"):
        await store.list_activity(by_id(other), 4, first.next_page_token)


async def test_change_feed_in_order_with_team_filter(store: SQLiteStore) -> None:
    start = await store.last_seq()
    generation = store.change_generation()
    await store.create_team("ops", "", T0, "team-ops")
    a = await create(store)
    b = await create(store, owner_team="ops")
    await store.update_alert(by_id(a), lambda x: lifecycle.acknowledge(x, "ana", T0), ANA, T0)
    await asyncio.wait_for(store.wait_for_change(generation, 5), 1)  # returns at once
    events = await store.events_after(start, 100, "")
    assert [(e.entry.alert_id, e.entry.action) for e in events] == [
        (a.id, "created"),
        (b.id, "created"),
        (a.id, "acknowledged"),
    ]
    assert events[0].alert.acknowledged  # the alert as it is now
    only_ops = await store.events_after(start, 100, "team-ops")
    assert [e.entry.alert_id for e in only_ops] == [b.id]
    assert await store.events_after(events[-1].entry.seq, 100, "") == []


async def test_snoozes_due(store: SQLiteStore) -> None:
    a = await create(store)
    until = T0 + timedelta(minutes=30)
    await store.update_alert(by_id(a), lambda x: lifecycle.snooze(x, until, T0), ANA, T0)
    assert await store.snoozes_due(until - timedelta(seconds=1), 10) == []
    assert await store.snoozes_due(until, 10) == [a.id]


async def test_teams(store: SQLiteStore) -> None:
    ops = await store.create_team("Ops", "the ops team", T0, "team-ops")
    with pytest.raises(AlreadyExists):
        await store.create_team("ops", "", T0, "team-2")
    assert await store.get_team("OPS") == ops
    assert await store.get_team("team-ops") == ops
    assert [t.name for t in await store.list_teams()] == ["default", "Ops"]
    renamed = await store.rename_team("ops", "platform")
    assert renamed.name == "platform" and renamed.id == ops.id
    await store.create_team("db", "", T0, "team-db")
    with pytest.raises(AlreadyExists):
        await store.rename_team("platform", "DB")
    await create(store, owner_team="platform")
    with pytest.raises(FailedPrecondition, match=r"still has 1 alert\(s\), 0 integration"):
        await store.delete_team("platform")
    await store.delete_team("db")
    with pytest.raises(NotFound):
        await store.get_team("db")
    for refused in (store.delete_team("default"), store.rename_team("default", "x")):
        with pytest.raises(FailedPrecondition, match="default team"):
            await refused


async def test_tokens(store: SQLiteStore) -> None:
    first = await store.create_token("admin", "hash-1", T0, "tok-1")
    assert await store.find_token("hash-1") == first
    assert await store.find_token("hash-x") is None
    with pytest.raises(FailedPrecondition, match="last active token"):
        await store.revoke_token("tok-1", T0)
    await store.create_token("ci", "hash-2", T0, "tok-2")
    revoked = await store.revoke_token("tok-1", T0 + timedelta(seconds=1))
    assert revoked.revoked_at == T0 + timedelta(seconds=1)
    assert await store.find_token("hash-1") is None
    assert (
        await store.revoke_token("tok-1", T0 + timedelta(hours=1))
    ).revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        await store.revoke_token("tok-9", T0)
    assert [t.id for t in await store.list_tokens()] == ["tok-1", "tok-2"]


async def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db" / "tocsin.db"
    store = SQLiteStore(path, FakeClock())
    await store.open()
    alert = await create(store, alias="durable")
    await store.close()
    reopened = SQLiteStore(path, FakeClock())
    await reopened.open()  # migrations are not applied twice
    try:
        assert await reopened.get_alert(by_id(alert)) == alert
        assert (await create(reopened)).tiny_id == alert.tiny_id + 1
    finally:
        await reopened.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.db"
    store = SQLiteStore(path, FakeClock())
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', 0)")
    with pytest.raises(FailedPrecondition, match="schema version 999, newer than this Tocsin"):
        await SQLiteStore(path, FakeClock()).open()


async def test_activity_appended_in_an_undone_savepoint_is_undone_too(store: SQLiteStore) -> None:
    alert = await create(store)

    def job(conn: Db) -> None:
        insert_activity(conn, alert.id, [Change("before")], ANA, T0)
        with contextlib.suppress(LookupError), conn.savepoint():
            insert_activity(conn, alert.id, [Change("undone")], ANA, T0)
            raise LookupError("undo this part")
        insert_activity(conn, alert.id, [Change("after")], ANA, T0)

    await store._write(job)
    entries = (await store.list_activity(by_id(alert), 50, "")).items
    assert [e.action for e in entries][-2:] == ["before", "after"]


async def test_thousands_of_activity_entries_in_one_job(store: SQLiteStore) -> None:
    alert = await create(store)
    changes = tuple(Change(f"step {n}") for n in range(2_500))
    await store.update_alert(by_id(alert), lambda current: Transition(current, changes), ANA, T0)
    entries = (await store.list_activity(by_id(alert), 5_000, "")).items
    assert [e.action for e in entries][-2_500:] == [c.action for c in changes]

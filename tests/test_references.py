"""Deletes racing edits that name what is deleted, on both backends: a schedule's rotation
naming a user, a policy paging a user or a schedule, a team's routing naming a policy. The
edit looks the name up in one read and saves in a later write; whichever comes second must
fail, so that no saved document names something that is gone."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from service.core.database import Db, hold_references
from service.core.errors import FailedPrecondition, InvalidArgument, NotFound
from service.db.sql_store import SQLStore
from service.db.sqlite import SQLiteStore
from service.escalation.model import Routing
from service.escalation.usecases import EscalationRuleSpec, Policies, PolicySpec, RoutingSpec
from service.oncall import documents as oncall_documents
from service.oncall.model import Participants
from service.oncall.rotations import RotationSpec
from service.oncall.usecases import Schedules, ScheduleSpec
from service.people.usecases import Users
from service.teams.usecases import Teams
from tests.databases import BACKENDS, open_store
from tests.fakes import FakeClock

ROUNDS = 20


@dataclass
class Directory:
    store: SQLStore
    clock: FakeClock
    users: Users
    schedules: Schedules
    policies: Policies


@pytest.fixture(params=BACKENDS)
async def directory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Directory]:
    clock = FakeClock()
    async with open_store(request.param, tmp_path, clock) as store:
        await Teams(store, clock).create("ops", "")
        yield Directory(
            store, clock, Users(store, clock), Schedules(store, clock), Policies(store, clock)
        )


async def race(edit: Awaitable[object], delete: Awaitable[None]) -> tuple[bool, bool]:
    """Both at once; whether each succeeded. A failure must be the one each can have."""
    edited, deleted = await asyncio.gather(edit, delete, return_exceptions=True)
    # Refused by the look-up (gone before it) or by the write (gone since).
    assert not isinstance(edited, BaseException) or isinstance(
        edited, InvalidArgument | NotFound
    ), edited
    assert deleted is None or isinstance(deleted, FailedPrecondition), deleted
    return not isinstance(edited, BaseException), deleted is None


async def rounds(
    make: Callable[[int], Awaitable[None]],
    edit: Callable[[int], Awaitable[object]],
    delete: Callable[[int], Awaitable[None]],
) -> None:
    """Each round, exactly one of the two wins, whichever order they ran in: both winning
    would leave a saved document naming something deleted, and neither would mean one was
    refused for what it could not have seen."""
    outcomes = []
    for n in range(ROUNDS):
        await make(n)
        outcomes.append(await race(edit(n), delete(n)))
    assert all(edited != deleted for edited, deleted in outcomes), outcomes


async def test_a_user_deleted_while_a_schedule_names_them(directory: Directory) -> None:
    d = directory
    start = d.clock.now()

    async def make(n: int) -> None:
        await d.users.create(f"u{n}")

    def edit(n: int) -> Awaitable[object]:
        rotation = RotationSpec("r", "daily", start, (f"u{n}",))
        return d.schedules.create(ScheduleSpec(f"s{n}", team="ops", rotations=(rotation,)))

    await rounds(make, edit, lambda n: d.users.delete(f"u{n}"))
    for schedule in await d.schedules.list():
        for rotation in schedule.rotations:
            for participants in rotation.participants:
                for user in participants.users:
                    assert user is not None
                    await d.store.get_user(user)  # NotFound if it names a deleted user


async def test_a_user_deleted_while_a_policy_pages_them(directory: Directory) -> None:
    d = directory

    async def make(n: int) -> None:
        await d.users.create(f"u{n}")

    def edit(n: int) -> Awaitable[object]:
        rule = EscalationRuleSpec(timedelta(), (("user", f"u{n}"),))
        return d.policies.create(PolicySpec(f"p{n}", team="ops", rules=(rule,)))

    await rounds(make, edit, lambda n: d.users.delete(f"u{n}"))
    for policy in await d.policies.list():
        await d.store.get_user(policy.rules[0].targets[0].ref)


async def test_a_schedule_deleted_while_a_policy_pages_it(directory: Directory) -> None:
    d = directory

    async def make(n: int) -> None:
        await d.schedules.create(ScheduleSpec(f"s{n}", team="ops"))

    def edit(n: int) -> Awaitable[object]:
        rule = EscalationRuleSpec(timedelta(), (("schedule", f"s{n}"),))
        return d.policies.create(PolicySpec(f"p{n}", team="ops", rules=(rule,)))

    await rounds(make, edit, lambda n: d.schedules.delete(f"s{n}"))
    for policy in await d.policies.list():
        await d.store.get_schedule(policy.rules[0].targets[0].ref)


async def test_a_policy_deleted_while_the_routing_chooses_it(directory: Directory) -> None:
    d = directory

    async def make(n: int) -> None:
        rule = EscalationRuleSpec(timedelta(), (("team-members", "ops"),))
        await d.policies.create(PolicySpec(f"p{n}", team="ops", rules=(rule,)))

    def edit(n: int) -> Awaitable[object]:
        return d.policies.set_routing(RoutingSpec("ops", default_policy=f"p{n}"))

    await rounds(make, edit, lambda n: d.policies.delete(f"p{n}"))
    routing = await d.policies.routing("ops")
    if routing.default_policy_id:
        await d.store.get_policy(routing.default_policy_id)


async def test_a_delete_that_waits_for_an_edit_naming_the_user_sees_it(
    directory: Directory,
) -> None:
    """The order a race seldom hits: the edit holds the user it names, the delete waits for
    it, then the edit commits. The delete must see the new reference, not an older snapshot."""
    d = directory
    if isinstance(d.store, SQLiteStore):
        pytest.skip("one writer at a time: the delete cannot start while the edit writes")
    await d.users.create("ann")
    ben = await d.users.create("ben")
    start = d.clock.now()
    await d.schedules.create(
        ScheduleSpec("s", team="ops", rotations=(RotationSpec("r", "daily", start, ("ann",)),))
    )
    schedule = await d.store.get_schedule("s")
    naming_ben = tuple(
        dataclasses.replace(r, participants=(Participants(0, (ben.id,)),))
        for r in schedule.rotations
    )
    holding, release = threading.Event(), threading.Event()

    def edit(conn: Db) -> None:
        hold_references(conn, "users", [ben.id], "user")
        conn.execute(
            "UPDATE schedules SET rotations = ? WHERE id = ?",
            (oncall_documents.rotations_json(naming_ben), schedule.id),
        )
        holding.set()
        assert release.wait(30)

    editing = asyncio.ensure_future(d.store._write(edit))
    assert await asyncio.to_thread(holding.wait, 30)
    deleting = asyncio.ensure_future(d.users.delete("ben"))
    await asyncio.sleep(0.5)
    assert not deleting.done()  # it waits for the edit's hold on ben
    release.set()
    await editing
    with pytest.raises(FailedPrecondition, match="schedule"):
        await deleting


async def test_an_update_naming_no_team_keeps_the_policy_and_schedule_in_theirs(
    directory: Directory,
) -> None:
    d = directory
    rule = EscalationRuleSpec(timedelta(), (("team-members", "ops"),))
    await d.policies.create(PolicySpec("p", team="ops", rules=(rule,)))
    await d.schedules.create(ScheduleSpec("s", team="ops"))
    ops = (await d.store.get_team("ops")).id
    changed = await d.policies.update("p", PolicySpec("p", rules=(rule, rule)))
    assert changed.team_id == ops and len(changed.rules) == 2
    moved = await d.schedules.update("s", ScheduleSpec("s", description="now described"))
    assert moved.team_id == ops and moved.description == "now described"


async def test_what_a_routing_chooses_cannot_move_to_another_team(directory: Directory) -> None:
    d = directory
    await Teams(d.store, d.clock).create("other", "")
    rule = EscalationRuleSpec(timedelta(), (("team-members", "ops"),))
    await d.policies.create(PolicySpec("p", team="ops", rules=(rule,)))
    await d.schedules.create(ScheduleSpec("s", team="ops"))
    await d.policies.set_routing(RoutingSpec("ops", default_policy="p", default_schedule="s"))
    with pytest.raises(FailedPrecondition, match="routing"):
        await d.policies.update("p", PolicySpec("p", team="other", rules=(rule,)))
    with pytest.raises(FailedPrecondition, match="routing"):
        await d.schedules.update("s", ScheduleSpec("s", team="other"))


async def move_while_routing(
    d: Directory,
    make: Callable[[int], Awaitable[object]],
    route: Callable[[int], Awaitable[object]],
    move: Callable[[int], Awaitable[object]],
    routed_team: Callable[[Routing], Awaitable[str | None]],
) -> None:
    """Racing: the routing is saved and what it names stays, or the move wins and the routing
    is refused; never a routing naming another team's policy or schedule. `routed_team`: the
    team of what the routing names, if it names one."""
    await Teams(d.store, d.clock).create("other", "")
    for n in range(ROUNDS):
        await make(n)
        routed, moved = await asyncio.gather(route(n), move(n), return_exceptions=True)
        assert isinstance(routed, InvalidArgument | FailedPrecondition) or not isinstance(
            routed, BaseException
        ), routed
        assert isinstance(moved, FailedPrecondition) or not isinstance(moved, BaseException), moved
        routing = await d.policies.routing("ops")
        assert (await routed_team(routing)) in (None, routing.team_id)


async def test_a_policy_moved_while_a_routing_chooses_it(directory: Directory) -> None:
    d = directory
    rule = EscalationRuleSpec(timedelta(), (("team-members", "ops"),))

    async def chosen_team(routing: Routing) -> str | None:
        policy_id = routing.default_policy_id
        return (await d.store.get_policy(policy_id)).team_id if policy_id else None

    await move_while_routing(
        d,
        lambda n: d.policies.create(PolicySpec(f"p{n}", team="ops", rules=(rule,))),
        lambda n: d.policies.set_routing(RoutingSpec("ops", default_policy=f"p{n}")),
        lambda n: d.policies.update(f"p{n}", PolicySpec(f"p{n}", team="other", rules=(rule,))),
        chosen_team,
    )


async def test_a_schedule_moved_while_a_routing_names_it(directory: Directory) -> None:
    d = directory

    async def named_team(routing: Routing) -> str | None:
        schedule_id = routing.default_schedule_id
        return (await d.store.get_schedule(schedule_id)).team_id if schedule_id else None

    await move_while_routing(
        d,
        lambda n: d.schedules.create(ScheduleSpec(f"s{n}", team="ops")),
        lambda n: d.policies.set_routing(RoutingSpec("ops", default_schedule=f"s{n}")),
        lambda n: d.schedules.update(f"s{n}", ScheduleSpec(f"s{n}", team="other")),
        named_team,
    )

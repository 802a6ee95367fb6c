"""The `Store` contract for people and schedules: users, team members, schedules and
overrides. Like test_store_contract.py, every backend must pass it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import pytest

from service.core.errors import AlreadyExists, FailedPrecondition, NotFound
from service.db.sqlite import SQLiteStore
from service.oncall.model import Override, Participants, Restriction, Rotation, Schedule, Unit
from service.people.model import (
    Channel,
    ContactMethod,
    MemberRole,
    NotificationRule,
    NotificationRules,
    NotificationStep,
    Role,
    User,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def user(name: str, user_id: str = "", **fields: object) -> User:
    return User(id=user_id or f"id-{name}", username=name, created_at=T0, **fields)  # type: ignore[arg-type]


def schedule(*participants: str | None) -> Schedule:
    rotation = Rotation(
        "primary",
        Unit.WEEKS,
        2,
        T0,
        T0 + timedelta(days=365),
        (Participants(0, ("id-ann", None)), Participants(3, participants)),
        (Restriction(time(9), time(17), 0, 4), Restriction(time(22), time(6))),
    )
    return Schedule(
        "sched-1", "Web", "team-ops", "Europe/Berlin", "about", (rotation,), "secret", T0
    )


async def test_users_read_back_exactly(store: SQLiteStore) -> None:
    full = user(
        "ann",
        full_name="Ann",
        time_zone="Europe/Berlin",
        role=Role.ADMIN,
        contact_methods=(ContactMethod("cm-1", "phone", Channel.SMS, "+4915112345678"),),
        notification_rules=NotificationRules(
            NotificationRule((NotificationStep("phone", 0),), 5, 2), None
        ),
    )
    assert await store.create_user(full) == full
    assert await store.get_user("ANN") == full
    assert await store.get_user("id-ann") == full
    with pytest.raises(AlreadyExists):
        await store.create_user(user("Ann", "other"))
    renamed = await store.update_user("ann", lambda u: dataclasses.replace(u, full_name="A."))
    assert (await store.get_user("ann")).full_name == renamed.full_name == "A."


async def test_a_refusing_step_changes_nothing(store: SQLiteStore) -> None:
    await store.create_user(user("ann"))

    def refuse(current: User) -> User:
        raise FailedPrecondition("no")

    with pytest.raises(FailedPrecondition):
        await store.update_user("ann", refuse)
    assert await store.get_user("ann") == user("ann")


async def test_schedules_and_overrides(store: SQLiteStore) -> None:
    await store.create_team("ops", "", T0, "team-ops")
    await store.create_user(user("ann"))
    await store.create_user(user("ben"))
    stored = schedule("id-ben", "id-ann")
    assert await store.create_schedule(stored) == stored
    assert await store.get_schedule("web") == stored
    with pytest.raises(AlreadyExists):
        await store.create_schedule(dataclasses.replace(stored, id="sched-2", name="WEB"))
    assert [s.name for s in await store.list_schedules("ops")] == ["Web"]
    assert await store.list_schedules("default") == []
    override = Override("o-1", stored.id, "id-ben", T0, T0 + timedelta(hours=4), "primary", T0)
    await store.add_override(override)
    assert await store.list_overrides(
        [stored.id], T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    ) == [override]
    assert (
        await store.list_overrides([stored.id], T0 + timedelta(hours=4), T0 + timedelta(hours=5))
        == []
    )
    # Users in a schedule, past shifts included, cannot be deleted; nor can their team.
    with pytest.raises(FailedPrecondition, match="Web"):
        await store.delete_user("ann", T0)
    with pytest.raises(FailedPrecondition, match="1 schedule"):
        await store.delete_team("ops")
    ended = await store.end_override(
        "web", "o-1", lambda o: dataclasses.replace(o, end=T0 + timedelta(hours=1))
    )
    assert ended is not None and ended.end == T0 + timedelta(hours=1)
    assert await store.end_override("web", "o-1", lambda o: None) is None
    with pytest.raises(NotFound):
        await store.end_override("web", "o-1", lambda o: None)
    await store.delete_schedule("web")
    await store.delete_user("ann", T0)
    with pytest.raises(NotFound):
        await store.get_schedule("web")


async def test_team_members(store: SQLiteStore) -> None:
    await store.create_user(user("ann"))
    await store.set_team_member("default", "ann", MemberRole.MEMBER)
    await store.set_team_member("default", "ann", MemberRole.ADMIN)
    members = await store.list_team_members("default")
    assert [(m.username, m.role) for m in members] == [("ann", MemberRole.ADMIN)]
    await store.remove_team_member("default", "ann")
    with pytest.raises(NotFound):
        await store.remove_team_member("default", "ann")
    with pytest.raises(NotFound):
        await store.set_team_member("nope", "ann", MemberRole.MEMBER)

"""The pure escalation core: steps, reactions to alert changes, who a target means, page
plans and back-off (throttles: test_throttle_hold). No store, no clock but the instants given."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, time, timedelta

import pytest

from service.alerts.model import Alert, Priority, Status
from service.escalation import recipients
from service.escalation import steps as escalation
from service.escalation.model import (
    Condition,
    EscalationRule,
    Policy,
    Repeat,
    Routing,
    RoutingRule,
    Target,
    TargetKind,
)
from service.escalation.steps import State
from service.oncall.model import Participants, Restriction, Rotation, Schedule, Unit
from service.paging import planning as paging
from service.people.model import (
    Channel,
    ContactMethod,
    NotificationRule,
    NotificationRules,
    NotificationStep,
    User,
)
from tests.fakes import stored_alert

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
ALICE = Target(TargetKind.USER, "u-alice", "alice")
BOB = Target(TargetKind.USER, "u-bob", "bob")


def alert(**fields: object) -> Alert:
    return stored_alert(T0, **fields)


def policy(repeat: Repeat | None = None, second: Condition = Condition.NOT_ACKNOWLEDGED) -> Policy:
    return Policy(
        "p", "p", "t",
        (EscalationRule(timedelta(), (ALICE,)), EscalationRule(5 * MIN, (BOB,), second)),
        repeat,
    )  # fmt: skip


def run(esc: escalation.Escalation, a: Alert, until: datetime) -> list[tuple[int, int, int]]:
    """Steps everything due by `until`; returns (minute, cycle, rule) of each rule that pages."""
    fired = []
    while esc.due_at is not None and esc.due_at <= until:
        when = esc.due_at
        result = escalation.step(esc, a, when)
        if result.rule is not None:
            fired.append((int((when - T0) / MIN), result.escalation.cycle, result.rule + 1))
        if result.unacknowledge:
            a = dataclasses.replace(a, acknowledged=False)
        esc = result.escalation
    return fired


def test_rules_fire_at_their_delays_then_the_escalation_ends() -> None:
    esc = escalation.start("a1", policy(), T0)
    assert run(esc, alert(), T0 + 60 * MIN) == [(0, 0, 1), (5, 0, 2)]


def test_repeats_restart_the_rules_after_the_last_and_stop_at_the_count() -> None:
    esc = escalation.start("a1", policy(Repeat(10 * MIN, 2)), T0)
    # Cycle 0 at 0 and 5; the next cycle starts 10 minutes after the last rule (15), etc.
    assert run(esc, alert(), T0 + 120 * MIN) == [
        (0, 0, 1), (5, 0, 2), (15, 1, 1), (20, 1, 2), (30, 2, 1), (35, 2, 2),
    ]  # fmt: skip


def test_acknowledged_alerts_skip_not_acknowledged_rules_but_not_not_closed_ones() -> None:
    esc = escalation.start("a1", policy(second=Condition.NOT_CLOSED), T0)
    assert run(esc, alert(acknowledged=True), T0 + 60 * MIN) == [(5, 0, 2)]


def test_a_repeat_that_resets_acknowledgement_pages_again() -> None:
    esc = escalation.start("a1", policy(Repeat(10 * MIN, 1, reset_acknowledgement=True)), T0)
    assert run(esc, alert(acknowledged=True), T0 + 60 * MIN) == [(15, 1, 1), (20, 1, 2)]


def test_the_last_repeat_can_close_the_alert() -> None:
    esc = escalation.start("a1", policy(Repeat(10 * MIN, 0, close_after_last=True)), T0)
    esc = escalation.step(esc, alert(), T0).escalation
    esc = escalation.step(esc, alert(), T0 + 5 * MIN).escalation
    last = escalation.step(esc, alert(), T0 + 15 * MIN)
    assert last.close and last.escalation.state is State.DONE


def test_a_closed_alert_ends_its_escalation() -> None:
    esc = escalation.start("a1", policy(), T0)
    result = escalation.step(esc, alert(status=Status.CLOSED), T0)
    assert result.rule is None and result.escalation.state is State.DONE


@pytest.mark.parametrize(
    ("before", "after", "cancels", "state", "restarted"),
    [
        (alert(), alert(acknowledged=True), True, State.ACTIVE, False),
        (alert(), alert(status=Status.CLOSED), True, State.DONE, False),
        (alert(), alert(snoozed_until=T0 + 30 * MIN), True, State.PAUSED, False),
        (alert(acknowledged=True), alert(), False, State.ACTIVE, True),
        (alert(snoozed_until=T0), alert(), False, State.ACTIVE, True),
        (alert(), alert(tags=("x",)), False, State.ACTIVE, False),
    ],
)
def test_changes_to_the_alert(
    before: Alert, after: Alert, cancels: bool, state: State, restarted: bool
) -> None:
    esc = escalation.start("a1", policy(), T0 - 30 * MIN)
    esc = escalation.step(esc, before, T0 - 30 * MIN).escalation  # rule 1 done
    reaction = escalation.react(before, after, esc, T0)
    assert reaction.cancel_pages is cancels
    changed = reaction.escalation or esc
    assert changed.state is state
    assert (changed.run == esc.run + 1) is restarted
    if restarted:
        assert changed.next_rule == 0 and changed.due_at == T0


def test_nobody_paged_moves_on_at_once_and_escalate_now_brings_the_next_step() -> None:
    esc = escalation.step(escalation.start("a1", policy(), T0), alert(), T0).escalation
    assert esc.due_at == T0 + 5 * MIN
    assert escalation.nobody_paged(esc, T0).due_at == T0
    moved = escalation.escalate_now(esc, T0 + MIN)
    assert moved is not None and moved.due_at == T0 + MIN
    done = dataclasses.replace(esc, state=State.DONE, due_at=None)
    assert escalation.escalate_now(done, T0) is None


# Who a target means


def directory(members: dict[str, list[str]], schedules: dict[str, Schedule],
              default: dict[str, str]) -> recipients.Directory:  # fmt: skip
    def schedule(schedule_id: str, now: datetime) -> tuple[Schedule, list[object]] | None:
        found = schedules.get(schedule_id)
        return None if found is None else (found, [])

    return recipients.Directory(
        schedule,  # type: ignore[arg-type]
        lambda team: [s.id for s in schedules.values() if s.team_id == team],
        lambda team: members.get(team, []),
        lambda team: default.get(team, ""),
    )


def daily(schedule_id: str, team: str, *users: str | None) -> Schedule:
    rotation = Rotation("r", Unit.DAYS, 1, T0 - timedelta(days=1), None, (Participants(0, users),))
    return Schedule(schedule_id, schedule_id, team, "UTC", rotations=(rotation,))


@pytest.mark.parametrize(
    ("target", "users", "why"),
    [
        (Target(TargetKind.USER, "u1"), ("u1",), ""),
        (Target(TargetKind.SCHEDULE, "s1", "s1"), ("ben",), ""),  # day 1 of ann, ben, cat
        (Target(TargetKind.SCHEDULE_NEXT, "s1", "s1"), ("cat",), ""),
        (Target(TargetKind.SCHEDULE_PREVIOUS, "s1", "s1"), ("ann",), ""),
        (Target(TargetKind.SCHEDULE, "empty", "empty"), (), "nobody on call in schedule empty"),
        (Target(TargetKind.SCHEDULE, "gone"), (), "no longer exists"),
        (Target(TargetKind.TEAM, "ops", "ops"), ("ben",), ""),  # its default schedule
        (Target(TargetKind.TEAM, "web", "web"), ("dan", "eve"), ""),  # all its schedules
        (Target(TargetKind.TEAM, "db", "db"), ("m1", "m2"), ""),  # no schedules: members
        (Target(TargetKind.TEAM_MEMBERS, "ops", "ops"), ("o1",), ""),
        (Target(TargetKind.TEAM_MEMBERS, "none", "none"), (), "has no members"),
    ],
)
def test_targets_resolve_to_people(target: Target, users: tuple[str, ...], why: str) -> None:
    schedules = {
        "s1": daily("s1", "ops", "ann", "ben", "cat"),
        "s2": daily("s2", "ops", "zed"),
        "empty": daily("empty", "x", None),
        "w1": daily("w1", "web", "dan"),
        "w2": daily("w2", "web", "eve"),
    }
    d = directory({"db": ["m1", "m2"], "ops": ["o1"]}, schedules, {"ops": "s1"})
    found = recipients.recipients(target, T0 + timedelta(hours=1), d)
    assert found.users == users
    assert why in found.why_nobody


def test_routing_picks_the_first_matching_rule_in_its_window_else_the_default() -> None:

    urgent, calm = policy(), dataclasses.replace(policy(), id="calm", name="calm")
    routing = Routing(
        "t", "Europe/Berlin",
        (RoutingRule("p1", "p", {"field": "priority", "op": "equals", "value": "P1"},
                     (Restriction(time(9), time(17), 0, 4),)),),
        default_policy_id="calm",
    )  # fmt: skip
    policies = {"p": urgent, "calm": calm}
    monday_10_berlin = datetime(2026, 3, 2, 9, tzinfo=UTC)
    saturday = datetime(2026, 3, 7, 9, tzinfo=UTC)
    p1 = alert(priority=Priority.P1)
    assert recipients.route(p1, routing, policies, monday_10_berlin) == (urgent, "p1")
    assert recipients.route(p1, routing, policies, saturday) == (calm, "")
    assert recipients.route(alert(), routing, policies, monday_10_berlin) == (calm, "")
    fallback, _ = recipients.route(alert(), None, {}, T0)
    assert fallback.rules[0].targets == (Target(TargetKind.TEAM, "t", "ops"),)


# Pages


def test_a_user_is_paged_by_the_rule_for_the_alerts_priority_with_repeats() -> None:
    user = User(
        "u1", "alice",
        contact_methods=(
            ContactMethod("m1", "email", Channel.EMAIL, "a@example.com"),
            ContactMethod("m2", "phone", Channel.SMS, "+14155550101"),
        ),
        notification_rules=NotificationRules(
            high_priority=NotificationRule((NotificationStep("phone", 0),), 10, 2)
        ),
    )  # fmt: skip
    low = paging.plan(user, alert(), 0, 0, 0, T0)
    assert [(p.channel, p.due_at) for p in low] == [
        (Channel.EMAIL, T0),
        (Channel.SMS, T0 + MIN),
    ]
    high = paging.plan(user, alert(priority=Priority.P1), 0, 0, 0, T0)
    assert [(p.channel, p.due_at, p.round) for p in high] == [
        (Channel.SMS, T0, 0), (Channel.SMS, T0 + 10 * MIN, 1), (Channel.SMS, T0 + 20 * MIN, 2),
    ]  # fmt: skip
    assert len({p.key for p in high}) == 3


def test_retries_back_off_exponentially_with_jitter_and_a_ceiling() -> None:
    rng = random.Random(1)
    delays = [paging.retry_delay(n, rng).total_seconds() for n in range(1, 9)]
    assert 8 <= delays[0] <= 12 and 16 <= delays[1] <= 24
    assert all(d <= 360 for d in delays) and delays[-1] >= 240

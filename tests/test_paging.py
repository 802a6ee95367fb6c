"""Escalations and pages end to end through the store and the engine, with a fake clock and
a fake notifier: who is paged when, and that nothing is paged after an acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from service.alerts.model import (
    Actor,
    Alert,
    AlertQuery,
    AlertRef,
    NewAlert,
    PagingPlan,
    PlannedStep,
    Priority,
    RefKind,
    Responder,
)
from service.alerts.usecases import Alerts
from service.core.database import Db
from service.core.errors import FailedPrecondition, InvalidArgument
from service.core.metrics import AlertMetrics
from service.db.sql_store import SQLStore
from service.db.sqlite import SQLiteStore
from service.escalation.model import Repeat
from service.escalation.runs import claim_due_escalations
from service.escalation.usecases import (
    EscalationRuleSpec,
    Policies,
    PolicySpec,
    RoutingRuleSpec,
    RoutingSpec,
)
from service.ingest.model import IngestAction, IntegrationType, NewIntegration, SnsDelivery, SnsType
from service.oncall.rotations import RotationSpec
from service.oncall.usecases import Schedules, ScheduleSpec
from service.paging.engine import STEP_CHUNK, Engine, Tick
from service.paging.notifier import Notification, Outcome, SendResult
from service.paging.planning import ClaimedPage, PageState
from service.people.model import Channel, NotificationRule, NotificationStep
from service.people.usecases import Users
from service.teams.usecases import Teams
from tests.databases import BACKENDS, open_store
from tests.fakes import FakeClock, FakeNotifier

ANA = Actor("ana")
MINUTE = timedelta(minutes=1)


@dataclass
class World:
    store: SQLStore
    clock: FakeClock
    notifier: FakeNotifier
    alerts: Alerts
    users: Users
    teams: Teams
    schedules: Schedules
    policies: Policies
    engine: Engine

    async def person(self, name: str, *methods: tuple[str, str]) -> None:
        await self.users.create(name)
        for channel, address in methods:
            await self.users.add_contact_method(name, channel, address)

    async def fire(self, message: str = "Disk full", **fields: object) -> Alert:
        alert = NewAlert(message=message, owner_team="ops", **fields)  # type: ignore[arg-type]
        return (await self.alerts.create(alert, ANA)).alert

    async def at(self, delta: timedelta) -> list[tuple[str, str]]:
        """Moves the clock on, ticks, and returns the pages sent in that tick."""
        self.clock.advance(delta)
        before = len(self.notifier.pages)
        await self.engine.tick()
        return self.notifier.sent_to()[before:]

    async def routing_default_schedule(self) -> None:
        await self.policies.set_routing(
            RoutingSpec("ops", default_policy="ops-policy", default_schedule="ops-oncall")
        )

    async def log(self, alert: Alert) -> list[str]:
        page = await self.store.list_activity(AlertRef(RefKind.ID, alert.id), 500, "")
        return [e.action for e in page.items]


@pytest.fixture(params=BACKENDS)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    clock = FakeClock()
    async with open_store(request.param, tmp_path, clock) as store:
        yield await _world(store, clock)


async def _world(store: SQLStore, clock: FakeClock) -> World:
    notifier = FakeNotifier()
    alerts = Alerts(store, clock)
    engine = Engine(
        alerts,
        store,
        dict.fromkeys(Channel, notifier),
        clock,
        AlertMetrics(CollectorRegistry()),
        rng=random.Random(7),
        shared=not isinstance(store, SQLiteStore),
    )
    w = World(
        store, clock, notifier, alerts, Users(store, clock), Teams(store, clock),
        Schedules(store, clock), Policies(store, clock), engine,
    )  # fmt: skip
    await w.teams.create("ops", "")
    await w.person("alice", ("email", "alice@example.com"), ("sms", "+14155550101"))
    await w.person("bob", ("voice", "+14155550102"))
    # Bob is called at once; by default a call would come five minutes in.
    await w.users.set_notification_rule(
        "bob", "new_alert", NotificationRule((NotificationStep("voice", 0),))
    )
    await w.schedules.create(
        ScheduleSpec(
            "ops-oncall",
            team="ops",
            time_zone="UTC",
            rotations=(
                RotationSpec("primary", "weekly", clock.now() - timedelta(days=1), ("bob",)),
            ),
        )
    )
    return w


async def _damage_snapshot(store: SQLStore, alert_id: str) -> None:
    """Spoils one alert's stored policy snapshot, as a bug or a bad restore might."""
    await store._write(
        lambda conn: conn.execute(
            "UPDATE escalations SET policy = 'not json' WHERE alert_id = ?", (alert_id,)
        )
    )


async def ops_policy(w: World, *rules: EscalationRuleSpec, repeat: Repeat | None = None) -> None:
    """Policy "p", with these rules, for every alert of the ops team."""
    await w.policies.create(PolicySpec("p", team="ops", rules=rules, repeat=repeat))
    await w.policies.set_routing(RoutingSpec("ops", default_policy="p"))


async def two_step_policy(w: World, **repeat: object) -> None:
    await w.policies.create(
        PolicySpec(
            "ops-policy",
            team="ops",
            rules=(
                EscalationRuleSpec(timedelta(), (("user", "alice"),)),
                EscalationRuleSpec(5 * MINUTE, (("schedule", "ops-oncall"),)),
            ),
            repeat=Repeat(**repeat) if repeat else None,  # type: ignore[arg-type]
        )
    )
    await w.policies.set_routing(RoutingSpec("ops", default_policy="ops-policy"))


async def test_a_two_step_policy_pages_by_each_users_rules(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    # Alice at once: email now (the default rule), SMS a minute later; then bob's phone.
    assert await world.at(timedelta()) == [("alice", "email")]
    assert await world.at(MINUTE) == [("alice", "sms")]
    assert await world.at(3 * MINUTE) == []
    assert await world.at(MINUTE) == [("bob", "voice")]
    assert await world.at(10 * MINUTE) == []
    log = await world.log(alert)
    assert log.count("paged") == 3 and log.count("escalated") == 2
    assert "escalation finished" in log
    page = world.notifier.pages[0]
    assert (
        page.tiny_id == alert.tiny_id
        and page.reply_hint == f"Reply '{alert.tiny_id} ack' to acknowledge"
    )


async def test_acknowledging_cancels_every_pending_page_at_once(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    assert await world.at(timedelta()) == [("alice", "email")]
    await world.alerts.acknowledge(AlertRef(RefKind.ID, alert.id), Actor("alice"))
    # The SMS due a minute later and bob's call are never sent.
    assert await world.at(MINUTE) == []
    assert await world.at(10 * MINUTE) == []
    records = await world.store.list_pages(alert.id)
    assert [r.state for r in records] == [PageState.DELIVERED, PageState.CANCELLED]
    assert "pages cancelled" in await world.log(alert)


async def test_unacknowledging_pages_again_from_the_first_rule(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    ref = AlertRef(RefKind.ID, alert.id)
    await world.at(timedelta())
    await world.alerts.acknowledge(ref, ANA)
    await world.at(2 * MINUTE)
    await world.alerts.unacknowledge(ref, ANA)
    assert await world.at(timedelta()) == [("alice", "email")]  # a new run: a new ledger key
    assert await world.at(MINUTE) == [("alice", "sms")]


async def test_snooze_pauses_and_its_end_pages_whoever_is_on_call_then(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    ref = AlertRef(RefKind.ID, alert.id)
    await world.at(timedelta())
    await world.alerts.snooze(ref, 30 * MINUTE, ANA)
    assert await world.at(10 * MINUTE) == []
    assert await world.at(20 * MINUTE) == [("alice", "email")]


async def test_closing_stops_everything(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    await world.at(timedelta())
    await world.alerts.close(AlertRef(RefKind.ID, alert.id), ANA)
    assert await world.at(time_enough()) == []


def time_enough() -> timedelta:
    return timedelta(hours=2)


async def test_an_empty_schedule_moves_on_at_once_and_says_so(world: World) -> None:
    await world.schedules.create(ScheduleSpec("empty", team="ops", time_zone="UTC"))
    await ops_policy(
        world,
        EscalationRuleSpec(timedelta(), (("schedule", "empty"),)),
        EscalationRuleSpec(10 * MINUTE, (("user", "bob"),)),
    )
    alert = await world.fire()
    assert await world.at(timedelta()) == [("bob", "voice")]  # not ten minutes later
    assert "nobody to page" in await world.log(alert)


async def test_repeats_reset_acknowledgement_and_close_after_the_last(world: World) -> None:
    await two_step_policy(
        world, after=10 * MINUTE, times=1, reset_acknowledgement=True, close_after_last=True
    )
    alert = await world.fire()
    ref = AlertRef(RefKind.ID, alert.id)
    await world.at(timedelta())
    await world.alerts.acknowledge(ref, ANA)
    # The repeat at 5 + 10 minutes unacknowledges and pages alice again.
    assert await world.at(15 * MINUTE) == [("alice", "email")]
    current = await world.alerts.get(ref)
    assert not current.acknowledged
    await world.at(MINUTE)
    await world.at(4 * MINUTE)  # bob
    await world.at(10 * MINUTE)  # after the last repeat: closed
    assert (await world.alerts.get(ref)).status.value == "closed"


async def test_a_page_in_flight_when_the_engine_closes_the_alert_is_not_tried_again(
    world: World,
) -> None:
    await two_step_policy(world, after=10 * MINUTE, times=1, close_after_last=True)
    alert = await world.fire()
    assert await world.at(timedelta()) == [("alice", "email")]
    assert ("bob", "voice") in await world.at(5 * MINUTE)
    assert await world.at(10 * MINUTE) == [("alice", "email")]  # the repeat
    world.clock.advance(5 * MINUTE)  # the repeat's second rule: bob
    await world.store.run_due_escalations(world.clock.now(), 10)
    claimed = (await world.store.claim_pages(world.clock.now(), 10, 30 * MINUTE)).pages
    assert "bob" in {page.username for page in claimed}  # with alice's later steps
    world.clock.advance(10 * MINUTE)  # after the last repeat: the engine closes the alert
    await world.store.run_due_escalations(world.clock.now(), 10)
    assert (await world.alerts.get(AlertRef(RefKind.ID, alert.id))).status.value == "closed"
    retry = SendResult(Outcome.RETRYABLE, detail="timed out")
    states = await world.store.record_pages(
        [(page, retry) for page in claimed], world.clock.now(), random.Random(1)
    )
    assert set(states) == {PageState.CANCELLED}
    assert await world.at(time_enough()) == []


async def test_escalate_to_next_runs_the_next_rule_at_once(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    await world.at(timedelta())
    await world.policies.escalate_now(alert.id)
    assert ("bob", "voice") in await world.at(timedelta())
    await world.at(time_enough())
    with pytest.raises(FailedPrecondition):
        await world.policies.escalate_now(alert.id)


async def test_provider_failures_retry_then_give_up_or_move_on(world: World) -> None:
    await two_step_policy(world)
    retry = SendResult(Outcome.RETRYABLE, detail="503 from provider")
    world.notifier.fail_next("alice@example.com", retry, retry)
    world.notifier.fail_next("+14155550101", SendResult(Outcome.PERMANENT, detail="bad number"))
    alert = await world.fire()
    await world.at(timedelta())
    assert await world.at(MINUTE) == [("alice", "email"), ("alice", "sms")]  # first retry ~10 s
    await world.at(MINUTE)  # second retry ~20 s later: delivered
    states = {r.channel: r for r in await world.store.list_pages(alert.id)}
    assert (
        states[Channel.EMAIL].state is PageState.DELIVERED and states[Channel.EMAIL].attempts == 3
    )
    assert (
        states[Channel.SMS].state is PageState.FAILED and states[Channel.SMS].detail == "bad number"
    )
    log = await world.log(alert)
    assert log.count("page retrying") == 2 and log.count("page failed") == 1


async def test_sms_to_one_number_is_throttled_not_dropped(world: World) -> None:
    await ops_policy(world, EscalationRuleSpec(timedelta(), (("user", "alice"),)))
    await world.users.set_notification_rule(
        "alice", "new_alert", NotificationRule((NotificationStep("sms", 0),))
    )
    first = await world.fire("one")
    second = await world.fire("two")
    sent = await world.at(timedelta())
    assert sent == [("alice", "sms")]  # one SMS per number per minute
    assert "page throttled" in await world.log(second) or "page throttled" in await world.log(first)
    assert await world.at(MINUTE) == [("alice", "sms")]


async def test_a_send_lost_in_a_crash_goes_again_under_the_same_key(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    await world.at(timedelta())  # the escalation planned alice's email and SMS
    world.clock.advance(MINUTE)
    claimed = (await world.store.claim_pages(world.clock.now(), 10, timedelta(seconds=60))).pages
    assert [c.channel for c in claimed] == [Channel.SMS]
    # The process dies here: claimed, maybe sent, never recorded. The lease runs out...
    assert await world.at(30 * timedelta(seconds=1)) == []
    assert await world.at(MINUTE) == [("alice", "sms")]
    assert world.notifier.pages[-1].key == claimed[0].key
    records = [r for r in await world.store.list_pages(alert.id) if r.channel is Channel.SMS]
    assert records[0].state is PageState.DELIVERED and records[0].attempts == 2


async def test_routing_rules_pick_the_policy_and_responders_are_paged(world: World) -> None:
    await world.policies.create(
        PolicySpec(
            "urgent", team="ops", rules=(EscalationRuleSpec(timedelta(), (("user", "bob"),)),)
        )
    )
    await world.policies.create(
        PolicySpec(
            "calm", team="ops", rules=(EscalationRuleSpec(30 * MINUTE, (("user", "alice"),)),)
        )
    )
    await world.policies.set_routing(
        RoutingSpec(
            "ops",
            rules=(
                RoutingRuleSpec(
                    "p1", "urgent", when={"field": "priority", "op": "equals", "value": "P1"}
                ),
            ),
            default_policy="calm",
        )
    )
    await world.fire("urgent", priority=Priority.P1)
    assert await world.at(timedelta()) == [("bob", "voice")]
    calm = await world.fire("calm", responders=(Responder("user", "bob"),))
    assert await world.at(timedelta()) == [("bob", "voice")]  # a responder, at once
    log = await world.store.list_activity(AlertRef(RefKind.ID, calm.id), 50, "")
    assert log.items[0].after["policy"] == "calm"


async def test_an_escalation_responder_runs_that_policy_alongside(world: World) -> None:
    await ops_policy(world, EscalationRuleSpec(30 * MINUTE, (("user", "alice"),)))
    await world.policies.create(
        PolicySpec(
            "db-escalation",
            team="ops",
            rules=(
                EscalationRuleSpec(timedelta(), (("user", "bob"),)),
                EscalationRuleSpec(10 * MINUTE, (("user", "alice"),)),
            ),
        )
    )
    created = await world.alerts.create(
        NewAlert(
            message="Replica lag", owner_team="ops",
            responders=(Responder("escalation", "DB-Escalation"),),
        ),
        ANA,
    )  # fmt: skip
    # Snapshotted with the team's policy: an edit now changes nothing for this alert.
    await world.policies.update(
        "db-escalation",
        PolicySpec(
            "db-escalation", team="ops", rules=(EscalationRuleSpec(MINUTE, (("user", "alice"),)),)
        ),
    )
    assert await world.at(timedelta()) == [("bob", "voice")]
    assert await world.at(10 * MINUTE) == [("alice", "email")]
    log = await world.store.list_activity(AlertRef(RefKind.ID, created.alert.id), 50, "")
    assert log.items[0].after["policy"] == "p"
    assert log.items[0].after["responder policies"] == ["db-escalation"]
    assert "responder not found" not in [e.action for e in log.items]
    assert created.paging is not None and created.paging.policy == "p, db-escalation"
    assert [(s.after, s.users) for s in created.paging.steps] == [
        (timedelta(), ("bob",)), (10 * MINUTE, ("alice",)), (30 * MINUTE, ("alice",)),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("responder", "rule"),
    [
        (Responder("user", "nosuch"), "no user named 'nosuch'"),
        (Responder("escalation", "nosuch"), "no escalation named 'nosuch'"),
        (Responder("schedule", "nosuch"), "no schedule named 'nosuch'"),
        (Responder("team", "nosuch"), "no team named 'nosuch'"),
    ],
)
async def test_unknown_responders_are_refused_naming_them(
    world: World, responder: Responder, rule: str
) -> None:
    alert = NewAlert(
        message="m", owner_team="ops", responders=(Responder("user", "bob"), responder)
    )
    with pytest.raises(InvalidArgument) as refused:
        await world.alerts.create(alert, ANA)
    assert (refused.value.field, refused.value.rule) == ("responders[1]", rule)
    # Nothing was created, and an alias that deduplicates is refused all the same.
    assert (await world.alerts.list(AlertQuery())).items == ()
    await world.fire("first", alias="same")
    with pytest.raises(InvalidArgument, match=r"responders\[1\]"):
        await world.alerts.create(dataclasses.replace(alert, alias="same"), ANA)


async def test_a_delivery_naming_an_unknown_responder_keeps_its_alert(world: World) -> None:
    """SNS cannot be told a responder is wrong: the alert is kept, and its log says so."""
    topic = "arn:aws:sns:us-east-1:123456789012:alerts"
    integration = await world.store.create_integration(
        NewIntegration("aws", IntegrationType.SNS, team="ops", topic_arns=(topic,)),
        "key-hash", world.clock.now(), "i-1",
    )  # fmt: skip
    delivery = SnsDelivery(
        integration.id, SnsType.NOTIFICATION, "m-1", topic, "", "{}", world.clock.now(), 2
    )
    alert = NewAlert(
        message="From SNS", owner_team="ops",
        responders=(Responder("user", "nosuch"), Responder("user", "alice")),
    )  # fmt: skip
    result = await world.store.ingest_sns(
        delivery, "key-hash", lambda kind: IngestAction(alert), ANA, world.clock.now(), "a-1"
    )
    assert result.alert is not None and result.alert.message == "From SNS"
    assert ("alice", "email") in await world.at(timedelta())
    log = await world.store.list_activity(AlertRef(RefKind.ID, result.alert.id), 50, "")
    missing = [e.after for e in log.items if e.action == "responder not found"]
    assert missing == [{"responder": "user:nosuch"}]


async def test_the_create_answer_says_who_will_be_paged_or_that_nobody_will(
    world: World,
) -> None:
    # The team has no policy: its on-call schedule, at once.
    on_call = (await world.alerts.create(NewAlert(message="a", owner_team="ops"), ANA)).paging
    assert on_call == PagingPlan("ops on-call", (PlannedStep(timedelta(), ("bob",)),))
    # The default team has no members, schedules or policy: nobody, and why.
    nobody = (await world.alerts.create(NewAlert(message="b"), ANA)).paging
    assert nobody is not None and nobody.nobody == "team default has no members"
    assert nobody.steps == (PlannedStep(timedelta(), ()),)
    # A policy: each rule, whom it pages when it comes.
    await two_step_policy(world)
    planned = (await world.alerts.create(NewAlert(message="c", owner_team="ops"), ANA)).paging
    assert planned == PagingPlan(
        "ops-policy", (PlannedStep(timedelta(), ("alice",)), PlannedStep(5 * MINUTE, ("bob",)))
    )
    # Deduplicated: no new escalation, so no plan.
    again = await world.alerts.create(NewAlert(message="c", alias="x", owner_team="ops"), ANA)
    deduplicated = await world.alerts.create(
        NewAlert(message="c", alias="x", owner_team="ops"), ANA
    )
    assert again.paging is not None and deduplicated.paging is None


async def test_a_policy_edited_later_changes_only_new_alerts(world: World) -> None:
    await two_step_policy(world)
    alert = await world.fire()
    await world.policies.update(
        "ops-policy",
        PolicySpec(
            "ops-policy", team="ops", rules=(EscalationRuleSpec(timedelta(), (("user", "bob"),)),)
        ),
    )
    assert await world.at(timedelta()) == [("alice", "email")]  # the snapshot, not the edit
    del alert
    await world.fire("second")
    assert await world.at(timedelta()) == [("bob", "voice")]


async def test_a_not_closed_rule_pages_after_the_acknowledgement(world: World) -> None:
    await ops_policy(
        world,
        EscalationRuleSpec(timedelta(), (("user", "alice"),)),
        EscalationRuleSpec(10 * MINUTE, (("user", "bob"),), "not-closed"),
    )
    alert = await world.fire()
    await world.at(timedelta())
    await world.alerts.acknowledge(AlertRef(RefKind.ID, alert.id), ANA)
    assert await world.at(10 * MINUTE) == [("bob", "voice")]


async def test_one_broken_escalation_does_not_stop_the_others(world: World, tmp_path: Path) -> None:
    await two_step_policy(world)
    broken = await world.fire("broken")
    await world.fire("fine")
    # Damage one alert's stored snapshot, as a bug or a bad restore might.
    await _damage_snapshot(world.store, broken.id)
    assert await world.at(timedelta()) == [("alice", "email")]  # the fine one still pages
    assert await world.at(timedelta()) == []  # the broken one is retried, and fails again


async def _acknowledged_in_flight(world: World) -> tuple[Alert, ClaimedPage]:
    """An alert acknowledged while its second page (SMS) is claimed, with its provider."""
    await two_step_policy(world)
    alert = await world.fire()
    await world.engine.tick()
    world.clock.advance(MINUTE)
    (sms,) = (await world.store.claim_pages(world.clock.now(), 10, MINUTE)).pages
    await world.alerts.acknowledge(AlertRef(RefKind.ID, alert.id), ANA)
    return alert, sms


async def test_a_send_that_fails_after_the_acknowledgement_is_not_tried_again(
    world: World,
) -> None:
    _, sms = await _acknowledged_in_flight(world)
    retry = SendResult(Outcome.RETRYABLE, detail="timed out")
    (state,) = await world.store.record_pages([(sms, retry)], world.clock.now(), random.Random(1))
    assert state is PageState.CANCELLED
    assert await world.at(time_enough()) == []


async def test_a_page_whose_sender_died_after_the_acknowledgement_is_not_sent_again(
    world: World,
) -> None:
    alert, sms = await _acknowledged_in_flight(world)
    # Its sender dies: nothing is recorded, and the lease runs out.
    assert await world.at(2 * MINUTE) == []
    (page,) = [p for p in await world.store.list_pages(alert.id) if p.key == sms.key]
    assert (page.state, page.detail) == (PageState.CANCELLED, "acknowledged")


async def test_one_method_at_two_steps_is_paged_twice(world: World) -> None:
    await two_step_policy(world)
    await world.users.set_notification_rule(
        "alice",
        "new_alert",
        NotificationRule((NotificationStep("sms", 0), NotificationStep("sms", 5))),
    )
    await world.fire()
    assert await world.at(timedelta()) == [("alice", "sms")]
    assert await world.at(5 * MINUTE) == [("alice", "sms"), ("bob", "voice")]


async def test_acknowledging_a_snoozed_alert_lets_until_closed_rules_run(world: World) -> None:
    await ops_policy(
        world,
        EscalationRuleSpec(timedelta(), (("user", "alice"),)),
        EscalationRuleSpec(10 * MINUTE, (("user", "bob"),), "not-closed"),
    )
    alert = await world.fire()
    ref = AlertRef(RefKind.ID, alert.id)
    await world.at(timedelta())
    await world.alerts.snooze(ref, 60 * MINUTE, ANA)
    await world.alerts.acknowledge(ref, ANA)
    assert await world.at(10 * MINUTE) == [("bob", "voice")]


async def test_nobody_on_call_keeps_the_wait_before_a_repeat(world: World) -> None:
    await world.schedules.create(ScheduleSpec("empty", team="ops", time_zone="UTC"))
    await ops_policy(
        world,
        EscalationRuleSpec(timedelta(), (("schedule", "empty"),)),
        repeat=Repeat(10 * MINUTE, 3, close_after_last=True),
    )
    alert = await world.fire()
    await world.at(timedelta())
    assert (await world.alerts.get(AlertRef(RefKind.ID, alert.id))).status.value == "open"
    await world.at(45 * MINUTE)  # three repeats ten minutes apart, then closed
    assert (await world.alerts.get(AlertRef(RefKind.ID, alert.id))).status.value == "closed"


async def test_a_broken_escalation_waits_before_it_is_tried_again(
    world: World, tmp_path: Path
) -> None:
    await two_step_policy(world)
    broken = await world.fire("broken")
    await _damage_snapshot(world.store, broken.id)
    await world.engine.tick()
    assert await world.store.next_due() == world.clock.now() + MINUTE  # not due again at once


async def test_repeats_must_wait_at_least_a_minute(world: World) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.policies.create(
            PolicySpec(
                "p",
                team="ops",
                rules=(EscalationRuleSpec(timedelta(), (("user", "alice"),)),),
                repeat=Repeat(timedelta(seconds=5), 3),
            )
        )
    assert caught.value.field == "repeat.after"


async def test_an_alert_for_a_team_with_nobody_says_so_when_it_is_created(world: World) -> None:
    await world.teams.create("empty", "")
    alert = (await world.alerts.create(NewAlert(message="m", owner_team="empty"), ANA)).alert
    entries = (await world.store.list_activity(AlertRef(RefKind.ID, alert.id), 10, "")).items
    assert entries[0].after["paging"] == "nobody: team empty has no members"
    assert await world.at(timedelta()) == []
    assert await world.store.next_due() is None  # nothing left for the engine to do


async def test_what_a_policy_pages_cannot_be_deleted_from_under_it(world: World) -> None:
    await two_step_policy(world)
    with pytest.raises(FailedPrecondition, match="paged by escalation policy ops-policy"):
        await world.users.delete("alice")
    with pytest.raises(FailedPrecondition, match="paged by escalation policy ops-policy"):
        await world.schedules.delete("ops-oncall")
    with pytest.raises(FailedPrecondition, match=r"1 escalation policy\(ies\)"):
        await world.teams.delete("ops")
    await world.routing_default_schedule()
    await world.policies.update(
        "ops-policy",
        PolicySpec(
            "ops-policy", team="ops", rules=(EscalationRuleSpec(timedelta(), (("user", "bob"),)),)
        ),
    )
    with pytest.raises(FailedPrecondition, match="on-call schedule of team ops"):
        await world.schedules.delete("ops-oncall")
    await world.users.delete("alice")  # no longer paged by anything


async def test_an_acknowledgement_while_another_engine_pages_cancels_what_it_planned(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(world.store, SQLiteStore):
        pytest.skip("one writer at a time: no engine pages while the acknowledgement writes")
    await two_step_policy(world)
    alert = await world.fire()
    now = world.clock.now()
    stepped, release = threading.Event(), threading.Event()
    claim = world.store._claim

    def paused(job: Callable[[Db], Any]) -> Awaitable[Any]:
        """An engine on another replica, stopped between planning its pages and committing."""

        def held(conn: Db) -> Any:
            done = job(conn)
            stepped.set()
            assert release.wait(30)
            return done

        return claim(held)

    monkeypatch.setattr(world.store, "_claim", paused)
    engine = asyncio.ensure_future(world.store.run_due_escalations(now, STEP_CHUNK))
    assert await asyncio.to_thread(stepped.wait, 30)
    monkeypatch.undo()  # that engine's job runs already; later ones claim as ever
    ack = asyncio.ensure_future(world.alerts.acknowledge(AlertRef(RefKind.ID, alert.id), ANA))
    await asyncio.sleep(0.5)
    assert not ack.done()  # it waits for the engine's transaction to end
    release.set()
    assert await engine == (1, 2)  # alice: email now, SMS a minute on; both planned first
    await ack
    states = {p.state for p in await world.store.list_pages(alert.id)}
    assert states == {PageState.CANCELLED}
    assert await world.at(10 * MINUTE) == []


async def test_engines_sharing_a_database_take_different_escalations(world: World) -> None:
    """While one engine works through the earliest due escalations, another takes the next
    ones, rather than finding the same ones locked and nothing to do."""
    if isinstance(world.store, SQLiteStore):
        pytest.skip("one writer at a time: no two engines take escalations at once")
    await two_step_policy(world)
    fired = [await world.fire(f"Disk full on db-{n}") for n in range(STEP_CHUNK + 8)]
    now = world.clock.now()
    taken, release = threading.Event(), threading.Event()

    def first_engine(conn: Db) -> Sequence[str]:
        mine = claim_due_escalations(conn, now, STEP_CHUNK)
        taken.set()
        assert release.wait(30)
        return mine

    first = asyncio.ensure_future(world.store._claim(first_engine))
    try:
        assert await asyncio.to_thread(taken.wait, 30)
        ran, planned = await world.store.run_due_escalations(now, STEP_CHUNK)
    finally:
        release.set()
    held = await first
    assert (ran, planned) == (8, 16)  # the other 8 alerts: alice's email and SMS each
    assert len(held) == STEP_CHUNK and len({*held, *(a.id for a in fired)}) == len(fired)


class CountingEngine(Engine):
    """The real engine, counting the ticks it has finished."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticks = 0
        self.ticked = asyncio.Event()

    async def tick(self) -> Tick:
        done = await super().tick()
        self.ticks += 1
        self.ticked.set()
        return done

    async def next_tick(self) -> None:
        self.ticked = asyncio.Event()
        await self.ticked.wait()


@contextlib.asynccontextmanager
async def running_engine(
    world: World, notifier: FakeNotifier | None
) -> AsyncIterator[CountingEngine]:
    """`Engine.run` for the block, from after its first tick, with an interval too long to
    tick on: it ticks only when the store tells it of a change. The block has 10 s."""
    notifiers = {} if notifier is None else dict.fromkeys(Channel, notifier)
    engine = CountingEngine(
        world.alerts, world.store, notifiers, world.clock, AlertMetrics(CollectorRegistry()),
        shared=not isinstance(world.store, SQLiteStore),
    )  # fmt: skip
    stop = asyncio.Event()
    first = asyncio.ensure_future(engine.next_tick())
    running = asyncio.create_task(engine.run(3600, stop))
    try:
        async with asyncio.timeout(10):
            await first
            yield engine
    finally:
        stop.set()
        await running


async def test_the_running_engine_ticks_for_changes_that_make_work_due_and_only_those(
    world: World,
) -> None:
    await two_step_policy(world)
    await world.teams.create("quiet", "")  # no policy and nobody on call: nobody to page
    async with running_engine(world, world.notifier) as engine:
        for _ in range(10):
            await world.alerts.create(NewAlert(message="m", owner_team="quiet"), ANA)
            await asyncio.sleep(0.05)  # time to hear of the change, and to tick if it did
        assert engine.ticks == 1
        paged = asyncio.ensure_future(engine.next_tick())
        await world.fire()  # pages alice at once
        await paged
    assert engine.ticks == 2
    assert world.notifier.sent_to() == [("alice", "email")]


async def test_a_snooze_that_runs_out_is_ended_as_soon_as_the_engine_hears_of_any_change(
    world: World,
) -> None:
    alert = await world.alerts.create(NewAlert(message="m", owner_team="ops"), ANA)
    ref = AlertRef(RefKind.ID, alert.alert.id)
    await world.alerts.acknowledge(ref, ANA)
    await world.alerts.snooze(ref, MINUTE, ANA)
    async with running_engine(world, None) as engine:
        world.clock.advance(2 * MINUTE)  # the snooze has run out
        woken = asyncio.ensure_future(engine.next_tick())
        await world.alerts.add_note(ref, Actor("ana", "still on it"))  # any change
        await woken
    shown = await world.alerts.get(ref)
    assert shown.snoozed_until is None and not shown.acknowledged


class SilentNotifier:
    """A provider that takes the page and never answers."""

    def __init__(self) -> None:
        self.taken = 0

    async def send(self, page: Notification) -> SendResult:
        self.taken += 1
        await asyncio.Event().wait()
        raise AssertionError("never answers")


async def test_a_provider_call_ends_within_half_the_lease_as_a_retryable_failure(
    world: World,
) -> None:
    """A page is still its sender's while the provider has it: the call is given up with
    half the lease left, so no other engine can take the page over and send it again."""
    await two_step_policy(world)
    alert = await world.fire()
    silent = SilentNotifier()
    engine = Engine(
        world.alerts, world.store, dict.fromkeys(Channel, silent), world.clock,
        AlertMetrics(CollectorRegistry()), lease=timedelta(milliseconds=400),
    )  # fmt: skip
    async with asyncio.timeout(5):
        await engine.tick()  # returns: the call was given up
    email, sms = await world.store.list_pages(alert.id)  # the SMS is due a minute on
    assert silent.taken == 1 and sms.state is PageState.PENDING
    assert (email.state, email.detail) == (PageState.RETRY, "the provider did not answer in time")

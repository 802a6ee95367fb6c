"""The engine's tick, driven by a fake clock: nothing sleeps."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from service.alerts import Alerts
from service.engine import Engine
from service.metrics import AlertMetrics
from service.model import Actor, AlertQuery, AlertRef, NewAlert, RefKind
from service.sqlite_store import SQLiteStore
from tests.fakes import FakeClock


async def test_a_tick_wakes_every_due_snooze_beyond_one_batch(
    store: SQLiteStore, clock: FakeClock
) -> None:
    alerts = Alerts(store, clock)
    engine = Engine(alerts, store, {}, clock, AlertMetrics(CollectorRegistry()))
    actor = Actor("ana")
    for i in range(250):
        alert = (await alerts.create(NewAlert(message=f"m{i}"), actor)).alert
        ref = AlertRef(RefKind.ID, alert.id)
        await alerts.acknowledge(ref, actor)
        await alerts.snooze(ref, timedelta(minutes=1 + i % 3), actor)
    clock.advance(timedelta(minutes=2))
    assert (await engine.tick()).snoozes_ended == 167  # those snoozed for one or two minutes
    clock.advance(timedelta(minutes=1))
    assert (await engine.tick()).snoozes_ended == 83
    page = await alerts.list(AlertQuery(page_size=500))
    assert all(not a.acknowledged and a.snoozed_until is None for a in page.items)
    assert (await engine.tick()).snoozes_ended == 0

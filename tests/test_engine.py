"""The engine's tick, driven by a fake clock, and what its loop logs of failed ticks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from service.alerts.model import Actor, AlertQuery, AlertRef, NewAlert, RefKind
from service.alerts.usecases import Alerts
from service.core.errors import Unavailable
from service.core.metrics import AlertMetrics
from service.db.sqlite import SQLiteStore
from service.paging.engine import Engine
from service.paging.tick_failures import TickFailures
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


class FaultyStore(SQLiteStore):
    """A real store whose every tick fails, from its first read, while `fault` is set."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path, clock)
        self.fault: Exception | None = None
        self.due_fault: Exception | None = None  # for reading when work is next due
        self.ticks = 0  # begun, failed or not
        self._ticked = asyncio.Event()

    async def snoozes_due(self, now: datetime, limit: int) -> Sequence[str]:
        self.ticks += 1
        self._ticked.set()
        if self.fault is not None:
            raise self.fault
        return await super().snoozes_due(now, limit)

    async def next_due(self) -> datetime | None:
        if self.due_fault is not None:
            raise self.due_fault
        return await super().next_due()

    async def ticks_begun(self, more: int) -> None:
        """Returns once `more` ticks have begun from now."""
        until = self.ticks + more
        while self.ticks < until:
            self._ticked.clear()
            await self._ticked.wait()


@contextlib.asynccontextmanager
async def faulty_engine(
    tmp_path: Path, clock: FakeClock, interval: float = 0.01
) -> AsyncIterator[FaultyStore]:
    """`Engine.run` on a `FaultyStore`, ticking (and retrying) at least every `interval`
    seconds, for the block (which has 10 s)."""
    store = FaultyStore(tmp_path / "tocsin.db", clock)
    await store.migrate()
    await store.open()
    engine = Engine(Alerts(store, clock), store, {}, clock, AlertMetrics(CollectorRegistry()))
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(interval, stop))
    try:
        async with asyncio.timeout(10):
            yield store
    finally:
        stop.set()
        await running
        await store.close()


def engine_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "service.paging.engine"]


async def test_a_database_outage_logs_one_warning_when_it_starts_and_one_line_when_it_ends(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="service.paging.engine")
    async with faulty_engine(tmp_path, clock) as store:
        store.fault = Unavailable("the database failed: connection refused")
        await store.ticks_begun(20)
        clock.advance(timedelta(minutes=5))  # however long it lasts
        await store.ticks_begun(20)
        store.fault = None
        await store.ticks_begun(10)  # the first that succeeds says so; the others nothing
    records = engine_records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    warning, info = (r.getMessage() for r in records)
    assert "connection refused" in warning and "retrying every 0.01s" in warning
    assert info.startswith("engine ticks succeed again, after ") and " failed in 300s" in info
    assert not [r for r in records if r.exc_info]


async def test_changes_heard_during_an_outage_tick_at_once_and_add_nothing_to_the_log(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="service.paging.engine")
    async with faulty_engine(tmp_path, clock, interval=3600) as store:
        store.due_fault = Unavailable("the database failed: connection refused")
        alerts = Alerts(store, clock)
        await store.ticks_begun(1)
        for _ in range(3):  # each tick fails to read when work is next due, as does the wait
            woken = asyncio.ensure_future(store.ticks_begun(1))
            while not woken.done():  # a change made while a tick runs wakes nothing
                await alerts.create(NewAlert(message="m"), Actor("ana"))
                await asyncio.wait({woken}, timeout=0.05)
    assert [r.levelno for r in engine_records(caplog)] == [logging.WARNING]


async def test_an_unexpected_failure_logs_its_traceback_at_most_once_a_minute(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="service.paging.engine")
    async with faulty_engine(tmp_path, clock) as store:
        store.fault = KeyError("no such column")
        await store.ticks_begun(20)
        assert len(engine_records(caplog)) == 1
        clock.advance(timedelta(minutes=1))
        await store.ticks_begun(2)  # the first tick to fail since has failed
        store.fault = None
    first, second = engine_records(caplog)
    assert first.exc_info and first.getMessage().startswith("engine tick failed; retrying")
    assert second.exc_info and "more time(s) the same way since last logged" in second.getMessage()


def test_repeats_of_a_failure_are_counted_and_other_failures_logged_on_their_own(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.tick_failures")
    failures = TickFailures(logging.getLogger("tests.tick_failures"), clock.now)
    for _ in range(5):
        failures.failed(KeyError("a"), 1.0)
    failures.failed(ValueError("b"), 1.0)  # another failure: its own traceback
    failures.failed(KeyError("c"), 1.0)  # the same type, another message: its own too
    assert caplog.messages == ["engine tick failed; retrying in 1s"] * 3
    assert all(r.exc_info for r in caplog.records)
    clock.advance(timedelta(seconds=61))
    failures.failed(KeyError("a"), 1.0)  # a minute on: logged again, with its count
    assert caplog.records[3].exc_info
    assert caplog.messages[3].startswith("engine tick failed (and 4 more time(s) the same way")
    failures.failed(KeyError("a"), 1.0)
    clock.advance(timedelta(seconds=61))
    failures.succeeded()  # what recurred unlogged is counted when it is forgotten
    assert caplog.messages[4:] == [
        "engine tick failed 1 more time(s) with KeyError: 'a' since its traceback"
    ]
    failures.failed(KeyError("a"), 1.0)  # forgotten: a traceback again, with no count
    assert caplog.messages[5:] == ["engine tick failed; retrying in 1s"]

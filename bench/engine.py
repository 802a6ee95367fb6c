"""The escalation engine under load, in process: 10,000 open alerts whose escalation steps
fall due over a few seconds, run by the real engine loop (`Engine.run`) on the wall clock,
against a real SQLite store in a temporary directory, paging through the console adapter.

Setup: 50 users, each with an email address and a phone number and a notification rule that
pages both at once; a team whose default policy pages its primary on-call schedule at 0 s and
its secondary `second_rule` s later. The alerts are stamped so that their first steps fall due
evenly over `window` s, starting just after setup ends (a first batch of alerts, due in an
hour and never paged here, times how fast alerts are created to know how far ahead to stamp).
Each alert pages two people by email and SMS at once: an alert storm lands on whoever is on
call. SMS to one number is throttled to one a minute, so all but the first SMS per number are
held back by design; lateness is therefore measured over the email pages, two per alert, each
due at a known instant.

Lateness is the wall-clock instant a page is handed to the notifier minus when it was due,
two ways: from when its escalation step was due (the alert's stamp plus the rule's delay:
what the person paged waits), and from the ledger's `due_at` (stamped when the step ran, so
it leaves out how late the step itself ran). A page still unsent when the run stops counts as
late by at least the time it had waited, and a figure it bounds is printed with ">=". Sends/s
is every page handed over (email and SMS) divided by the time from the first step due to the
last hand-over (or to the stop, when a backlog was left).

The baseline, measured in the same run, is the adapter alone: the same pages handed to
`ConsoleNotifier.send` in a tight loop, so the engine's rate reads as a share of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from adapters import console
from adapters.console import ConsoleNotifier
from app.server import ENGINE_INTERVAL_SECONDS
from bench.lateness import Lateness, escalation_rule
from service.alerts import validation as alert_validation
from service.alerts.model import Actor, NewAlert
from service.alerts.usecases import Alerts
from service.core.clock import SystemClock, from_micros
from service.core.ids import new_uuid
from service.core.metrics import AlertMetrics
from service.db.sqlite import SQLiteStore
from service.escalation.usecases import EscalationRuleSpec, Policies, PolicySpec, RoutingSpec
from service.oncall.rotations import RotationSpec
from service.oncall.usecases import Schedules, ScheduleSpec
from service.paging.engine import Engine
from service.paging.notifier import Notification, SendResult
from service.people.model import Channel, NotificationRule, NotificationStep
from service.people.usecases import Users
from service.teams.usecases import Teams

ALERTS = 10_000
USERS = 50
# 20,000 email pages due evenly over 16 s: 1,250/s offered, so an engine that meets the
# throughput target can meet the lateness target too.
WINDOW_SECONDS = 8.0  # the alerts' first steps fall due evenly over this
SECOND_RULE_SECONDS = 8.0  # the policy's second rule, after the first
LATENESS_TARGET_SECONDS = 1.0
SENDS_TARGET = 1_000.0
CALIBRATION_ALERTS = 512  # created first, due in an hour: they time alert creation
CREATE_CHUNK = 256  # alerts created concurrently, so the store group-commits them
DRAIN_POLL_SECONDS = 0.2
# After the last step due, how long the engine may take to catch up before the run stops.
CATCH_UP_SECONDS = 20.0
STOP_GRACE_SECONDS = 1.0  # then the tick in flight is cancelled
TEAM = "bench"
ACTOR = Actor("bench")


class RecordingNotifier:
    """Notes the wall-clock instant each page is handed over, then lets the inner notifier
    deliver it."""

    def __init__(self, inner: ConsoleNotifier) -> None:
        self._inner = inner
        self.handed: list[tuple[int, Notification]] = []  # (epoch microseconds, page)

    async def send(self, page: Notification) -> SendResult:
        self.handed.append((time.time_ns() // 1_000, page))
        return await self._inner.send(page)


@dataclass(frozen=True)
class Population:
    stamps: dict[str, int]  # alert id -> when its escalation started (epoch microseconds)
    first_due: int
    last_due: int
    created_late: int  # alerts whose first step was already due when they were committed
    idle_seconds: float  # from the end of setup to the first step due
    create_per_second: float


@contextlib.contextmanager
def _quiet_pages_log() -> Iterator[None]:
    """The console adapter still formats and writes every page, but to /dev/null."""
    logger = logging.getLogger(console.log.name)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    with open(os.devnull, "w", encoding="utf-8") as sink:
        logger.handlers = [logging.StreamHandler(sink)]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.handlers, logger.propagate = saved[0], saved[1]
            logger.setLevel(saved[2])


async def _directory(store: SQLiteStore, users: int, second: float) -> None:
    """Users with email and SMS paged at once, two schedules over all of them, and a
    two-rule policy as the team's default."""
    clock = SystemClock()
    teams, people = Teams(store, clock), Users(store, clock)
    await teams.create(TEAM, "")
    at_once = NotificationRule((NotificationStep("email", 0), NotificationStep("sms", 0)))
    names = tuple(f"user-{i:03d}" for i in range(users))
    for i, name in enumerate(names):
        await people.create(name)
        await people.add_contact_method(name, "email", f"{name}@example.com")
        await people.add_contact_method(name, "sms", f"+1415555{i:04d}")
        await people.set_notification_rule(name, "new_alert", at_once)
        await teams.set_member(TEAM, name, "")
    start = clock.now() - timedelta(days=1)
    schedules = Schedules(store, clock)
    for name, order in (("primary", names), ("secondary", names[::-1])):
        await schedules.create(
            ScheduleSpec(
                f"{TEAM}-{name}", team=TEAM, rotations=(RotationSpec(name, "daily", start, order),)
            )
        )
    policies = Policies(store, clock)
    await policies.create(
        PolicySpec(
            f"{TEAM}-policy",
            team=TEAM,
            rules=(
                EscalationRuleSpec(timedelta(), (("schedule", f"{TEAM}-primary"),)),
                EscalationRuleSpec(timedelta(seconds=second), (("schedule", f"{TEAM}-secondary"),)),
            ),
        )
    )
    await policies.set_routing(RoutingSpec(TEAM, default_policy=f"{TEAM}-policy"))


async def _create(store: SQLiteStore, stamps: Sequence[int], first: int) -> list[str]:
    """Alerts stamped at the given instants (the store takes `now` from its caller; `Alerts`
    would read it from a clock), `CREATE_CHUNK` at a time so their commits are shared."""
    ids: list[str] = []
    for offset in range(0, len(stamps), CREATE_CHUNK):
        chunk = stamps[offset : offset + CREATE_CHUNK]
        results = await asyncio.gather(
            *(
                store.create_alert(
                    alert_validation.new_alert(
                        NewAlert(
                            message=f"Disk full on host-{(first + offset + i) % 97}",
                            owner_team=TEAM,
                            source="bench",
                            entity=f"host-{(first + offset + i) % 97}",
                        )
                    ),
                    ACTOR,
                    from_micros(stamp),
                    new_uuid(),
                )
                for i, stamp in enumerate(chunk)
            )
        )
        ids.extend(result.alert.id for result in results)
    return ids


def _now_micros() -> int:
    return time.time_ns() // 1_000


async def _alerts(store: SQLiteStore, count: int, window: float) -> Population:
    """Times a first batch (due in an hour), then stamps the measured alerts so that their
    first steps start falling due just after they are all created."""
    hour = _now_micros() + 3_600_000_000
    started = time.perf_counter()
    await _create(store, [hour] * CALIBRATION_ALERTS, 0)
    per_second = CALIBRATION_ALERTS / (time.perf_counter() - started)
    lead = 1.5 * count / per_second + 0.5  # the table grows as they go: room to spare
    first = _now_micros() + round(lead * 1e6)
    spacing = window * 1e6 / count
    stamps = [first + round(i * spacing) for i in range(count)]
    ids: list[str] = []
    late = 0
    for offset in range(0, count, CREATE_CHUNK):
        chunk = stamps[offset : offset + CREATE_CHUNK]
        ids.extend(await _create(store, chunk, CALIBRATION_ALERTS + offset))
        committed = _now_micros()
        late += sum(stamp < committed for stamp in chunk)
    idle = (first - _now_micros()) / 1e6
    return Population(dict(zip(ids, stamps, strict=True)), first, stamps[-1], late, idle,
                      per_second)  # fmt: skip


def _drained(path: Path, now: int) -> bool:
    """Nothing due by `now` is left: no escalation step, and no page unsent or in flight."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM escalations WHERE due_at IS NOT NULL AND due_at <= ?)"
            " OR EXISTS (SELECT 1 FROM pages WHERE state IN ('pending', 'retry', 'sending') "
            "AND due_at <= ?)",
            (now, now),
        ).fetchone()
    return not row[0]


@dataclass(frozen=True)
class EngineRun:
    handed: list[tuple[int, Notification]]
    ended: int  # epoch microseconds: when the engine loop had stopped


async def _run_engine(store: SQLiteStore, path: Path, last_due: int, second: float) -> EngineRun:
    """`Engine.run` until nothing due is left, or `CATCH_UP_SECONDS` after the last step
    was due."""
    clock = SystemClock()
    notifier = RecordingNotifier(ConsoleNotifier())
    engine = Engine(
        Alerts(store, clock),
        store,
        dict.fromkeys(Channel, notifier),
        clock,
        AlertMetrics(CollectorRegistry()),
        rng=random.Random(7),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(ENGINE_INTERVAL_SECONDS, stop))
    all_due = last_due + round(second * 1e6)
    await asyncio.sleep(max(0.0, (all_due - _now_micros()) / 1e6))
    give_up = all_due + round(CATCH_UP_SECONDS * 1e6)
    drained = False
    while not drained and _now_micros() < give_up:
        await asyncio.sleep(DRAIN_POLL_SECONDS)
        drained = await asyncio.to_thread(_drained, path, _now_micros())
    stop.set()
    with contextlib.suppress(TimeoutError):  # a tick with a backlog only ends when it is sent
        await asyncio.wait_for(task, STOP_GRACE_SECONDS)
    return EngineRun(notifier.handed, _now_micros())


def _ledger(path: Path) -> tuple[dict[str, int], Counter[str]]:
    """Each page's `due_at`, and how many pages ended in each state (throttled apart)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT key, due_at, state, detail FROM pages").fetchall()
    due = {key: due_at for key, due_at, _, _ in rows}
    states = Counter(
        "throttled" if detail == "throttled" else state for _, _, state, detail in rows
    )
    return due, states


async def _baseline(pages: Sequence[Notification]) -> float:
    """Sends/s of the adapter alone, over the same pages."""
    notifier = ConsoleNotifier()
    started = time.perf_counter()
    for page in pages:
        await notifier.send(page)
    return len(pages) / max(time.perf_counter() - started, 1e-9)


@dataclass(frozen=True)
class Outcome:
    population: Population
    run: EngineRun
    ledger_due: dict[str, int]
    states: Counter[str]
    baseline: float


async def _measure(alerts: int, users: int, window: float, second: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as scratch:
        path = Path(scratch) / "tocsin.db"
        store = SQLiteStore(path, SystemClock())
        await store.open()
        try:
            await _directory(store, users, second)
            population = await _alerts(store, alerts, window)
            run = await _run_engine(store, path, population.last_due, second)
        finally:
            await store.close()
        ledger_due, states = _ledger(path)
    baseline = await _baseline([page for _, page in run.handed])
    return Outcome(population, run, ledger_due, states, baseline)


def run(
    alerts: int = ALERTS,
    users: int = USERS,
    window: float = WINDOW_SECONDS,
    second_rule: float = SECOND_RULE_SECONDS,
) -> list[str]:
    """The report's lines; the arguments scale the run down for a quick try."""
    with _quiet_pages_log():
        out = asyncio.run(_measure(alerts, users, window, second_rule))
    return _report(out, alerts, users, window, second_rule)


def _report(out: Outcome, alerts: int, users: int, window: float, second_rule: float) -> list[str]:
    pop, handed = out.population, out.run.handed
    delays = (0, round(second_rule * 1e6))
    emails = {
        (page.alert_id, escalation_rule(page)): (handed_at, page)
        for handed_at, page in reversed(handed)  # the first hand-over wins
        if page.channel is Channel.EMAIL and page.alert_id in pop.stamps
    }
    from_step: list[float] = []
    from_ledger: list[float] = []
    unsent: list[float] = []
    for alert_id, stamp in pop.stamps.items():
        for rule, delay in enumerate(delays):
            found = emails.get((alert_id, rule))
            if found is None:
                unsent.append((out.run.ended - stamp - delay) / 1e6)
                continue
            handed_at, page = found
            from_step.append((handed_at - stamp - delay) / 1e6)
            from_ledger.append((handed_at - out.ledger_due[page.key]) / 1e6)
    step_late = Lateness(from_step + unsent, min(unsent, default=math.inf))
    ledger_late = Lateness(from_ledger or [math.nan], math.inf)
    twice = sum(n > 1 for n in Counter(page.key for _, page in handed).values())
    last = max((t for t, _ in handed), default=pop.first_due)
    end = out.run.ended if unsent else last
    span = max(end - pop.first_due, 1) / 1e6
    per_second = len(handed) / span
    share = f"{per_second / out.baseline:.2%}" if out.baseline else "n/a"
    due_span = (pop.last_due - pop.first_due) / 1e6 + second_rule
    by_5s = Counter((t - pop.first_due) // 5_000_000 for t, _ in handed)
    profile = " ".join(f"{by_5s.get(i, 0):,}" for i in range(math.ceil(span / 5)))
    states = ", ".join(f"{count:,} {state}" for state, count in sorted(out.states.items()))
    backlog = f" (left {CATCH_UP_SECONDS:g} s after the last step was due)" if unsent else ""
    return [
        f"{alerts:,} alerts, first steps due over {window:g} s, the second rule {second_rule:g} s "
        f"later; {users} users, the two on call paged by email + SMS at once; Engine.run "
        f"(interval {ENGINE_INTERVAL_SECONDS:g} s) on the wall clock",
        f"  setup: alerts created at {pop.create_per_second:,.0f}/s; engine idle "
        f"{pop.idle_seconds:.1f} s before the first step; {pop.created_late:,} alerts created "
        "after their first step was due",
        f"  due: {2 * alerts:,} email pages over {due_span:.1f} s "
        f"({2 * alerts / due_span:,.0f}/s offered), and as many SMS",
        f"  ledger: {sum(out.states.values()):,} pages: {states} (SMS throttled to 1 a minute "
        "per number)",
        f"  handed to the notifier: {len(handed):,} pages ({twice} twice); emails unsent at the "
        f"stop: {len(unsent):,}{backlog}",
        step_late.line("from the step's due time"),
        ledger_late.line("from the ledger's due_at (sent pages)"),
        f"  sends/s: {per_second:,.0f} over {span:.1f} s (first step due to "
        + ("the stop" if unsent else "last hand-over")
        + f"); hand-overs per 5 s: {profile}",
        f"  baseline (ConsoleNotifier.send alone, the same {len(handed):,} pages): "
        f"{out.baseline:,.0f}/s -> the engine runs at {share} of it",
        f"  target p99 lateness <= {LATENESS_TARGET_SECONDS:g} s: "
        + ("met" if step_late.meets(LATENESS_TARGET_SECONDS) else "NOT met"),
        f"  target >= {SENDS_TARGET:,.0f} sends/s: "
        + ("met" if per_second >= SENDS_TARGET else "NOT met"),
    ]

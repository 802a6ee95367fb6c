"""The engine: time-driven work, run as idempotent ticks over the store.

A tick ends the snoozes that have run out, runs every escalation step that is due (each in
one transaction that plans its pages and schedules the next step), then sends the pages that
are due. A page is marked as being sent (with a lease) and committed before the provider is
called, and its result recorded after (answers that arrive together share a commit): a crash
in between leaves it to be sent again when the
lease runs out, under the same ledger key, which providers that take an idempotency key use
to drop the repeat. Tests drive `tick()` with a fake clock; `run()` is the loop `tocsin serve`
uses, which sleeps until the next thing is due or the store changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from service.alerts.store import ChangeFeed
from service.alerts.usecases import Alerts
from service.core.clock import Clock
from service.core.errors import Unavailable
from service.core.metrics import AlertMetrics
from service.paging.notifier import Notification, Notifier, Outcome, SendResult
from service.paging.planning import LEASE, ClaimedPage, PageState
from service.paging.store import PagingStore
from service.paging.tick_failures import TickFailures
from service.people.model import Channel

log = logging.getLogger(__name__)

BATCH = 256
STEP_CHUNK = 32  # escalation steps per job
SEND_CONCURRENCY = 64
SEND_TIMEOUT_SECONDS = 30.0  # the longest a provider call may take, whatever the lease


@dataclass(frozen=True)
class Tick:
    snoozes_ended: int = 0
    escalation_steps: int = 0
    pages_planned: int = 0
    pages_sent: int = 0

    @property
    def total(self) -> int:
        return self.snoozes_ended + self.escalation_steps + self.pages_sent


def reply_hint(tiny_id: int) -> str:
    return f"Reply '{tiny_id} ack' to acknowledge"


@dataclass
class _Answer:
    claimed: ClaimedPage
    result: SendResult
    recorded: asyncio.Future[PageState]


class EnginePorts(PagingStore, ChangeFeed, Protocol):
    """What the engine works on: due escalations and the page ledger, woken by the feed."""


class _Recorder:
    """Records providers' answers in groups: the first at once, and those that come while a
    group is being written together in the next, so a storm of pages costs a few commits,
    not one each, and a quiet moment adds no wait."""

    def __init__(self, store: PagingStore, clock: Clock, rng: random.Random) -> None:
        self._store = store
        self._clock = clock
        self._rng = rng
        self._waiting: list[_Answer] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, claimed: ClaimedPage, result: SendResult) -> PageState:
        answer = _Answer(claimed, result, asyncio.get_running_loop().create_future())
        self._waiting.append(answer)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write())
        return await answer.recorded

    async def _write(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
            try:
                states = await self._store.record_pages(
                    [(a.claimed, a.result) for a in group], self._clock.now(), self._rng
                )
            except Exception as exc:  # each sender hears it; their pages go again later
                for answer in group:
                    if not answer.recorded.done():
                        answer.recorded.set_exception(exc)
                continue
            for answer, state in zip(group, states, strict=True):
                if not answer.recorded.done():
                    answer.recorded.set_result(state)


class Engine:
    def __init__(
        self,
        alerts: Alerts,
        store: EnginePorts,
        notifiers: Mapping[Channel, Notifier],
        clock: Clock,
        metrics: AlertMetrics,
        *,
        ack_url: Callable[[ClaimedPage], str] = lambda page: "",
        rng: random.Random | None = None,
        lease: timedelta = LEASE,
        shared: bool = False,
    ) -> None:
        """`ack_url` makes a page's signed one-click acknowledge link; `lease` is how long a
        page being sent is left to this engine before it is sent again. `shared`: other
        engines (on other replicas) work the same ledger."""
        self._alerts = alerts
        self._store = store
        self._notifiers = notifiers
        self._clock = clock
        self._metrics = metrics
        self._ack_url = ack_url
        self._rng = rng or random.Random()
        self._recorder = _Recorder(store, clock, self._rng)
        self._lease = lease
        # A provider call ends (as a retryable failure) well inside the page's lease, with
        # time left to record its answer: otherwise a slow provider could still be taking a
        # page when the lease ran out and another engine sent it again. Providers' own
        # timeouts must be capped at it too (see `adapters.registry.notifiers`).
        self.send_timeout = min(SEND_TIMEOUT_SECONDS, lease.total_seconds() / 2)
        # Pages claimed at once. Alone, an engine may claim more than it sends at once: what
        # waits its turn is still this engine's when the lease runs out. Shared, a page must
        # go to its provider as soon as it is claimed, or another engine would take it over
        # when its lease ran out and send it again.
        self._claim = SEND_CONCURRENCY if shared else BATCH
        self._stopping = asyncio.Event()  # set by run()'s stop: a long tick ends early
        self._failures = TickFailures(log, clock.now)
        self._sending = asyncio.Semaphore(SEND_CONCURRENCY)

    async def tick(self) -> Tick:
        """Does whatever is due now: escalation steps and pages in turns of a batch each, so
        a backlog of steps does not hold back pages that are already due."""
        woken = await self._alerts.end_due_snoozes()
        if woken:
            self._metrics.snoozes_ended.inc(woken)
            log.info("ended %d snooze(s)", woken)
        steps = planned = sent = 0
        while not self._stopping.is_set():
            now = self._clock.now()
            # Steps of different alerts are independent: run a few jobs of many each, which
            # share the look-ups of the schedules and people they page, and which a database
            # with many connections runs side by side (SQLite's writer commits them together).
            # Each job takes its own escalations, so jobs and replicas never take the same.
            done = await asyncio.gather(
                *(
                    self._store.run_due_escalations(now, STEP_CHUNK)
                    for _ in range(BATCH // STEP_CHUNK)
                )
            )
            ran = sum(run for run, _ in done)
            planned += sum(pages for _, pages in done)
            steps += ran
            claims = await self._store.claim_pages(self._clock.now(), self._claim, self._lease)
            results = await asyncio.gather(*(self._deliver(page) for page in claims.pages))
            sent += sum(state is PageState.DELIVERED for state in results)
            if ran < BATCH and claims.examined < self._claim:
                break
        return Tick(woken, steps, planned, sent)

    async def _deliver(self, claimed: ClaimedPage) -> PageState:
        alert = claimed.alert
        page = Notification(
            key=claimed.key,
            channel=claimed.channel,
            address=claimed.address,
            username=claimed.username,
            alert_id=alert.id,
            tiny_id=alert.tiny_id,
            message=alert.message,
            priority=alert.priority.name,
            team=alert.owner_team,
            description=alert.description,
            status=alert.status.value,
            source=alert.source,
            entity=alert.entity,
            tags=alert.tags,
            details=alert.details,
            created_at=alert.created_at,
            ack_url=self._ack_url(claimed),
            reply_hint=reply_hint(alert.tiny_id),
            repeat=claimed.round,
        )
        notifier = self._notifiers.get(claimed.channel)
        if notifier is None:
            result = SendResult(Outcome.PERMANENT, detail=f"no {claimed.channel.value} provider")
        else:
            async with self._sending:
                result = await self._call(notifier, page)
        return await self._recorder.record(claimed, result)

    async def _call(self, notifier: Notifier, page: Notification) -> SendResult:
        try:
            async with asyncio.timeout(self.send_timeout):  # no task of its own per page
                return await notifier.send(page)
        except TimeoutError:
            return SendResult(Outcome.RETRYABLE, detail="the provider did not answer in time")
        except Exception as exc:  # a notifier's bug must not stop the others' pages
            log.exception("the %s notifier failed", page.channel.value)
            return SendResult(Outcome.RETRYABLE, detail=f"notifier error: {type(exc).__name__}")

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Ticks until `stop` is set: at the latest every `interval` seconds, sooner when
        something falls due or the store changes in a way that makes something due now (a
        new alert to page); a failed tick is retried."""
        self._stopping = stop
        while not stop.is_set():
            try:
                done = await self.tick()
                # Read after the tick, so its own writes do not wake it again at once; what
                # others wrote during it is due by now, and next_due sees it.
                generation = self._store.change_generation()
                wait = await self._until_due(interval)
                if wait == 0 and done.total == 0:
                    # Something is due that this tick could not do (a provider held back, say):
                    # wait rather than spin on it.
                    wait = interval
                self._failures.succeeded()
            except Exception as exc:  # once a second while it lasts: see TickFailures
                self._failures.failed(exc, interval)
                generation = self._store.change_generation()
                wait = interval
            await self._idle(generation, wait, interval, stop)

    async def _until_due(self, interval: float) -> float:
        """Seconds until the next step, page or snooze end is due, at most `interval`."""
        due = await self._store.next_due()
        if due is None:
            return interval
        return min(interval, max(0.0, (due - self._clock.now()).total_seconds()))

    async def _idle(
        self, generation: int, wait: float, interval: float, stop: asyncio.Event
    ) -> None:
        """Waits `wait` seconds, or less when a change makes something due now. Most changes
        (alerts created for teams nobody pages, notes, acknowledgements) make nothing due:
        they cost one look at the next due time instead of a whole tick."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while (left := deadline - loop.time()) > 0 and not stop.is_set():
            waiting = asyncio.ensure_future(self._store.wait_for_change(generation, left))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiting, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            changed = self._store.change_generation()
            if changed == generation:
                continue  # the wait ran out (or stop was set): the loop condition decides
            generation = changed
            try:
                deadline = min(deadline, loop.time() + await self._until_due(interval))
            except Unavailable:
                return  # the tick that runs now fails, and says so
            except Exception:
                log.exception("engine could not read when work is next due; ticking now")
                return

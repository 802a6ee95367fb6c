"""The alert use cases: validate, take `now` from the clock, run a lifecycle step in the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from service.alerts import lifecycle
from service.alerts import validation as alert_validation
from service.alerts.model import (
    ActivityEntry,
    Actor,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertRef,
    CreateResult,
    NewAlert,
    Priority,
    RefKind,
    Transition,
)
from service.alerts.store import AlertStore, ChangeFeed
from service.core import validation
from service.core.clock import Clock
from service.core.errors import Unavailable
from service.core.ids import new_uuid
from service.core.pages import Page
from service.teams.store import TeamStore

ACTIVITY_PAGE_DEFAULT = 100
ACTIVITY_PAGE_MAX = 1_000
ALERTS_PAGE_DEFAULT = 50
ALERTS_PAGE_MAX = 500
WATCH_BATCH = 500
# Watchers re-read the feed at least this often, so changes committed by another process
# sharing the database reach them too.
WATCH_POLL_SECONDS = 1.0
SYSTEM_ACTOR = Actor("system")


class AlertsPorts(AlertStore, ChangeFeed, TeamStore, Protocol):
    """What `Alerts` reads and writes: alerts, their feed, and the teams that filter them."""


class Alerts:
    def __init__(
        self, store: AlertsPorts, clock: Clock, new_id: Callable[[], str] = new_uuid
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id
        self._watches_ending = asyncio.Event()

    async def create(self, alert: NewAlert, actor: Actor) -> CreateResult:
        checked = alert_validation.new_alert(alert)
        actor = _checked(actor)
        return await self._store.create_alert(checked, actor, self._clock.now(), self._new_id())

    async def get(self, ref: AlertRef) -> Alert:
        return await self._store.get_alert(ref)

    async def list(self, query: AlertQuery) -> Page[Alert]:
        return await self._store.list_alerts(query)

    async def activity(self, ref: AlertRef, page_size: int, page_token: str) -> Page[ActivityEntry]:
        size = validation.page_size(
            page_size, default=ACTIVITY_PAGE_DEFAULT, maximum=ACTIVITY_PAGE_MAX
        )
        return await self._store.list_activity(ref, size, page_token)

    async def acknowledge(self, ref: AlertRef, actor: Actor) -> Transition:
        return await self._act(ref, actor, lambda a, now: lifecycle.acknowledge(a, actor.user, now))

    async def unacknowledge(self, ref: AlertRef, actor: Actor) -> Transition:
        return await self._act(ref, actor, lambda a, now: lifecycle.unacknowledge(a, now))

    async def close(self, ref: AlertRef, actor: Actor) -> Transition:
        return await self._act(ref, actor, lambda a, now: lifecycle.close(a, actor.user, now))

    async def snooze(self, ref: AlertRef, end: datetime | timedelta, actor: Actor) -> Transition:
        """Until an instant, or for a while from now by this service's clock."""

        def step(alert: Alert, now: datetime) -> Transition:
            if isinstance(end, datetime):
                return lifecycle.snooze(alert, end, now)
            return lifecycle.snooze(alert, now + end, now, "duration")

        return await self._act(ref, actor, step)

    async def add_note(self, ref: AlertRef, actor: Actor) -> Transition:
        validation.note(actor.note, required=True)
        return await self._act(ref, actor, lambda a, now: lifecycle.add_note(a, actor.note, now))

    async def add_tags(self, ref: AlertRef, tags: Iterable[str], actor: Actor) -> Transition:
        tags = tuple(tags)
        return await self._act(ref, actor, lambda a, now: lifecycle.add_tags(a, tags, now))

    async def remove_tags(self, ref: AlertRef, tags: Iterable[str], actor: Actor) -> Transition:
        tags = tuple(tags)
        return await self._act(ref, actor, lambda a, now: lifecycle.remove_tags(a, tags, now))

    async def add_details(
        self, ref: AlertRef, details: Mapping[str, str], actor: Actor
    ) -> Transition:
        details = dict(details)
        return await self._act(ref, actor, lambda a, now: lifecycle.add_details(a, details, now))

    async def remove_details(self, ref: AlertRef, keys: Iterable[str], actor: Actor) -> Transition:
        keys = tuple(keys)
        return await self._act(ref, actor, lambda a, now: lifecycle.remove_details(a, keys, now))

    async def update_priority(self, ref: AlertRef, priority: Priority, actor: Actor) -> Transition:
        return await self._act(
            ref, actor, lambda a, now: lifecycle.update_priority(a, priority, now)
        )

    async def end_due_snoozes(self, batch: int = 100) -> int:
        """Wakes every alert whose snooze has run out by now; returns how many woke."""
        now = self._clock.now()
        woken = 0
        while True:
            due = await self._store.snoozes_due(now, batch)
            for alert_id in due:
                transition = await self._store.update_alert(
                    AlertRef(RefKind.ID, alert_id),
                    lambda a: lifecycle.end_snooze(a, now),
                    SYSTEM_ACTOR,
                    now,
                )
                woken += transition.changed
            if len(due) < batch:
                return woken

    def end_watches(self) -> None:
        """Ends every watch stream within a poll interval, as the server shuts down."""
        self._watches_ending.set()

    async def watch(self, resume_after: int | None, team: str) -> AsyncIterator[AlertEvent]:
        """Every change from `resume_after` (or from now), for as long as the caller reads,
        until the server shuts down: then Unavailable, so the caller resumes elsewhere."""
        team_id = (await self._store.get_team(team)).id if team else ""
        seq = await self._store.last_seq() if resume_after is None else resume_after
        while True:
            if self._watches_ending.is_set():
                raise Unavailable(
                    f"the server is shutting down; resume the watch after cursor {seq}"
                )
            generation = self._store.change_generation()
            events = await self._store.events_after(seq, WATCH_BATCH, team_id)
            for event in events:
                seq = event.entry.seq
                yield event
            if len(events) < WATCH_BATCH:
                await self._store.wait_for_change(generation, WATCH_POLL_SECONDS)

    async def _act(
        self, ref: AlertRef, actor: Actor, step: Callable[[Alert, datetime], Transition]
    ) -> Transition:
        actor = _checked(actor)
        now = self._clock.now()
        return await self._store.update_alert(
            ref, lambda alert: lifecycle.with_note(step(alert, now), actor.note, now), actor, now
        )


def _checked(actor: Actor) -> Actor:
    validation.user(actor.user)
    validation.note(actor.note)
    return actor

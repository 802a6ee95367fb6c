"""The alerts' port: alerts, their activity, and the change feed behind WatchAlerts.

An awaited write has been committed when it returns. Lifecycle steps are passed in as pure
functions and run inside the store's transaction, so a read-modify-write is atomic whatever
the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.alerts.model import (
    ActivityEntry,
    Actor,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertRef,
    CreateResult,
    NewAlert,
    Transition,
)
from service.core.pages import Page

# What an update does to the alert it reads in its own transaction: a pure lifecycle function
# (`service.alerts.lifecycle`), so the store decides nothing about alerts itself.
AlertEdit = Callable[[Alert], Transition]


class AlertStore(Protocol):
    async def create_alert(
        self, alert: NewAlert, actor: Actor, now: datetime, new_id: str
    ) -> CreateResult:
        """Creates the alert, or deduplicates into the open one with its alias and team."""

    async def update_alert(
        self, ref: AlertRef, step: AlertEdit, actor: Actor, now: datetime
    ) -> Transition:
        """Runs `step` on the alert's current state and commits its changes atomically;
        the activity entries are stamped `now`."""

    async def get_alert(self, ref: AlertRef) -> Alert: ...

    async def list_alerts(self, query: AlertQuery) -> Page[Alert]: ...

    async def list_activity(
        self, ref: AlertRef, page_size: int, page_token: str
    ) -> Page[ActivityEntry]: ...

    async def snoozes_due(self, now: datetime, limit: int) -> Sequence[str]:
        """Ids of open alerts whose snooze has run out by `now`."""


class ChangeFeed(Protocol):
    """The change feed behind WatchAlerts, and the signal that it has moved."""

    async def last_seq(self) -> int: ...

    async def events_after(self, seq: int, limit: int, team_id: str) -> Sequence[AlertEvent]:
        """Changes with a sequence number above `seq`, oldest first (one team's, if given)."""

    def change_generation(self) -> int:
        """A number that moves on with every commit; read it before reading the feed."""

    async def wait_for_change(self, since: int, poll_seconds: float) -> None:
        """Returns once the generation has moved past `since`, or after `poll_seconds`."""

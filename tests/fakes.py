"""Hand-written fakes: a clock the test moves, and a notifier that records its pages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from service.alerts.model import Alert, Priority, Status
from service.paging.notifier import Notification, Outcome, SendResult


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, instant: datetime) -> None:
        self._now = instant


class FakeNotifier:
    """Records every page it is given; answers with the results queued for an address (then
    DELIVERED), so a test can make a provider fail in a chosen way."""

    def __init__(self) -> None:
        self.pages: list[Notification] = []
        self._queued: dict[str, list[SendResult]] = {}

    def fail_next(self, address: str, *results: SendResult) -> None:
        self._queued.setdefault(address, []).extend(results)

    async def send(self, page: Notification) -> SendResult:
        self.pages.append(page)
        queued = self._queued.get(page.address)
        if queued:
            return queued.pop(0)
        return SendResult(Outcome.DELIVERED, provider_id=f"fake-{len(self.pages)}")

    def sent_to(self) -> list[tuple[str, str]]:
        """(username, channel) of every page, in order."""
        return [(p.username, p.channel.value) for p in self.pages]


def stored_alert(at: datetime, **fields: object) -> Alert:
    """An open P3 alert of team ops created at `at`, as the store would give it back, with
    `fields` changed: for the pure tests that need an alert without a store."""
    base = Alert(
        id="a1", tiny_id=1, alias="a1", message="m", description="", tags=(), details={},
        entity="", source="", priority=Priority.P3, responders=(), actions=(),
        status=Status.OPEN, acknowledged=False, snoozed_until=None, count=1, created_at=at,
        updated_at=at, last_occurred_at=at, owner_team_id="t", owner_team="ops",
        integration="", acknowledged_by="", closed_by="",
    )  # fmt: skip
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]

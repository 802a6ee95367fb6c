"""The paging port: running due escalations, and the ledger of pages they plan."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from service.paging.notifier import SendResult
from service.paging.planning import ClaimedPage, Claims, PageRecord, PageState


class PagingStore(Protocol):
    async def run_due_escalations(self, now: datetime, limit: int) -> tuple[int, int]:
        """Takes up to `limit` escalations due by `now` that no other engine is running and
        runs their due steps; returns (escalations run, pages planned). One that fails is
        undone and retried later; it does not stop the others."""

    async def claim_pages(self, now: datetime, limit: int, lease: timedelta) -> Claims:
        """Due pages, marked as being sent with a lease; throttled ones are moved on."""

    async def record_pages(
        self,
        answers: Sequence[tuple[ClaimedPage, SendResult]],
        now: datetime,
        rng: random.Random,
    ) -> list[PageState]:
        """Records the providers' answers in one job (their pages' states, in order), except
        for a page claimed again meanwhile."""

    async def next_due(self) -> datetime | None:
        """When the next escalation step, page or snooze end is due, if any."""

    async def list_pages(self, alert_id: str) -> Sequence[PageRecord]: ...

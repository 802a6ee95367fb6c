"""The on-call port: schedules and their overrides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.oncall.model import Override, Schedule


class ScheduleStore(Protocol):
    async def create_schedule(self, schedule: Schedule) -> Schedule: ...

    async def get_schedule(self, schedule: str) -> Schedule:
        """By id or by name (case-insensitive)."""

    async def list_schedules(self, team: str) -> Sequence[Schedule]:
        """All schedules, or one team's; by name."""

    async def update_schedule(
        self, schedule: str, step: Callable[[Schedule], Schedule]
    ) -> Schedule:
        """Runs `step` on the schedule as stored and saves what it returns, atomically."""

    async def delete_schedule(self, schedule: str) -> None:
        """Deletes the schedule and its overrides."""

    async def add_override(self, override: Override) -> Override: ...

    async def end_override(
        self, schedule: str, override: str, step: Callable[[Override], Override | None]
    ) -> Override | None:
        """Runs `step` on the override: None deletes it, a value replaces its end."""

    async def list_overrides(
        self, schedule_ids: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Override]:
        """Overrides of these schedules that overlap [start, end), oldest first."""

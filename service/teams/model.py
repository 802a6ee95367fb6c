"""Teams as values: the teams that own alerts, integrations, schedules and policies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    description: str
    created_at: datetime


DEFAULT_TEAM = "default"

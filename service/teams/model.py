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


# The team every database starts with; its id and its name are both this word, so a
# reference to it by id or by name is the same text.
DEFAULT_TEAM = "default"

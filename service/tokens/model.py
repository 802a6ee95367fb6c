"""API tokens as values: what is known of a token, never its secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

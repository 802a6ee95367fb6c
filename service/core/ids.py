"""Identifiers the service makes: every capability names its new objects the same way."""

from __future__ import annotations

import uuid


def new_uuid() -> str:
    return str(uuid.uuid4())

"""The JSON text the store keeps for a schedule's rotations and for restriction windows
(rotations' and routing rules'): one encoding for every backend, read back exactly.

What is read back is immutable, so the readers the engine calls on every step are cached by
their text: a schedule is decoded once per version, not once per page."""

from __future__ import annotations

import functools
import json
from datetime import time
from typing import Any

from service.core.clock import from_micros, to_micros
from service.oncall.model import Participants, Restriction, Rotation, Unit


def restriction_items(r: Restriction) -> list[Any]:
    return [r.start.isoformat("minutes"), r.end.isoformat("minutes"), r.start_day, r.end_day]


def rotations_json(rotations: tuple[Rotation, ...]) -> str:
    return json.dumps(
        [
            {
                "name": r.name,
                "unit": r.unit.value,
                "length": r.length,
                "start": to_micros(r.start),
                "end": None if r.end is None else to_micros(r.end),
                "participants": [[p.from_shift, list(p.users)] for p in r.participants],
                "restrictions": [restriction_items(x) for x in r.restrictions],
            }
            for r in rotations
        ]
    )


@functools.lru_cache(maxsize=4096)
def rotations(text: str) -> tuple[Rotation, ...]:
    return tuple(
        Rotation(
            name=r["name"],
            unit=Unit(r["unit"]),
            length=r["length"],
            start=from_micros(r["start"]),
            end=None if r["end"] is None else from_micros(r["end"]),
            participants=tuple(Participants(k, tuple(users)) for k, users in r["participants"]),
            restrictions=tuple(restriction(items) for items in r["restrictions"]),
        )
        for r in json.loads(text)
    )


def restriction(items: list[Any]) -> Restriction:
    start, end, start_day, end_day = items
    return Restriction(time.fromisoformat(start), time.fromisoformat(end), start_day, end_day)

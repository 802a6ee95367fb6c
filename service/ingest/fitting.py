"""Fitting what a delivery says into an alert's limits: a delivery is never refused for its
length, whether the defaults or an integration rule wrote the field."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping

from service.alerts.model import NewAlert
from service.core import validation

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def fitted(alert: NewAlert) -> NewAlert:
    """`alert` with every text field shortened to its limit: what a delivery says is never
    refused for its length, whether the defaults or an integration rule put it there. Details
    are fitted where they are made (`fit_details`)."""
    tags = [shorten(_clean(tag).strip(), validation.TAG_MAX) for tag in alert.tags]
    message = _clean(alert.message).strip() or "(no message)"
    return dataclasses.replace(
        alert,
        message=shorten(message, validation.MESSAGE_MAX),
        alias=shorten(_clean(alert.alias), validation.ALIAS_MAX),
        description=shorten(_clean(alert.description), validation.DESCRIPTION_MAX),
        tags=tuple(dict.fromkeys(tag for tag in tags if tag))[: validation.TAGS_MAX],
        entity=shorten(_clean(alert.entity), validation.ENTITY_MAX),
        source=shorten(_clean(alert.source), validation.SOURCE_MAX),
    )


def _clean(text: str) -> str:
    """NUL is the one character no store keeps in text (PostgreSQL refuses it)."""
    return text.replace("\x00", "")


def fit_details(values: Mapping[str, object]) -> dict[str, str]:
    """String details within the 8,000-character budget: empty values dropped, long ones
    shortened, and what no longer fits left out (the description keeps the whole text)."""
    fitted: dict[str, str] = {}
    budget = validation.DETAILS_TOTAL_MAX
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        key, text = key.replace("\x00", ""), text.replace("\x00", "")
        if not key.strip() or not text or value is None:
            continue
        room = budget - len(key)
        if room < 16:
            break
        text = shorten(text, min(room, 1_000))
        fitted[key] = text
        budget -= len(key) + len(text)
    return fitted


FLATTEN_DEPTH = 8


def flatten(value: object, prefix: str, depth: int = FLATTEN_DEPTH) -> Iterator[tuple[str, object]]:
    """Leaves of a JSON value by dotted path: {"a": {"b": [1]}} -> ("a.b.0", 1). Deeper than
    `depth`, what is left stays one JSON value."""
    if depth and isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key), depth - 1)
    elif depth and isinstance(value, list):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}.{index}" if prefix else str(index), depth - 1)
    elif prefix:
        yield prefix, value if isinstance(value, str) else json.dumps(value)

"""Checks of an alert's create request: each field within its limit, lists normalised.

The limits and the field checks they use are shared with the other capabilities in
`service.core.validation`; what needs the alert's own model lives here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from service.alerts.model import NewAlert, Responder
from service.core.errors import InvalidArgument
from service.core.validation import (
    ACTION_MAX,
    ACTIONS_MAX,
    ALIAS_MAX,
    DESCRIPTION_MAX,
    ENTITY_MAX,
    MESSAGE_MAX,
    RESPONDER_NAME_MAX,
    RESPONDER_TYPES,
    RESPONDERS_MAX,
    SOURCE_MAX,
    TEAM_NAME_MAX,
    details,
    tags,
    text,
    word_list,
)


def responders(values: Iterable[Responder]) -> tuple[Responder, ...]:
    kept: list[Responder] = []
    for index, responder in enumerate(values):
        item = f"responders[{index}]"
        if responder.type not in RESPONDER_TYPES:
            raise InvalidArgument(
                f"{item}.type",
                f"must be one of {', '.join(RESPONDER_TYPES)} (got {responder.type!r})",
            )
        text(f"{item}.name", responder.name, RESPONDER_NAME_MAX, required=True)
        if responder not in kept:
            kept.append(responder)
    if len(kept) > RESPONDERS_MAX:
        raise InvalidArgument("responders", f"must have at most {RESPONDERS_MAX} items")
    return tuple(kept)


def new_alert(alert: NewAlert) -> NewAlert:
    """Checks every field of a create request; returns it with lists normalised."""
    text("message", alert.message, MESSAGE_MAX, required=True)
    text("alias", alert.alias, ALIAS_MAX)
    text("description", alert.description, DESCRIPTION_MAX)
    text("entity", alert.entity, ENTITY_MAX)
    text("source", alert.source, SOURCE_MAX)
    text("owner_team", alert.owner_team, TEAM_NAME_MAX)
    return dataclasses.replace(
        alert,
        tags=tags(alert.tags),
        details=details(alert.details),
        responders=responders(alert.responders),
        actions=word_list("actions", alert.actions, max_items=ACTIONS_MAX, max_len=ACTION_MAX),
    )

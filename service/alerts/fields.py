"""An alert's fields, declared once: the `Alert` and `NewAlert` dataclasses are the
declaration, and this reads each field's kind from its annotation, so the codec, the row
mapping and the lifecycle convert every field by its kind instead of each spelling out all
of them. A field of a type no kind covers is refused when this module loads, so a new field
cannot be forgotten by one of them."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from service.alerts.model import Alert, NewAlert


class Kind(enum.Enum):
    TEXT = "str"
    NUMBER = "int"
    FLAG = "bool"
    WORDS = "tuple[str, ...]"
    DETAILS = "Mapping[str, str]"
    PRIORITY = "Priority"
    RESPONDERS = "tuple[Responder, ...]"
    STATUS = "Status"
    INSTANT = "datetime"
    MAYBE_INSTANT = "datetime | None"


def kinds(declared: type) -> dict[str, Kind]:
    """Each field of a dataclass and its kind, in declaration order."""
    found = {}
    for item in dataclasses.fields(declared):
        annotation = item.type if isinstance(item.type, str) else item.type.__name__
        try:
            found[item.name] = Kind(annotation)
        except ValueError:
            raise TypeError(f"{declared.__name__}.{item.name}: no kind for {annotation}") from None
    return found


ALERT: Mapping[str, Kind] = kinds(Alert)
NEW_ALERT: Mapping[str, Kind] = kinds(NewAlert)
# What a create request carries over into the alert it makes, as it is.
CARRIED: tuple[str, ...] = tuple(name for name in NEW_ALERT if name in ALERT)

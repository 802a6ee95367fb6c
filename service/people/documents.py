"""The JSON text the store keeps for a user's contact methods and notification rules: one
encoding for every backend, read back exactly.

What is read back is immutable, so the readers the engine calls on every step are cached by
their text: decoded once per version, not once per page."""

from __future__ import annotations

import functools
import json
from typing import Any

from service.people.model import (
    Channel,
    ContactMethod,
    NotificationRule,
    NotificationRules,
    NotificationStep,
)


def contact_methods_json(methods: tuple[ContactMethod, ...]) -> str:
    return json.dumps(
        [
            {"id": m.id, "name": m.name, "channel": m.channel.value, "address": m.address}
            for m in methods
        ]
    )


@functools.lru_cache(maxsize=4096)
def contact_methods(text: str) -> tuple[ContactMethod, ...]:
    return tuple(
        ContactMethod(m["id"], m["name"], Channel(m["channel"]), m["address"])
        for m in json.loads(text)
    )


def _rule(rule: NotificationRule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {
        "steps": [[s.contact_method, s.delay_minutes] for s in rule.steps],
        "repeat_minutes": rule.repeat_minutes,
        "repeat_times": rule.repeat_times,
    }


def _rule_from(data: dict[str, Any] | None) -> NotificationRule | None:
    if data is None:
        return None
    return NotificationRule(
        tuple(NotificationStep(name, delay) for name, delay in data["steps"]),
        data["repeat_minutes"],
        data["repeat_times"],
    )


def notification_rules_json(rules: NotificationRules) -> str:
    return json.dumps(
        {"new_alert": _rule(rules.new_alert), "high_priority": _rule(rules.high_priority)}
    )


@functools.lru_cache(maxsize=4096)
def notification_rules(text: str) -> NotificationRules:
    data = json.loads(text)
    return NotificationRules(_rule_from(data["new_alert"]), _rule_from(data["high_priority"]))

"""The JSON text a store keeps for nested values (a user's contact methods and rules, a
schedule's rotations, policies and routing): one encoding for every backend, read back exactly.

What is read back is immutable, so the readers the engine calls on every step are cached by
their text: a policy or a schedule is decoded once per version, not once per page."""

from __future__ import annotations

import functools
import json
from datetime import time, timedelta
from typing import Any

from service.core.clock import from_micros, to_micros
from service.escalation.model import (
    Condition,
    EscalationRule,
    Policy,
    Repeat,
    Routing,
    RoutingRule,
    Target,
    TargetKind,
)
from service.oncall.model import Participants, Restriction, Rotation, Unit
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


def _restriction(r: Restriction) -> list[Any]:
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
                "restrictions": [_restriction(x) for x in r.restrictions],
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
            restrictions=tuple(
                Restriction(time.fromisoformat(s), time.fromisoformat(e), sd, ed)
                for s, e, sd, ed in r["restrictions"]
            ),
        )
        for r in json.loads(text)
    )


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def policy_json(policy: Policy) -> str:
    repeat = policy.repeat
    return json.dumps(
        {
            "id": policy.id,
            "name": policy.name,
            "team_id": policy.team_id,
            "description": policy.description,
            "rules": [
                {
                    "delay": _seconds(r.delay),
                    "condition": r.condition.value,
                    "targets": [[t.kind.value, t.ref, t.name] for t in r.targets],
                }
                for r in policy.rules
            ],
            "repeat": None
            if repeat is None
            else [
                _seconds(repeat.after),
                repeat.times,
                repeat.reset_acknowledgement,
                repeat.close_after_last,
            ],
        }
    )


@functools.lru_cache(maxsize=4096)
def policy(text: str) -> Policy:
    data = json.loads(text)
    repeat = data["repeat"]
    return Policy(
        id=data["id"],
        name=data["name"],
        team_id=data["team_id"],
        description=data["description"],
        rules=tuple(
            EscalationRule(
                timedelta(seconds=r["delay"]),
                tuple(Target(TargetKind(k), ref, name) for k, ref, name in r["targets"]),
                Condition(r["condition"]),
            )
            for r in data["rules"]
        ),
        repeat=None
        if repeat is None
        else Repeat(timedelta(seconds=repeat[0]), repeat[1], repeat[2], repeat[3]),
    )


def routing_json(routing: Routing) -> str:
    return json.dumps(
        {
            "time_zone": routing.time_zone,
            "default_policy_id": routing.default_policy_id,
            "default_schedule_id": routing.default_schedule_id,
            "rules": [
                {
                    "name": r.name,
                    "policy_id": r.policy_id,
                    "when": dict(r.when),
                    "windows": [_restriction(w) for w in r.windows],
                }
                for r in routing.rules
            ],
        }
    )


def routing(team_id: str, text: str) -> Routing:
    data = json.loads(text)
    return Routing(
        team_id=team_id,
        time_zone=data["time_zone"],
        default_policy_id=data["default_policy_id"],
        default_schedule_id=data["default_schedule_id"],
        rules=tuple(
            RoutingRule(
                r["name"],
                r["policy_id"],
                r["when"],
                tuple(
                    Restriction(time.fromisoformat(s), time.fromisoformat(e), sd, ed)
                    for s, e, sd, ed in r["windows"]
                ),
            )
            for r in data["rules"]
        ),
    )

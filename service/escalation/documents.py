"""The JSON text the store keeps for escalation policies and team routing: one encoding for
every backend, read back exactly.

What is read back is immutable, so the policy reader the engine calls on every step is cached
by its text: a policy is decoded once per version, not once per page."""

from __future__ import annotations

import functools
import json
from datetime import timedelta

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
from service.oncall.documents import restriction, restriction_items


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
                    "windows": [restriction_items(w) for w in r.windows],
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
                tuple(restriction(items) for items in r["windows"]),
            )
            for r in data["rules"]
        ),
    )

"""Escalation policies, team routing and page records between protobuf and the domain's
values, both ways: the servicer and the Python client share it."""

from __future__ import annotations

import json
from collections.abc import Mapping

from protos.tocsin.v1 import escalations_pb2
from service.api.time_codec import duration, instant, optional_instant, span, timestamp
from service.core import loader, validation
from service.core.errors import InvalidArgument
from service.escalation.model import Policy, Repeat, Routing
from service.escalation.usecases import (
    DELAY_MAX,
    EscalationRuleSpec,
    PolicySpec,
    RoutingRuleSpec,
    RoutingSpec,
)
from service.paging.planning import PageRecord, PageState
from service.people.model import Channel

WHEN_JSON_MAX = 20_000  # characters of one routing rule's condition


def policy_to_pb(policy: Policy, team: str) -> escalations_pb2.Policy:
    """A stored policy as its spec shows it (targets by their names), with its id."""
    spec = PolicySpec(
        name=policy.name,
        team=team,
        description=policy.description,
        rules=tuple(
            EscalationRuleSpec(
                rule.delay,
                tuple((t.kind.value, t.name or t.ref) for t in rule.targets),
                rule.condition.value,
            )
            for rule in policy.rules
        ),
        repeat=policy.repeat,
    )
    message = spec_to_pb(spec)
    message.id = policy.id
    return message


def spec_to_pb(spec: PolicySpec) -> escalations_pb2.Policy:
    message = escalations_pb2.Policy(
        name=spec.name,
        team=spec.team,
        description=spec.description,
        rules=[
            escalations_pb2.EscalationRule(
                delay=duration(rule.delay),
                targets=[escalations_pb2.Target(kind=k, name=n) for k, n in rule.targets],
                condition=rule.condition,
            )
            for rule in spec.rules
        ],
    )
    if spec.repeat is not None:
        message.repeat.CopyFrom(
            escalations_pb2.Repeat(
                after=duration(spec.repeat.after),
                times=spec.repeat.times,
                reset_acknowledgement=spec.repeat.reset_acknowledgement,
                close_after_last=spec.repeat.close_after_last,
            )
        )
    return message


def spec_from_pb(message: escalations_pb2.Policy) -> PolicySpec:
    repeat = None
    if message.HasField("repeat"):
        repeat = Repeat(
            span(message.repeat.after, "repeat.after", DELAY_MAX),
            message.repeat.times,
            message.repeat.reset_acknowledgement,
            message.repeat.close_after_last,
        )
    return PolicySpec(
        name=message.name,
        team=message.team,
        description=message.description,
        rules=tuple(
            EscalationRuleSpec(
                span(rule.delay, f"rules[{index}].delay", DELAY_MAX),
                tuple((t.kind, t.name) for t in rule.targets),
                rule.condition or "not-acknowledged",
            )
            for index, rule in enumerate(message.rules)
        ),
        repeat=repeat,
    )


def routing_to_pb(routing: Routing, names: Mapping[str, str]) -> escalations_pb2.TeamRouting:
    """The routing as its spec shows it; `names` gives the names of the policies, schedule
    and team it names by id."""
    spec = RoutingSpec(
        team=names.get(routing.team_id, routing.team_id),
        time_zone=routing.time_zone,
        rules=tuple(
            RoutingRuleSpec(
                r.name,
                names.get(r.policy_id, r.policy_id),
                r.when,
                tuple(w.describe() for w in r.windows),
            )
            for r in routing.rules
        ),
        default_policy=names.get(routing.default_policy_id, routing.default_policy_id),
        default_schedule=names.get(routing.default_schedule_id, routing.default_schedule_id),
    )
    return routing_spec_to_pb(spec)


def routing_spec_from_pb(message: escalations_pb2.TeamRouting) -> RoutingSpec:
    rules = []
    for index, rule in enumerate(message.rules):
        when: dict[str, object] = {}
        if rule.when_json:
            where = f"rules[{index}].when_json"
            validation.text(where, rule.when_json, WHEN_JSON_MAX)
            parsed = loader.json_document(where, rule.when_json)
            if not isinstance(parsed, dict):
                raise InvalidArgument(where, "must be a JSON object")
            when = parsed
        rules.append(RoutingRuleSpec(rule.name, rule.policy, when, tuple(rule.windows)))
    return RoutingSpec(
        team=message.team,
        time_zone=message.time_zone or "UTC",
        rules=tuple(rules),
        default_policy=message.default_policy,
        default_schedule=message.default_schedule,
    )


def routing_spec_to_pb(spec: RoutingSpec) -> escalations_pb2.TeamRouting:
    return escalations_pb2.TeamRouting(
        team=spec.team,
        time_zone=spec.time_zone,
        rules=[
            escalations_pb2.RoutingRule(
                name=r.name,
                when_json=json.dumps(dict(r.when), sort_keys=True) if r.when else "",
                windows=list(r.windows),
                policy=r.policy,
            )
            for r in spec.rules
        ],
        default_policy=spec.default_policy,
        default_schedule=spec.default_schedule,
    )


def page_to_pb(page: PageRecord) -> escalations_pb2.PageRecord:
    return escalations_pb2.PageRecord(
        key=page.key,
        user=page.username,
        channel=page.channel.value,
        address=page.address,
        state=page.state.value,
        due_at=timestamp(page.due_at),
        attempts=page.attempts,
        provider_id=page.provider_id,
        detail=page.detail,
        alert_id=page.alert_id,
        sent_at=None if page.sent_at is None else timestamp(page.sent_at),
    )


def page_from_pb(message: escalations_pb2.PageRecord) -> PageRecord:
    return PageRecord(
        key=message.key,
        alert_id=message.alert_id,
        username=message.user,
        channel=Channel(message.channel),
        address=message.address,
        state=PageState(message.state),
        due_at=instant(message.due_at),
        attempts=message.attempts,
        provider_id=message.provider_id,
        detail=message.detail,
        sent_at=optional_instant(message, "sent_at"),
    )

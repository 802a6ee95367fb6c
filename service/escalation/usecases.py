"""Escalation policy and team routing use cases: what people send is checked here, names
are resolved to ids, and the store keeps the rest."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from service.core import validation
from service.core.clock import Clock
from service.core.errors import FailedPrecondition, InvalidArgument, NotFound
from service.core.ids import new_uuid
from service.core.wallclock import zone
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
from service.escalation.store import EscalationStore
from service.ingest import rules as conditions
from service.oncall.restrictions import RESTRICTIONS_MAX, parse_restriction
from service.oncall.store import ScheduleStore
from service.paging.planning import PageRecord
from service.paging.store import PagingStore
from service.people.store import PeopleStore
from service.teams.store import TeamStore

RULES_MAX = 20
TARGETS_MAX = 10
REPEAT_TIMES_MAX = 20
DELAY_MAX = timedelta(days=1)
REPEAT_AFTER_MIN = timedelta(minutes=1)
ROUTING_RULES_MAX = 50


@dataclass(frozen=True)
class EscalationRuleSpec:
    delay: timedelta
    targets: tuple[tuple[str, str], ...]  # (kind, name or id)
    condition: str = Condition.NOT_ACKNOWLEDGED.value


@dataclass(frozen=True)
class PolicySpec:
    name: str
    team: str = ""
    description: str = ""
    rules: tuple[EscalationRuleSpec, ...] = ()
    repeat: Repeat | None = None


@dataclass(frozen=True)
class RoutingRuleSpec:
    name: str
    policy: str
    when: Mapping[str, Any] = field(default_factory=dict)
    windows: tuple[str, ...] = ()  # "09:00-17:00", "mon 09:00-fri 17:00"


@dataclass(frozen=True)
class RoutingSpec:
    team: str
    time_zone: str = "UTC"
    rules: tuple[RoutingRuleSpec, ...] = ()
    default_policy: str = ""
    default_schedule: str = ""


# What an update may name (its mask); none names the whole of name, team, description,
# rules and repeat.
POLICY_FIELDS = (
    "name",
    "team",
    "description",
    "rules",
    "repeat",
    "repeat.after",
    "repeat.times",
    "repeat.reset_acknowledgement",
    "repeat.close_after_last",
)
WHOLE_POLICY = frozenset(POLICY_FIELDS[:5])


def _delay(value: timedelta, field_name: str) -> timedelta:
    if value < timedelta() or value > DELAY_MAX:
        raise InvalidArgument(
            field_name, f"must be 0 to 24 hours (got {validation.duration_text(value)})"
        )
    return value


def check_repeat(repeat: Repeat | None) -> Repeat | None:
    if repeat is None:
        return None
    if not 0 <= repeat.times <= REPEAT_TIMES_MAX:
        raise InvalidArgument(
            "repeat.times", f"must be 0 to {REPEAT_TIMES_MAX} (got {repeat.times})"
        )
    _delay(repeat.after, "repeat.after")
    if not repeat.times and (repeat.after or repeat.reset_acknowledgement):
        raise InvalidArgument(
            "repeat.times",
            "must be 1 or more: a wait before repeating, or resetting the "
            "acknowledgement, means something only when the rules repeat",
        )
    if repeat.times and repeat.after < REPEAT_AFTER_MIN:
        raise InvalidArgument(
            "repeat.after",
            "must be at least a minute when the rules repeat "
            f"(got {validation.duration_text(repeat.after)}): otherwise every repeat pages at once",
        )
    return repeat


class PoliciesPorts(EscalationStore, ScheduleStore, TeamStore, PeopleStore, PagingStore, Protocol):
    """What `Policies` reads and writes: policies and routing, the users, teams and
    schedules they page, and the ledger of the pages they planned."""


class Policies:
    def __init__(
        self, store: PoliciesPorts, clock: Clock, new_id: Callable[[], str] = new_uuid
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id

    async def _target(self, kind: str, name: str, where: str) -> Target:
        try:
            target_kind = TargetKind(kind)
        except ValueError:
            choices = ", ".join(k.value for k in TargetKind)
            raise InvalidArgument(
                f"{where}.kind", f"must be one of {choices} (got {kind!r})"
            ) from None
        validation.reference(f"{where}.name", name)
        try:
            if target_kind is TargetKind.USER:
                user = await self._store.get_user(name)
                return Target(target_kind, user.id, user.username)
            if target_kind in (TargetKind.TEAM, TargetKind.TEAM_MEMBERS):
                team = await self._store.get_team(name)
                return Target(target_kind, team.id, team.name)
            schedule = await self._store.get_schedule(name)
            return Target(target_kind, schedule.id, schedule.name)
        except NotFound:
            raise InvalidArgument(
                f"{where}.name", f"no {target_kind.value.split('-')[0]} named {name!r}"
            ) from None

    async def _rules(self, specs: Sequence[EscalationRuleSpec]) -> tuple[EscalationRule, ...]:
        if not specs:
            raise InvalidArgument("rules", "a policy needs at least one rule")
        if len(specs) > RULES_MAX:
            raise InvalidArgument("rules", f"must have at most {RULES_MAX} (got {len(specs)})")
        built = []
        previous = timedelta()
        for index, rule in enumerate(specs):
            where = f"rules[{index}]"
            delay = _delay(rule.delay, f"{where}.delay")
            if delay < previous:
                raise InvalidArgument(
                    f"{where}.delay",
                    "must not be earlier than the rule before it "
                    f"({validation.duration_text(delay)} is before "
                    f"{validation.duration_text(previous)})",
                )
            previous = delay
            try:
                condition = Condition(rule.condition or Condition.NOT_ACKNOWLEDGED.value)
            except ValueError:
                raise InvalidArgument(
                    f"{where}.condition",
                    f"must be not-acknowledged or not-closed (got {rule.condition!r})",
                ) from None
            if not rule.targets or len(rule.targets) > TARGETS_MAX:
                raise InvalidArgument(
                    f"{where}.targets", f"must have 1 to {TARGETS_MAX} (got {len(rule.targets)})"
                )
            targets = [
                await self._target(kind, name, f"{where}.targets[{i}]")
                for i, (kind, name) in enumerate(rule.targets)
            ]
            built.append(EscalationRule(delay, tuple(targets), condition))
        return tuple(built)

    async def create(self, spec: PolicySpec) -> Policy:
        validation.object_name(spec.name)
        validation.text("description", spec.description, validation.TEAM_DESCRIPTION_MAX)
        rules = await self._rules(spec.rules)
        team = await self._store.get_team(spec.team or "default")
        policy = Policy(
            self._new_id(),
            spec.name,
            team.id,
            rules,
            check_repeat(spec.repeat),
            spec.description,
        )
        return await self._store.create_policy(policy)

    async def update(self, policy: str, spec: PolicySpec, fields: Collection[str] = ()) -> Policy:
        """Changes the policy's `fields` (see `POLICY_FIELDS`) to the spec's, and keeps the
        rest as they are when the change is made; no fields means all of the whole ones. An
        empty team keeps the policy in its own. A `repeat.*` field changes that part of the
        repeat only, starting from none (repeat.times 0) if the policy has no repeat."""
        validation.reference("policy", policy)
        given = (
            validation.update_mask("a policy", fields, POLICY_FIELDS) if fields else WHOLE_POLICY
        )
        if "name" in given:
            validation.object_name(spec.name)
        if "description" in given:
            validation.text("description", spec.description, validation.TEAM_DESCRIPTION_MAX)
        rules = await self._rules(spec.rules) if "rules" in given else None
        team = await self._store.get_team(spec.team) if "team" in given and spec.team else None
        asked = spec.repeat or Repeat(timedelta(), 0)
        parts = {f.removeprefix("repeat.") for f in given if f.startswith("repeat.")}

        def step(stored: Policy) -> Policy:
            repeat = spec.repeat if "repeat" in given else stored.repeat
            if parts:
                repeat = dataclasses.replace(
                    repeat or Repeat(timedelta(), 0),
                    **{name: getattr(asked, name) for name in parts},
                )
            return dataclasses.replace(
                stored,
                name=spec.name if "name" in given else stored.name,
                description=spec.description if "description" in given else stored.description,
                team_id=stored.team_id if team is None else team.id,
                rules=stored.rules if rules is None else rules,
                repeat=check_repeat(repeat),
            )

        return await self._store.update_policy(policy, step)

    async def get(self, policy: str) -> Policy:
        validation.reference("policy", policy)
        return await self._store.get_policy(policy)

    async def list(self, team: str = "") -> Sequence[Policy]:
        return await self._store.list_policies(team)

    async def delete(self, policy: str) -> None:
        validation.reference("policy", policy)
        await self._store.delete_policy(policy)

    # Routing

    async def set_routing(self, spec: RoutingSpec) -> Routing:
        validation.reference("team", spec.team)
        team = await self._store.get_team(spec.team)
        tz = zone(spec.time_zone or "UTC")
        if len(spec.rules) > ROUTING_RULES_MAX:
            raise InvalidArgument("rules", f"must have at most {ROUTING_RULES_MAX}")

        async def own_policy(name: str, where: str) -> str:
            try:
                found = await self._store.get_policy(name)
            except NotFound:
                raise InvalidArgument(where, f"no policy named {name!r}") from None
            if found.team_id != team.id:
                raise InvalidArgument(where, f"policy {found.name!r} belongs to another team")
            return found.id

        built = []
        for index, rule in enumerate(spec.rules):
            where = f"rules[{index}]"
            validation.text(f"{where}.name", rule.name, 100, required=True)
            # Counted before any is read: every alert of the team is matched against them.
            if len(rule.windows) > RESTRICTIONS_MAX:
                raise InvalidArgument(
                    f"{where}.windows",
                    f"must have at most {RESTRICTIONS_MAX} windows (got {len(rule.windows):,})",
                )
            if rule.when:
                conditions.check_condition(f"{where}.when", rule.when)
            windows = tuple(
                parse_restriction(text, f"{where}.windows[{i}]")
                for i, text in enumerate(rule.windows)
            )
            policy_id = await own_policy(rule.policy, f"{where}.policy")
            built.append(RoutingRule(rule.name, policy_id, dict(rule.when), windows))
        default_policy = (
            await own_policy(spec.default_policy, "default_policy") if spec.default_policy else ""
        )
        default_schedule = ""
        if spec.default_schedule:
            try:
                schedule = await self._store.get_schedule(spec.default_schedule)
            except NotFound:
                raise InvalidArgument(
                    "default_schedule", f"no schedule named {spec.default_schedule!r}"
                ) from None
            if schedule.team_id != team.id:
                raise InvalidArgument(
                    "default_schedule", f"schedule {schedule.name!r} belongs to another team"
                )
            default_schedule = schedule.id
        routing = Routing(team.id, tz.key, tuple(built), default_policy, default_schedule)
        return await self._store.set_routing(routing)

    async def routing(self, team: str) -> Routing:
        validation.reference("team", team)
        return await self._store.get_routing(team)

    async def routing_names(self) -> dict[str, str]:
        """Team, policy and schedule names by id, for showing a routing, which stores each
        of them by id."""
        names = {t.id: t.name for t in await self._store.list_teams()}
        names.update({p.id: p.name for p in await self._store.list_policies("")})
        names.update({s.id: s.name for s in await self._store.list_schedules("")})
        return names

    async def escalate_now(self, alert_id: str) -> None:
        if not alert_id:
            raise InvalidArgument("alert", "is required")
        if not await self._store.escalate_now(alert_id, self._clock.now()):
            raise FailedPrecondition("the alert's escalation has nothing left to do")

    async def pages(self, alert_id: str) -> Sequence[PageRecord]:
        """The pages the alert's escalation planned, as the ledger records them."""
        return await self._store.list_pages(alert_id)

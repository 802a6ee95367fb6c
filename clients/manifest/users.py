"""Users in the manifest, with their contact methods and notification rules: read from the
file, planned against the server, and written out by an export."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from clients.client import TocsinClient
from clients.manifest import fields
from clients.manifest.changes import PlannedCall, PlannedChange, show
from service.core import validation
from service.core.errors import InvalidArgument
from service.people import usecases as user_rules
from service.people.model import (
    ContactMethod,
    NotificationRule,
    NotificationRules,
    NotificationStep,
    Role,
    User,
)
from service.people.usecases import RULE_KINDS

KEYS = ("full_name", "time_zone", "role", "contact_methods", "notification_rules")


@dataclass(frozen=True)
class UserDecl:
    """What the file declares; None is a key it leaves out (or gives no value)."""

    username: str
    full_name: str | None = None
    time_zone: str | None = None
    role: Role | None = None
    contact_methods: tuple[ContactMethod, ...] | None = None  # id unused
    rules: NotificationRules | None = None


# Reading


def read(value: object, path: str) -> UserDecl:
    found = fields.keys(value, path, ("username",), KEYS)
    where = f"{path}.username"
    return UserDecl(
        user_rules.username(fields.text(found["username"], where), where),
        full_name=fields.optional(found, "full_name", path, _full_name),
        time_zone=fields.optional(found, "time_zone", path, fields.time_zone),
        role=fields.optional(found, "role", path, _role),
        contact_methods=fields.optional(found, "contact_methods", path, _contact_methods),
        rules=fields.optional(found, "notification_rules", path, _notification_rules),
    )


def _full_name(value: object, path: str) -> str:
    return validation.text(path, fields.text(value, path), user_rules.FULL_NAME_MAX)


def _role(value: object, path: str) -> Role:
    return user_rules.role(fields.text(value, path), path)


def _contact_methods(value: object, path: str) -> tuple[ContactMethod, ...]:
    methods = fields.listed(value, path, _contact_method)
    fields.unique([m.name for m in methods], path, "name")
    for index, method in enumerate(methods):
        same = [m for m in methods[:index] if m.channel is method.channel]
        if any(m.address == method.address for m in same):
            raise InvalidArgument(f"{path}[{index}].address", "is listed twice")
        if len(same) >= user_rules.METHODS_PER_CHANNEL_MAX:
            raise InvalidArgument(
                f"{path}[{index}]",
                f"at most {user_rules.METHODS_PER_CHANNEL_MAX} {method.channel.value} "
                "contact methods per user",
            )
    return methods


def _contact_method(value: object, path: str) -> ContactMethod:
    found = fields.keys(value, path, ("name", "channel", "address"), ())
    name = user_rules.contact_name(fields.text(found["name"], f"{path}.name"), f"{path}.name")
    where = f"{path}.channel"
    channel = user_rules.channel(fields.text(found["channel"], where), where)
    where = f"{path}.address"
    return ContactMethod(
        "", name, channel, user_rules.address(channel, fields.text(found["address"], where), where)
    )


def _notification_rules(value: object, path: str) -> NotificationRules:
    kinds = fields.keys(value, path, (), RULE_KINDS)
    rules = {
        kind: _rule(kinds[kind], f"{path}.{kind}")
        for kind in RULE_KINDS
        if kinds.get(kind) is not None
    }
    return NotificationRules(**rules)


def _rule(value: object, path: str) -> NotificationRule:
    found = fields.keys(value, path, ("steps",), ("repeat_minutes", "repeat_times"))
    return NotificationRule(
        fields.listed(found["steps"], f"{path}.steps", _step),
        fields.whole_number(found.get("repeat_minutes", 0), f"{path}.repeat_minutes"),
        fields.whole_number(found.get("repeat_times", 0), f"{path}.repeat_times"),
    )


def _step(value: object, path: str) -> NotificationStep:
    found = fields.keys(value, path, ("contact_method",), ("after_minutes",))
    after = fields.whole_number(found.get("after_minutes", 0), f"{path}.after_minutes")
    if not 0 <= after <= user_rules.DELAY_MAX_MINUTES:
        raise InvalidArgument(
            f"{path}.after_minutes", f"must be 0-{user_rules.DELAY_MAX_MINUTES} (got {after})"
        )
    where = f"{path}.contact_method"
    return NotificationStep(
        user_rules.contact_name(fields.text(found["contact_method"], where), where), after
    )


# Planning


@dataclass(frozen=True)
class _Methods:
    """How a user's contact methods become the file's. A changed method is removed and added
    again: the server refuses a second method with the same name or address."""

    final: tuple[ContactMethod, ...]  # as the user will have them
    removed: tuple[ContactMethod, ...]
    added: tuple[tuple[int, ContactMethod], ...]  # with their index in the file


def _same(a: ContactMethod, b: ContactMethod | None) -> bool:
    return b is not None and (a.channel, a.address) == (b.channel, b.address)


def _methods(decl: UserDecl, before: User) -> _Methods:
    methods = before.contact_methods if decl.contact_methods is None else decl.contact_methods
    have = {m.name.lower(): m for m in before.contact_methods}
    # A method the server already has (names match in any case) is the server's, spelled
    # its way, so the rules naming it compare equal and re-applying settles.
    methods = tuple(
        have[m.name.lower()] if _same(m, have.get(m.name.lower())) else m for m in methods
    )
    want = {m.name.lower(): m for m in methods}
    return _Methods(
        methods,
        tuple(m for m in before.contact_methods if not _same(m, want.get(m.name.lower()))),
        tuple((i, m) for i, m in enumerate(methods) if not _same(m, have.get(m.name.lower()))),
    )


def change(decl: UserDecl, path: str, current: User | None) -> PlannedChange | None:
    """What makes the user match the file: the account, then the contact methods and the
    notification rules. Rules using a method that goes are set aside before it goes."""
    before = current or User("", decl.username)
    name = before.username
    methods = _methods(decl, before)
    target = _checked_rules(decl, path, dataclasses.replace(before, contact_methods=methods.final))
    gone = {m.name.lower() for m in methods.removed}
    cleared = {
        kind: None
        for kind in RULE_KINDS
        if any(s.contact_method.lower() in gone for s in _steps(before.notification_rules, kind))
    }
    lines, steps = _account(decl, path, current)
    if current is not None:
        lines.extend(_method_lines(name, before, methods))
        lines.extend(_rule_lines(name, current.notification_rules, target))
    steps.extend(_rule_steps(name, path, cleared))
    steps.extend(_method_steps(name, path, methods))
    middle = dataclasses.replace(before.notification_rules, **cleared)
    wanted = {kind: getattr(target, kind) for kind in RULE_KINDS}
    steps.extend(
        _rule_steps(name, path, {k: r for k, r in wanted.items() if getattr(middle, k) != r})
    )
    return PlannedChange(tuple(lines), tuple(steps)) if steps else None


def _account(
    decl: UserDecl, path: str, current: User | None
) -> tuple[list[str], list[PlannedCall]]:
    """Creating the user, or updating the full name, time zone and role the file changes."""
    if current is None:
        create = functools.partial(
            TocsinClient.create_user,
            username=decl.username,
            full_name=decl.full_name or "",
            time_zone=decl.time_zone or "",
            role=decl.role.value if decl.role else "",
        )
        return [f"+ user {decl.username}"], [PlannedCall(path, create)]
    wanted = {
        "full_name": decl.full_name,
        "time_zone": decl.time_zone,
        "role": decl.role.value if decl.role else None,
    }
    now = {
        "full_name": current.full_name,
        "time_zone": current.time_zone,
        "role": current.role.value,
    }
    changed = {k: v for k, v in wanted.items() if v is not None and v != now[k]}
    lines = [
        f"~ user {current.username}: {k} {show(now[k])} -> {show(v)}" for k, v in changed.items()
    ]
    if not changed:
        return lines, []
    update = functools.partial(
        TocsinClient.update_user,
        user=current.username,
        full_name=changed.get("full_name"),
        time_zone=changed.get("time_zone"),
        role=changed.get("role"),
    )
    return lines, [PlannedCall(path, update)]


def _method_lines(name: str, before: User, methods: _Methods) -> list[str]:
    have = {m.name.lower() for m in before.contact_methods}
    want = {m.name.lower(): m for m in methods.final}
    lines = []
    for m in methods.removed:
        new = want.get(m.name.lower())
        if new is None:
            lines.append(f"- user {name}: contact method {m.name}")
        else:
            old_text, new_text = (
                f"{m.channel.value} {m.address}",
                f"{new.channel.value} {new.address}",
            )
            lines.append(f"~ user {name}: contact method {m.name} {old_text} -> {new_text}")
    for _, m in methods.added:
        if m.name.lower() not in have:
            lines.append(f"+ user {name}: contact method {m.name} ({m.channel.value} {m.address})")
    return lines


def _method_steps(name: str, path: str, methods: _Methods) -> list[PlannedCall]:
    steps = []
    for m in methods.removed:
        call = functools.partial(
            TocsinClient.remove_contact_method, user=name, contact_method=m.name
        )
        steps.append(PlannedCall(f"{path}.contact_methods", call))
    for i, m in methods.added:
        call = functools.partial(
            TocsinClient.add_contact_method,
            user=name,
            channel=m.channel.value,
            address=m.address,
            name=m.name,
        )
        steps.append(PlannedCall(f"{path}.contact_methods[{i}]", call))
    return steps


def _rule_lines(name: str, before: NotificationRules, after: NotificationRules) -> list[str]:
    lines = []
    for kind in RULE_KINDS:
        old, new = getattr(before, kind), getattr(after, kind)
        if old != new:
            text = f"{_rule_text(old)} -> {_rule_text(new)}"
            lines.append(f"~ user {name}: notification_rules.{kind} {text}")
    return lines


def _rule_steps(
    name: str, path: str, rules: Mapping[str, NotificationRule | None]
) -> list[PlannedCall]:
    """Setting each kind's rule (None: the default), in the order given."""
    return [
        PlannedCall(
            f"{path}.notification_rules",
            functools.partial(TocsinClient.set_notification_rule, user=name, kind=kind, rule=rule),
        )
        for kind, rule in rules.items()
    ]


def _rule_text(rule: NotificationRule | None) -> str:
    if rule is None:
        return "default"
    steps = ", ".join(f"{s.contact_method} after {s.delay_minutes}m" for s in rule.steps)
    if rule.repeat_times:
        steps += f", again every {rule.repeat_minutes}m {rule.repeat_times} more times"
    return steps


def _steps(rules: NotificationRules, kind: str) -> tuple[NotificationStep, ...]:
    rule: NotificationRule | None = getattr(rules, kind)
    return rule.steps if rule else ()


def _checked_rules(decl: UserDecl, path: str, final: User) -> NotificationRules:
    """The rules the user will have, checked against their contact methods after apply and
    in the form the server keeps them (steps by delay, methods by their own names)."""
    rules = final.notification_rules if decl.rules is None else decl.rules
    checked: dict[str, NotificationRule | None] = {}
    for kind in RULE_KINDS:
        rule: NotificationRule | None = getattr(rules, kind)
        where = f"{path}.notification_rules.{kind}"
        try:
            checked[kind] = (
                None if rule is None else user_rules.notification_rule(final, rule, where)
            )
        except InvalidArgument as exc:
            if decl.rules is not None:
                raise
            raise InvalidArgument(
                f"{path}.contact_methods",
                f"{final.username}'s {kind} notification rule needs a contact method this "
                f"leaves out ({exc.rule}); give notification_rules too",
            ) from None
    return NotificationRules(**checked)


# Exporting


def document(user: User) -> dict[str, object]:
    rules = {
        kind: _rule_document(rule)
        for kind in RULE_KINDS
        if (rule := getattr(user.notification_rules, kind)) is not None
    }
    return {
        "username": user.username,
        "full_name": user.full_name,
        "time_zone": user.time_zone,
        "role": user.role.value,
        "contact_methods": [
            {"name": m.name, "channel": m.channel.value, "address": m.address}
            for m in user.contact_methods
        ],
        "notification_rules": rules,
    }


def _rule_document(rule: NotificationRule) -> dict[str, object]:
    doc: dict[str, object] = {
        "steps": [
            {"contact_method": s.contact_method, "after_minutes": s.delay_minutes}
            for s in rule.steps
        ]
    }
    if rule.repeat_minutes or rule.repeat_times:
        doc.update(repeat_minutes=rule.repeat_minutes, repeat_times=rule.repeat_times)
    return doc

"""User use cases: who can be paged, where, and how. Every rule for a user's fields is here;
uniqueness of usernames is the store's."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from service.core import validation
from service.core.clock import Clock
from service.core.errors import FailedPrecondition, InvalidArgument, NotFound
from service.core.ids import new_uuid
from service.core.wallclock import zone
from service.people.model import (
    EMPTY_SLOT,
    Channel,
    ContactMethod,
    NotificationRule,
    NotificationStep,
    Role,
    User,
)
from service.people.store import PeopleStore
from service.people.webhook_targets import WebhookTargets

USERNAME_MAX = 100
FULL_NAME_MAX = 200
CONTACT_NAME_MAX = 50
METHODS_PER_CHANNEL_MAX = 3
STEPS_MAX = 10
DELAY_MAX_MINUTES = 24 * 60
REPEAT_TIMES_MAX = 10
PUSH_TOKEN_MAX = 4096
EMAIL_MAX = 254
URL_MAX = 2048

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_CONTACT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_PUSH_TOKEN = re.compile(r"[\x21-\x7e]+")
RULE_KINDS = ("new_alert", "high_priority")


def username(value: str, field: str = "username") -> str:
    validation.text(field, value, USERNAME_MAX, required=True)
    if not _USERNAME.fullmatch(value):
        raise InvalidArgument(
            field,
            "must be letters, digits, '.', '_', '@', '+' and '-', starting with a letter or "
            f"digit (got {value!r})",
        )
    if value.lower() == EMPTY_SLOT:
        raise InvalidArgument(field, f"{EMPTY_SLOT!r} is reserved for empty rotation slots")
    return value


def role(value: str, field: str = "role") -> Role:
    try:
        return Role(value or Role.USER.value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidArgument(field, f"must be one of {choices} (got {value!r})") from None


def channel(value: str, field: str = "channel") -> Channel:
    try:
        return Channel(value)
    except ValueError:
        choices = ", ".join(c.value for c in Channel)
        raise InvalidArgument(field, f"must be one of {choices} (got {value!r})") from None


def address(kind: Channel, value: str, field: str = "address") -> str:
    """Checks a contact address for its channel; numbers must be E.164 (+ and 7-15 digits)."""
    if kind in (Channel.SMS, Channel.VOICE):
        if not _E164.fullmatch(value):
            raise InvalidArgument(
                field, f"must be an E.164 phone number such as +14155550123 (got {value!r})"
            )
    elif kind is Channel.EMAIL:
        if len(value) > EMAIL_MAX or not _EMAIL.fullmatch(value):
            raise InvalidArgument(field, f"must be an email address (got {value!r})")
    elif kind is Channel.WEBHOOK:
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            host = None
        if not host or parts.scheme not in ("https", "http") or len(value) > URL_MAX:
            raise InvalidArgument(field, f"must be an http(s) URL (got {value!r})")
    elif len(value) > PUSH_TOKEN_MAX or not _PUSH_TOKEN.fullmatch(value):
        raise InvalidArgument(
            field, f"must be a device token of 1-{PUSH_TOKEN_MAX} printable characters"
        )
    return value


def contact_name(value: str, field: str = "name") -> str:
    validation.text(field, value, CONTACT_NAME_MAX, required=True)
    if not _CONTACT_NAME.fullmatch(value):
        raise InvalidArgument(field, f"must be letters, digits, '.', '_' and '-' (got {value!r})")
    return value


def _method(user: User, name: str, field: str) -> ContactMethod:
    for method in user.contact_methods:
        if method.name.lower() == name.lower() or method.id == name:
            return method
    known = ", ".join(m.name for m in user.contact_methods) or "none"
    raise InvalidArgument(field, f"{user.username} has no contact method {name!r} (has: {known})")


def notification_rule(user: User, rule: NotificationRule, field: str) -> NotificationRule:
    """Checks a rule against the user's contact methods; stores methods by name as given."""
    if not rule.steps:
        raise InvalidArgument(f"{field}.steps", "must have at least one step")
    if len(rule.steps) > STEPS_MAX:
        raise InvalidArgument(
            f"{field}.steps", f"must have at most {STEPS_MAX} steps (got {len(rule.steps)})"
        )
    steps = []
    for index, step in enumerate(rule.steps):
        where = f"{field}.steps[{index}]"
        method = _method(user, step.contact_method, f"{where}.contact_method")
        if not 0 <= step.delay_minutes <= DELAY_MAX_MINUTES:
            raise InvalidArgument(
                f"{where}.delay_minutes",
                f"must be 0-{DELAY_MAX_MINUTES} (got {step.delay_minutes})",
            )
        steps.append(NotificationStep(method.name, step.delay_minutes))
    if not 0 <= rule.repeat_times <= REPEAT_TIMES_MAX:
        raise InvalidArgument(
            f"{field}.repeat_times", f"must be 0-{REPEAT_TIMES_MAX} (got {rule.repeat_times})"
        )
    if not 0 <= rule.repeat_minutes <= DELAY_MAX_MINUTES:
        raise InvalidArgument(
            f"{field}.repeat_minutes",
            f"must be 0-{DELAY_MAX_MINUTES} (got {rule.repeat_minutes})",
        )
    if rule.repeat_times and not rule.repeat_minutes:
        raise InvalidArgument(
            f"{field}.repeat_minutes", "must be at least 1 when repeat_times is set (got 0)"
        )
    if rule.repeat_minutes and not rule.repeat_times:
        raise InvalidArgument(
            f"{field}.repeat_times", "must be at least 1 when repeat_minutes is set (got 0)"
        )
    ordered = sorted(steps, key=lambda s: s.delay_minutes)  # stable: ties keep their order
    return NotificationRule(tuple(ordered), rule.repeat_minutes, rule.repeat_times)


def referenced_by_rules(user: User, method: ContactMethod) -> str:
    """The first rule naming `method`, or ''."""
    for kind in RULE_KINDS:
        rule: NotificationRule | None = getattr(user.notification_rules, kind)
        if rule and any(s.contact_method.lower() == method.name.lower() for s in rule.steps):
            return kind
    return ""


class Users:
    def __init__(
        self,
        store: PeopleStore,
        clock: Clock,
        new_id: Callable[[], str] = new_uuid,
        *,
        webhooks: WebhookTargets | None = None,
    ) -> None:
        """`webhooks` is where webhook contacts may point, by the same rule the webhook
        adapter sends by (default: https only, nothing internal), so an address every page
        would fail on is refused when it is added."""
        self._store = store
        self._clock = clock
        self._new_id = new_id
        self._webhooks = webhooks or WebhookTargets()

    async def create(
        self, name: str, full_name: str = "", time_zone: str = "", user_role: str = ""
    ) -> User:
        user = User(
            id=self._new_id(),
            username=username(name),
            full_name=validation.text("full_name", full_name, FULL_NAME_MAX),
            time_zone=zone(time_zone or "UTC").key,
            role=role(user_role),
            created_at=self._clock.now(),
        )
        return await self._store.create_user(user)

    async def get(self, user: str) -> User:
        validation.reference("user", user)
        return await self._store.get_user(user)

    async def list(self) -> Sequence[User]:
        return await self._store.list_users()

    async def update(
        self,
        user: str,
        *,
        full_name: str | None = None,
        time_zone: str | None = None,
        user_role: str | None = None,
    ) -> User:
        validation.reference("user", user)
        name = None if full_name is None else validation.text("full_name", full_name, FULL_NAME_MAX)
        tz = None if time_zone is None else zone(time_zone).key
        new_role = None if user_role is None else role(user_role)

        def change(current: User) -> User:
            return dataclasses.replace(
                current,
                full_name=current.full_name if name is None else name,
                time_zone=current.time_zone if tz is None else tz,
                role=current.role if new_role is None else new_role,
            )

        return await self._store.update_user(user, change)

    async def delete(self, user: str) -> None:
        validation.reference("user", user)
        await self._store.delete_user(user, self._clock.now())

    async def add_contact_method(self, user: str, kind: str, where: str, name: str = "") -> User:
        validation.reference("user", user)
        method_channel = channel(kind)
        address(method_channel, where)
        if method_channel is Channel.WEBHOOK:
            problem = await self._webhooks.refusal(where)
            if problem:
                raise InvalidArgument("address", problem)
        if name:
            contact_name(name)
        new_id = self._new_id()

        def add(current: User) -> User:
            same = [m for m in current.contact_methods if m.channel is method_channel]
            if len(same) >= METHODS_PER_CHANNEL_MAX:
                raise FailedPrecondition(
                    f"{current.username} already has {METHODS_PER_CHANNEL_MAX} "
                    f"{method_channel.value} contact methods: remove one first"
                )
            if any(m.address == where for m in same):
                raise FailedPrecondition(
                    f"{current.username} already has {method_channel.value} {where}"
                )
            taken = {m.name.lower() for m in current.contact_methods}
            chosen = name or _free_name(method_channel.value, taken)
            if chosen.lower() in taken:
                raise FailedPrecondition(
                    f"{current.username} already has a contact method named {chosen!r}"
                )
            method = ContactMethod(new_id, chosen, method_channel, where)
            return dataclasses.replace(current, contact_methods=(*current.contact_methods, method))

        return await self._store.update_user(user, add)

    async def remove_contact_method(self, user: str, method: str) -> User:
        validation.reference("user", user)
        validation.reference("contact_method", method)

        def remove(current: User) -> User:
            try:
                found = _method(current, method, "contact_method")
            except InvalidArgument as exc:
                raise NotFound(exc.rule) from None
            rule = referenced_by_rules(current, found)
            if rule:
                raise FailedPrecondition(
                    f"{current.username}'s {rule} notification rule uses {found.name}: "
                    "change the rule first"
                )
            kept = tuple(m for m in current.contact_methods if m.id != found.id)
            return dataclasses.replace(current, contact_methods=kept)

        return await self._store.update_user(user, remove)

    async def set_notification_rule(
        self, user: str, kind: str, rule: NotificationRule | None
    ) -> User:
        """Replaces one of the user's rules; None restores the default."""
        validation.reference("user", user)
        if kind not in RULE_KINDS:
            raise InvalidArgument("kind", f"must be one of {', '.join(RULE_KINDS)} (got {kind!r})")

        def set_rule(current: User) -> User:
            checked = None if rule is None else notification_rule(current, rule, kind)
            rules = dataclasses.replace(current.notification_rules, **{kind: checked})
            return dataclasses.replace(current, notification_rules=rules)

        return await self._store.update_user(user, set_rule)


def _free_name(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"

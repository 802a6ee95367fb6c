"""Users and team members between protobuf and the domain's values, both ways: the
servicers and the Python client share it."""

from __future__ import annotations

from datetime import datetime

from protos.tocsin.v1 import teams_pb2, users_pb2
from service.api.time_codec import instant, timestamp
from service.people.model import (
    Channel,
    ContactMethod,
    MemberRole,
    NotificationRule,
    NotificationRules,
    NotificationStep,
    Role,
    TeamMember,
    User,
    effective_rule,
)


def rule_to_pb(rule: NotificationRule) -> users_pb2.NotificationRule:
    return users_pb2.NotificationRule(
        steps=[
            users_pb2.NotificationStep(
                contact_method=s.contact_method, delay_minutes=s.delay_minutes
            )
            for s in rule.steps
        ],
        repeat_minutes=rule.repeat_minutes,
        repeat_times=rule.repeat_times,
    )


def rule_from_pb(message: users_pb2.NotificationRule) -> NotificationRule:
    return NotificationRule(
        tuple(NotificationStep(s.contact_method, s.delay_minutes) for s in message.steps),
        message.repeat_minutes,
        message.repeat_times,
    )


def user_to_pb(user: User) -> users_pb2.User:
    rules = user.notification_rules
    return users_pb2.User(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        time_zone=user.time_zone,
        role=user.role.value,
        contact_methods=[
            users_pb2.ContactMethod(
                id=m.id, name=m.name, channel=m.channel.value, address=m.address
            )
            for m in user.contact_methods
        ],
        new_alert_rule=rule_to_pb(effective_rule(user, high_priority=False)),
        new_alert_rule_is_default=rules.new_alert is None,
        high_priority_rule=rule_to_pb(effective_rule(user, high_priority=True)),
        high_priority_rule_is_default=rules.high_priority is None,
        created_at=timestamp(user.created_at or datetime.fromtimestamp(0).astimezone()),
    )


def user_from_pb(message: users_pb2.User) -> User:
    """The user as shown: rules marked default come back as None."""
    return User(
        id=message.id,
        username=message.username,
        full_name=message.full_name,
        time_zone=message.time_zone,
        role=Role(message.role),
        contact_methods=tuple(
            ContactMethod(m.id, m.name, Channel(m.channel), m.address)
            for m in message.contact_methods
        ),
        notification_rules=NotificationRules(
            None if message.new_alert_rule_is_default else rule_from_pb(message.new_alert_rule),
            None
            if message.high_priority_rule_is_default
            else rule_from_pb(message.high_priority_rule),
        ),
        created_at=instant(message.created_at),
    )


def member_to_pb(member: TeamMember) -> teams_pb2.TeamMember:
    return teams_pb2.TeamMember(
        user_id=member.user_id, username=member.username, role=member.role.value
    )


def member_from_pb(message: teams_pb2.TeamMember) -> TeamMember:
    return TeamMember(message.user_id, message.username, MemberRole(message.role))

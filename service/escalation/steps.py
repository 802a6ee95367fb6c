"""How an alert's escalation moves: pure functions of its state, the alert and `now`.

An escalation is the snapshot of a policy plus a cursor: the repeat cycle, the next rule and
when it is due. The engine calls `step` whenever it is due and does what the result says
(page the rule's targets, unacknowledge, close). `react` says what a change to the alert does
to it: acknowledging or closing cancels pending pages; unacknowledging, or a snooze ending,
starts the rules again from the first; snoozing pauses.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.alerts.model import Alert, Change, Status
from service.escalation.model import Condition, Policy

ENGINE_ACTOR = "tocsin"


class State(enum.Enum):
    ACTIVE = "active"
    PAUSED = "paused"  # snoozed: starts again from the first rule when the snooze ends
    DONE = "done"


@dataclass(frozen=True)
class Escalation:
    alert_id: str
    policy: Policy
    cycle_start: datetime
    run: int = 0  # how many times it started again (unacknowledged, or a snooze ended)
    cycle: int = 0
    next_rule: int = 0  # == len(rules): the end of the cycle is what is due
    due_at: datetime | None = None
    state: State = State.ACTIVE


@dataclass(frozen=True)
class Step:
    """What one due step did: the new state, the rule to page (if it pages), the activity,
    and whether the alert is to be unacknowledged (a repeat that resets) or closed."""

    escalation: Escalation
    rule: int | None = None
    changes: tuple[Change, ...] = ()
    unacknowledge: bool = False
    close: bool = False


def start(alert_id: str, policy: Policy, now: datetime) -> Escalation:
    if not policy.rules:
        return Escalation(alert_id, policy, now, state=State.DONE)
    return Escalation(alert_id, policy, now, due_at=now + policy.rules[0].delay)


def _after_rule(escalation: Escalation, index: int) -> Escalation:
    rules = escalation.policy.rules
    if index + 1 < len(rules):
        due = escalation.cycle_start + rules[index + 1].delay
    else:
        repeat = escalation.policy.repeat
        due = escalation.cycle_start + rules[-1].delay + (repeat.after if repeat else timedelta())
    return dataclasses.replace(escalation, next_rule=index + 1, due_at=due)


def step(escalation: Escalation, alert: Alert, now: datetime) -> Step:
    """The due step: the next rule, or the end of a cycle (a repeat, or the end)."""
    if escalation.state is not State.ACTIVE or alert.status is Status.CLOSED:
        return Step(dataclasses.replace(escalation, state=State.DONE, due_at=None))
    rules = escalation.policy.rules
    index = escalation.next_rule
    if index < len(rules):
        rule = rules[index]
        pages = rule.condition is Condition.NOT_CLOSED or not alert.acknowledged
        moved = _after_rule(escalation, index)
        if not pages:
            return Step(moved)
        targets = ", ".join(t.describe() for t in rule.targets)
        change = Change(
            "escalated",
            after={"rule": index + 1, "cycle": escalation.cycle, "targets": targets},
        )
        return Step(moved, index, (change,))
    repeat = escalation.policy.repeat
    if repeat is not None and escalation.cycle < repeat.times:
        cycle = escalation.cycle + 1
        again = dataclasses.replace(
            escalation,
            cycle=cycle,
            cycle_start=now,
            next_rule=0,
            due_at=now + rules[0].delay,
        )
        change = Change("escalation repeated", after={"cycle": cycle, "of": repeat.times})
        unack = repeat.reset_acknowledgement and alert.acknowledged
        return Step(again, None, (change,), unacknowledge=unack)
    done = dataclasses.replace(escalation, state=State.DONE, due_at=None)
    close = repeat is not None and repeat.close_after_last
    return Step(
        done,
        None,
        (Change("escalation finished", after={"cycles": escalation.cycle + 1}),),
        close=close,
    )


def nobody_paged(escalation: Escalation, now: datetime) -> Escalation:
    """A rule found nobody to page (an empty schedule): the next rule is due at once. The wait
    before a repeat is kept, or every repeat would run at once, before anyone came on call."""
    if escalation.due_at is None or escalation.next_rule >= len(escalation.policy.rules):
        return escalation
    return dataclasses.replace(escalation, due_at=min(escalation.due_at, now))


def escalate_now(escalation: Escalation, now: datetime) -> Escalation | None:
    """`EscalateToNext`: whatever is next happens now; None when nothing is left."""
    if escalation.state is not State.ACTIVE or escalation.due_at is None:
        return None
    return dataclasses.replace(escalation, due_at=now)


def restart(escalation: Escalation, now: datetime) -> Escalation:
    """From the first rule, as if the alert had just fired (the cycle count is kept, so
    repeats stay bounded)."""
    if not escalation.policy.rules:
        return dataclasses.replace(escalation, state=State.DONE, due_at=None)
    return dataclasses.replace(
        escalation,
        cycle_start=now,
        run=escalation.run + 1,
        next_rule=0,
        due_at=now + escalation.policy.rules[0].delay,
        state=State.ACTIVE,
    )


@dataclass(frozen=True)
class Reaction:
    """What a change to the alert does: cancel its pending pages, and the new escalation
    (None: unchanged)."""

    cancel_pages: bool = False
    escalation: Escalation | None = None


def react(before: Alert, after: Alert, escalation: Escalation, now: datetime) -> Reaction:
    if after.status is Status.CLOSED:
        if before.status is Status.CLOSED:
            return Reaction()
        return Reaction(True, dataclasses.replace(escalation, state=State.DONE, due_at=None))
    if after.snoozed_until is not None and after.snoozed_until != before.snoozed_until:
        return Reaction(True, dataclasses.replace(escalation, state=State.PAUSED, due_at=None))
    if after.acknowledged and not before.acknowledged:
        if escalation.state is State.PAUSED and after.snoozed_until is None:
            # Acknowledging ends a snooze: rules that page until closed must run again.
            return Reaction(True, restart(escalation, now))
        return Reaction(True)  # rules that page until the alert is closed still run
    woke = before.snoozed_until is not None and after.snoozed_until is None
    unacked = before.acknowledged and not after.acknowledged
    if (woke or unacked) and not after.acknowledged and after.snoozed_until is None:
        return Reaction(False, restart(escalation, now))
    return Reaction()

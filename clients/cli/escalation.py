"""`tocsin policies ...`, `tocsin routing get|set` and `tocsin alerts escalate|pages`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from clients.cli import render
from clients.cli.alert_arguments import actor_options, ref_options
from clients.cli.alerts import alert_ref
from clients.cli.arguments import (
    UsageError,
    duration,
    duration_text,
    duration_within,
    given_name,
    name_argument,
    read_text,
    whole_number,
)
from clients.cli.parser import Commands, add_object_commands
from service.alerts.model import RefKind
from service.core import loader
from service.escalation.model import Repeat
from service.escalation.usecases import (
    DELAY_MAX,
    REPEAT_TIMES_MAX,
    EscalationRuleSpec,
    PolicySpec,
    RoutingSpec,
)

if TYPE_CHECKING:
    from clients.client import TocsinClient

NOT_CLOSED = "until-closed"
_delay = duration_within(timedelta(), DELAY_MAX)  # a rule's delay, or a repeat's


def rule(text: str) -> EscalationRuleSpec:
    """`DELAY KIND:NAME [KIND:NAME...] [until-closed]`, e.g. `5m schedule:ops user:bob`."""
    words = text.split()
    if len(words) < 2:
        raise argparse.ArgumentTypeError(
            f"expected DELAY KIND:NAME..., such as '5m schedule:ops-oncall', not {text!r}"
        )
    condition = "not-acknowledged"
    if words[-1] == NOT_CLOSED:
        condition = "not-closed"
        words = words[:-1]
    targets = []
    for word in words[1:]:
        kind, sep, name = word.partition(":")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"expected KIND:NAME such as user:alice, not {word!r}")
        targets.append((kind, name))
    return EscalationRuleSpec(_delay(words[0]), tuple(targets), condition)


RULE_HELP = (
    "DELAY KIND:NAME... [until-closed], e.g. '0 user:alice' or '5m schedule:ops-oncall' "
    "(kinds: user, schedule, schedule-next, schedule-previous, team, team-members; "
    "DELAY 0 to 1d); repeatable, in order"
)


def _spec(args: argparse.Namespace) -> PolicySpec:
    repeat = None
    # Any repeat option makes a repeat, which the server checks whole: a reset without a
    # count is refused there, not dropped here.
    if (
        args.repeat_after is not None
        or args.repeat_times
        or args.reset_acknowledgement
        or args.close_after_last
    ):
        repeat = Repeat(
            args.repeat_after or duration("0"),
            args.repeat_times,
            args.reset_acknowledgement,
            args.close_after_last,
        )
    return PolicySpec(args.name, args.team or "", args.description or "", tuple(args.rule), repeat)


def policy_detail(out: TextIO, spec: PolicySpec) -> None:
    out.write(f"policy:  {spec.name}\nteam:    {spec.team}\n")
    if spec.description:
        out.write(f"about:   {spec.description}\n")
    for index, r in enumerate(spec.rules, 1):
        targets = ", ".join(f"{kind} {name}" for kind, name in r.targets)
        until = " (until closed)" if r.condition == "not-closed" else ""
        out.write(f"rule {index}: after {duration_text(r.delay)}, page {targets}{until}\n")
    if spec.repeat is not None:
        extra = [
            "resetting acknowledgement" if spec.repeat.reset_acknowledgement else "",
            "closing after the last" if spec.repeat.close_after_last else "",
        ]
        out.write(
            f"repeat:  after {duration_text(spec.repeat.after)}, {spec.repeat.times} more time(s)"
            + "".join(f", {e}" for e in extra if e)
            + "\n"
        )


async def policies_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    args.name = given_name(args, "policy")
    spec = await client.create_policy(_spec(args))
    render.write_json(out, spec) if args.json else policy_detail(out, spec)


def _changes(args: argparse.Namespace) -> tuple[PolicySpec, list[str]]:
    """The spec an update sends, and the fields of it to apply: only those given."""
    fields = [
        name
        for name, value in (
            ("name", args.name),
            ("team", args.team),
            ("description", args.description),
            ("rules", args.rule),
            ("repeat.after", args.repeat_after),
            ("repeat.times", args.repeat_times),
            ("repeat.reset_acknowledgement", args.reset_acknowledgement),
            ("repeat.close_after_last", args.close_after_last),
        )
        if value is not None
    ]
    if args.clear_repeat:
        if any(field.startswith("repeat.") for field in fields):
            raise UsageError("--clear-repeat removes the repeat: give no other --repeat option")
        fields.append("repeat")
    if not fields:
        raise UsageError("nothing to change: give at least one option (see --help)")
    repeat = None
    if not args.clear_repeat:
        repeat = Repeat(
            args.repeat_after or duration("0"),
            args.repeat_times or 0,
            bool(args.reset_acknowledgement),
            bool(args.close_after_last),
        )
    spec = PolicySpec(
        args.name or "",
        args.team or "",
        args.description or "",
        tuple(args.rule or ()),
        repeat,
    )
    return spec, fields


async def policies_update(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    spec, fields = _changes(args)
    changed = await client.update_policy(args.policy, spec, fields)
    render.write_json(out, changed) if args.json else policy_detail(out, changed)


async def policies_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    spec = await client.get_policy(args.policy)
    render.write_json(out, spec) if args.json else policy_detail(out, spec)


async def policies_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    specs = await client.list_policies(args.team or "")
    if args.json:
        render.write_json(out, specs)
        return
    render.table(
        out,
        ["NAME", "TEAM", "RULES", "REPEATS"],
        [
            [s.name, s.team, str(len(s.rules)), str(s.repeat.times if s.repeat else 0)]
            for s in specs
        ],
    )


async def policies_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_policy(args.policy)
    render.deleted(out, args.json, "policy", args.policy)


def _yaml(condition: Mapping[str, Any]) -> str:
    """A condition as the routing file writes it, on one line."""
    import yaml

    text = yaml.safe_dump(render.plain(condition), default_flow_style=True, sort_keys=False)
    return " ".join(text.split())


def routing_detail(out: TextIO, spec: RoutingSpec) -> None:
    out.write(f"team:      {spec.team}\ntime zone: {spec.time_zone}\n")
    for index, r in enumerate(spec.rules, 1):
        parts = [f"rule {index} {r.name}: -> {r.policy}"]
        if r.when:
            parts.append(f"when {_yaml(r.when)}")
        if r.windows:
            parts.append(f"during {', '.join(r.windows)}")
        out.write(" ".join(parts) + "\n")
    out.write(f"otherwise: {spec.default_policy or 'the team on-call, at once'}\n")
    if spec.default_schedule:
        out.write(f"team on-call schedule: {spec.default_schedule}\n")


async def routing_set(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    # The file format is imported by the command that reads it, not at every start.
    from clients.manifest.schema import routing_file

    text = await asyncio.to_thread(read_text, args.file)
    data = loader.yaml_document(args.file, text)
    spec = await client.set_routing(routing_file(args.team_name, data, args.file))
    render.write_json(out, spec) if args.json else routing_detail(out, spec)


async def routing_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    spec = await client.get_routing(args.team_name)
    render.write_json(out, spec) if args.json else routing_detail(out, spec)


async def _alert(client: TocsinClient, args: argparse.Namespace) -> str:
    """The alert named as every alert command names it; by alias, the service is asked."""
    ref = alert_ref(args)
    if ref.kind is RefKind.ALIAS:
        return (await client.get_alert(ref)).id
    return str(args.ref)


async def alerts_escalate(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    alert = await _alert(client, args)
    await client.escalate_to_next(alert, args.user or "")
    render.write_json(out, {"escalated": alert}) if args.json else out.write(
        f"alert {alert}: the next escalation step runs now\n"
    )


async def alerts_pages(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    pages = await client.list_pages(await _alert(client, args))
    if args.json:
        render.write_json(out, pages)
        return
    render.table(
        out,
        ["DUE", "SENT", "USER", "CHANNEL", "STATE", "TRIES", "DETAIL"],
        [
            [
                render.when(p.due_at),
                render.when(p.sent_at),
                p.username,
                p.channel.value,
                p.state.value,
                str(p.attempts),
                p.detail,
            ]
            for p in pages
        ],
    )


# The parser


def add_commands(commands: Commands, common: argparse.ArgumentParser, alerts: Commands) -> None:
    """Registers `tocsin policies ...` and `tocsin routing ...`, and adds `escalate` and
    `pages` to the `alerts` actions."""
    policies = commands.add_parser("policies", help="escalation policies")
    actions = policies.add_subparsers(dest="policies_command", required=True, metavar="ACTION")
    _create_command(actions, common)
    _update_command(actions, common)
    listing = actions.add_parser("list", parents=[common], help="list policies")
    listing.add_argument("--team", help="only this team's policies (default: every team's)")
    listing.set_defaults(run=policies_list)
    add_object_commands(
        actions,
        common,
        "policy",
        (
            ("get", policies_get, "show a policy"),
            ("delete", policies_delete, "delete a policy routing does not use"),
        ),
        help="name or id",
    )
    _routing_commands(commands, common)
    _alert_commands(alerts, common)


def _create_command(actions: Commands, common: argparse.ArgumentParser) -> None:
    create = actions.add_parser("create", parents=[common], help="create a policy")
    name_argument(create, "policy")
    create.add_argument("--team", help="owner team (default: default)")
    create.add_argument("--description", help="what the policy is for")
    create.add_argument("--rule", type=rule, action="append", required=True, help=RULE_HELP)
    create.add_argument(
        "--repeat-after",
        type=_delay,
        metavar="DURATION",
        help="how long after the last rule's delay the rules run again, e.g. 10m; at most "
        "1d (default 0)",
    )
    create.add_argument(
        "--repeat-times",
        type=whole_number(0, REPEAT_TIMES_MAX),
        default=0,
        help=f"how many more times the rules run, 0-{REPEAT_TIMES_MAX} (default 0)",
    )
    create.add_argument(
        "--reset-acknowledgement",
        action="store_true",
        help="an acknowledged alert is unacknowledged when its rules run again",
    )
    create.add_argument(
        "--close-after-last",
        action="store_true",
        help="close the alert when the last repeat has run out, if still open",
    )
    create.set_defaults(run=policies_create)


def _update_command(actions: Commands, common: argparse.ArgumentParser) -> None:
    update = actions.add_parser(
        "update",
        parents=[common],
        help="change what is given of a policy; the rest stays (alerts already paging keep theirs)",
    )
    update.add_argument("policy", help="the policy to change (name or id)")
    update.add_argument("--name", help="rename it")
    update.add_argument("--team", help="move it to this team (default: it stays in its own)")
    update.add_argument("--description", help="what the policy is for")
    update.add_argument(
        "--rule", type=rule, action="append", help=RULE_HELP + "; replaces all its rules"
    )
    update.add_argument(
        "--repeat-after",
        type=_delay,
        metavar="DURATION",
        help="how long after the last rule's delay the rules run again, e.g. 10m; at most 1d",
    )
    update.add_argument(
        "--repeat-times",
        type=whole_number(0, REPEAT_TIMES_MAX),
        help=f"how many more times the rules run, 0-{REPEAT_TIMES_MAX}",
    )
    update.add_argument(
        "--reset-acknowledgement",
        action=argparse.BooleanOptionalAction,
        help="whether an acknowledged alert is unacknowledged when its rules run again",
    )
    update.add_argument(
        "--close-after-last",
        action=argparse.BooleanOptionalAction,
        help="whether to close the alert when the last repeat has run out, if still open",
    )
    update.add_argument(
        "--clear-repeat", action="store_true", help="remove the repeat: the rules run once"
    )
    update.set_defaults(run=policies_update)


def _routing_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    routing = commands.add_parser("routing", help="which policy a team's alerts follow")
    routing_actions = routing.add_subparsers(
        dest="routing_command", required=True, metavar="ACTION"
    )
    get = routing_actions.add_parser("get", parents=[common], help="show a team's routing")
    get.add_argument("team_name", metavar="TEAM", help="name or id")
    get.set_defaults(run=routing_get)
    put = routing_actions.add_parser(
        "set", parents=[common], help="replace a team's routing from a YAML file"
    )
    put.add_argument("team_name", metavar="TEAM", help="name or id")
    put.add_argument(
        "-f", "--file", required=True, help="YAML with time_zone, rules and default_policy"
    )
    put.set_defaults(run=routing_set)


def _alert_commands(alerts: Commands, common: argparse.ArgumentParser) -> None:
    escalate = alerts.add_parser(
        "escalate", parents=[common], help="run the alert's next escalation step now"
    )
    ref_options(escalate)
    actor_options(escalate, note=False)
    escalate.set_defaults(run=alerts_escalate)
    pages = alerts.add_parser("pages", parents=[common], help="every page of an alert")
    ref_options(pages)
    pages.set_defaults(run=alerts_pages)

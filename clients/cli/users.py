"""`tocsin users ...`: the people paged, their contact methods and the rules that page them."""

from __future__ import annotations

import argparse
import io
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

from clients.cli import render
from clients.cli.arguments import OptionError, duration_text, whole_number
from clients.cli.parser import Commands, add_object_commands
from service.people.model import Channel, NotificationRule, NotificationStep, User, effective_rule
from service.people.usecases import DELAY_MAX_MINUTES, REPEAT_TIMES_MAX, RULE_KINDS

if TYPE_CHECKING:
    from clients.client import TocsinClient


def _user_detail(out: TextIO, user: User) -> None:
    out.write(f"username:   {user.username}\n")
    out.write(f"id:         {user.id}\n")
    out.write(f"full name:  {user.full_name or '-'}\n")
    out.write(f"time zone:  {user.time_zone}\n")
    out.write(f"role:       {user.role.value}\n")
    out.write("contact methods:\n")
    methods = [[m.name, m.channel.value, m.address] for m in user.contact_methods]
    _indented(out, methods or [["(none)"]])
    for kind in RULE_KINDS:
        rule = effective_rule(user, high_priority=kind == "high_priority")
        own = getattr(user.notification_rules, kind) is not None
        label = kind.replace("_", " ")
        out.write(f"{label} rule{'' if own else ' (not set: uses this)'}:\n")
        if not rule.steps:
            out.write("  nothing: no contact method to page\n")
        _indented(
            out,
            [
                [f"after {duration_text(timedelta(minutes=s.delay_minutes))}", s.contact_method]
                for s in rule.steps
            ],
        )
        if rule.repeat_times:
            again = duration_text(timedelta(minutes=rule.repeat_minutes))
            out.write(f"  again every {again}, {rule.repeat_times} more times\n")


def _indented(out: TextIO, rows: list[list[str]]) -> None:
    """Rows under a heading, two spaces in, their columns aligned."""
    if not rows:
        return
    lines = io.StringIO()
    render.table(lines, rows[0], rows[1:])
    for line in lines.getvalue().splitlines():
        out.write(f"  {line}\n")


def _show_user(out: TextIO, args: argparse.Namespace, user: User) -> None:
    render.write_json(out, user) if args.json else _user_detail(out, user)


async def users_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    user = await client.create_user(
        args.username,
        full_name=args.full_name or "",
        time_zone=args.time_zone or "",
        role=args.role or "",
    )
    _show_user(out, args, user)


async def users_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    users = await client.list_users()
    if args.json:
        render.write_json(out, users)
        return
    render.table(
        out,
        ["USERNAME", "FULL NAME", "TIME ZONE", "ROLE", "CONTACT METHODS"],
        [
            [
                u.username,
                u.full_name,
                u.time_zone,
                u.role.value,
                ", ".join(f"{m.channel.value}:{m.name}" for m in u.contact_methods),
            ]
            for u in users
        ],
    )


async def users_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    _show_user(out, args, await client.get_user(args.user))


async def users_update(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    user = await client.update_user(
        args.user, full_name=args.full_name, time_zone=args.time_zone, role=args.role
    )
    _show_user(out, args, user)


async def users_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_user(args.user)
    render.deleted(out, args.json, "user", args.user)


async def users_add_contact(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    user = await client.add_contact_method(args.user, args.channel, args.address, args.name or "")
    _show_user(out, args, user)


async def users_remove_contact(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    _show_user(out, args, await client.remove_contact_method(args.user, args.contact_method))


def _step(text: str) -> NotificationStep:
    """`METHOD` or `METHOD:MINUTES`."""
    name, _, minutes = text.partition(":")
    if not name or (minutes and not minutes.isdigit()):
        raise argparse.ArgumentTypeError(
            f"expected CONTACT_METHOD or CONTACT_METHOD:MINUTES, such as sms:1, not {text!r}"
        )
    if int(minutes or 0) > DELAY_MAX_MINUTES:
        raise argparse.ArgumentTypeError(
            f"the minutes must be 0-{DELAY_MAX_MINUTES} (got {text!r})"
        )
    return NotificationStep(name, int(minutes or 0))


async def users_set_rule(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    if args.default:
        if args.step:
            raise OptionError("--step", "give steps or --default, not both")
        rule = None
    else:
        if not args.step:
            raise OptionError("--step", "give at least one step, or --default")
        rule = NotificationRule(tuple(args.step), args.repeat_minutes, args.repeat_times)
    _show_user(out, args, await client.set_notification_rule(args.user, args.kind, rule))


# The parser


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `tocsin users ...`."""
    users = commands.add_parser("users", help="manage users and how they are paged")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="create a user")
    create.add_argument("username", help="what they log in and are named by")
    create.add_argument("--full-name", help="their name as people say it")
    create.add_argument("--time-zone", help="IANA zone, e.g. Europe/Berlin (default UTC)")
    create.add_argument("--role", choices=["admin", "user"], help="their role (default user)")
    create.set_defaults(run=users_create)
    actions.add_parser("list", parents=[common], help="list users").set_defaults(run=users_list)
    add_object_commands(
        actions,
        common,
        "user",
        (
            ("get", users_get, "show a user, their contact methods and rules"),
            ("delete", users_delete, "delete a user who is in no schedule"),
        ),
        help="username or id",
    )
    update = actions.add_parser("update", parents=[common], help="change a user's details")
    update.add_argument("user", help="username or id")
    update.add_argument("--full-name", help="a new full name (default: unchanged)")
    update.add_argument("--time-zone", help="a new IANA zone (default: unchanged)")
    update.add_argument("--role", choices=["admin", "user"], help="a new role (default: unchanged)")
    update.set_defaults(run=users_update)
    add = actions.add_parser("add-contact", parents=[common], help="add a contact method")
    add.add_argument("user", help="username or id")
    add.add_argument(
        "--channel", required=True, choices=[c.value for c in Channel], help="how to reach them"
    )
    add.add_argument("--address", required=True, help="email, E.164 number or device token")
    add.add_argument("--name", help="what rules call it (default: the channel)")
    add.set_defaults(run=users_add_contact)
    remove = actions.add_parser("remove-contact", parents=[common], help="remove a contact method")
    remove.add_argument("user", help="username or id")
    remove.add_argument("contact_method", metavar="CONTACT_METHOD", help="its name or id")
    remove.set_defaults(run=users_remove_contact)
    _rule_command(actions, common)


def _rule_command(actions: Commands, common: argparse.ArgumentParser) -> None:
    rule = actions.add_parser(
        "set-rule", parents=[common], help="set how a user is paged (or restore the default)"
    )
    rule.add_argument("user", help="username or id")
    rule.add_argument(
        "--kind",
        choices=RULE_KINDS,
        default="new_alert",
        help="which rule: for new alerts, or for P1-P2 ones (default new_alert)",
    )
    rule.add_argument(
        "--step",
        type=_step,
        action="append",
        default=[],
        help="CONTACT_METHOD[:MINUTES], whole minutes after the alert (default 0); "
        "in order (repeatable)",
    )
    rule.add_argument(
        "--repeat-minutes",
        type=whole_number(0, DELAY_MAX_MINUTES),
        default=0,
        help=f"start the steps again every this many whole minutes, 0-{DELAY_MAX_MINUTES} "
        "(default 0)",
    )
    rule.add_argument(
        "--repeat-times",
        type=whole_number(0, REPEAT_TIMES_MAX),
        default=0,
        help=f"how many more times (0-{REPEAT_TIMES_MAX})",
    )
    rule.add_argument("--default", action="store_true", help="restore the default rule")
    rule.set_defaults(run=users_set_rule)

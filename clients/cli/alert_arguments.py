"""The arguments of `tocsin alerts ...`: what each command takes, and the options naming an
alert and the actor that other command groups share."""

from __future__ import annotations

import argparse
from datetime import timedelta

from clients.cli.alerts import (
    ACTIONS,
    alerts_create,
    alerts_detail,
    alerts_get,
    alerts_list,
    alerts_log,
    alerts_watch,
)
from clients.cli.arguments import (
    alert_priority,
    alert_responder,
    duration_within,
    instant,
    key_value,
    whole_number,
)
from clients.cli.parser import Commands
from service.alerts.model import Priority, SortField
from service.alerts.usecases import ALERTS_PAGE_MAX
from service.core.validation import RESPONDER_TYPES, SNOOZE_MAX


def actor_options(parser: argparse.ArgumentParser, note: bool = True) -> None:
    parser.add_argument("--user", default="", help="who is doing this (default: the token's name)")
    if note:
        parser.add_argument("--note", default="", help="a note to record with the change")


def ref_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", nargs="?", metavar="ALERT", help="alert id or tiny id (12 or #12)")
    parser.add_argument("--alias", help="find the alert by its alias instead")
    parser.add_argument("--team", help="the alias's team (default: default)")


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> Commands:
    """Registers `tocsin alerts ...`; returns its actions, for the escalation commands."""
    alerts = commands.add_parser("alerts", help="create, find and act on alerts")
    alert_commands: Commands = alerts.add_subparsers(
        dest="alerts_command", required=True, metavar="ACTION"
    )
    _create_command(alert_commands, common)
    _list_command(alert_commands, common)
    get = alert_commands.add_parser("get", parents=[common], help="show one alert")
    ref_options(get)
    get.set_defaults(run=alerts_get)
    _response_commands(alert_commands, common)
    _edit_commands(alert_commands, common)

    log = alert_commands.add_parser("log", parents=[common], help="show an alert's activity")
    ref_options(log)
    log.add_argument(
        "--wide", action="store_true", help="show each change in full (default: cut at 70)"
    )
    log.set_defaults(run=alerts_log)

    watch = alert_commands.add_parser("watch", parents=[common], help="stream alert changes")
    watch.add_argument("--team", help="only this team's alerts (default: every team's)")
    watch.add_argument(
        "--resume",
        metavar="N",
        help="continue after the change each line ends with `--resume N` (default: from now)",
    )
    watch.set_defaults(run=alerts_watch)
    return alert_commands


def _create_command(alert_commands: Commands, common: argparse.ArgumentParser) -> None:
    create = alert_commands.add_parser("create", parents=[common], help="create an alert")
    create.add_argument("--message", required=True, help="what happened (at most 130 characters)")
    create.add_argument("--alias", help="dedup key (default: the alert id)")
    create.add_argument(
        "--priority",
        type=alert_priority,
        default=Priority.P3,
        help="P1 (highest) to P5 (default P3)",
    )
    create.add_argument("--description", help="more about it (at most 15,000 characters)")
    create.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    create.add_argument(
        "--detail",
        type=key_value,
        action="append",
        default=[],
        metavar="K=V",
        help="a detail (repeatable)",
    )
    create.add_argument("--entity", help="what it is about, e.g. a host")
    create.add_argument("--source", help="where it comes from (default: the caller)")
    create.add_argument("--team", help="owner team (default: default)")
    create.add_argument(
        "--responder",
        type=alert_responder,
        action="append",
        default=[],
        metavar="TYPE:NAME",
        help=f"who to page besides the routing; TYPE is one of {', '.join(RESPONDER_TYPES)} "
        "(repeatable)",
    )
    create.add_argument(
        "--action", action="append", default=[], help="a custom action (repeatable)"
    )
    actor_options(create)
    create.set_defaults(run=alerts_create)


def _list_command(alert_commands: Commands, common: argparse.ArgumentParser) -> None:
    listing = alert_commands.add_parser("list", parents=[common], help="list alerts")
    listing.add_argument(
        "--status",
        action="append",
        default=[],
        choices=["open", "closed"],
        help="only alerts in this state (repeatable; default: any)",
    )
    listing.add_argument(
        "--ack", choices=["acked", "unacked"], help="only acknowledged or unacknowledged alerts"
    )
    listing.add_argument(
        "--priority",
        type=alert_priority,
        action="append",
        default=[],
        help="only this priority, P1 to P5 (repeatable; default: any)",
    )
    listing.add_argument("--tag", action="append", default=[], help="alerts with every such tag")
    listing.add_argument("--team", help="only this owner team's alerts (default: every team's)")
    listing.add_argument("--query", help="text the message contains")
    listing.add_argument(
        "--sort",
        default="created_at",
        choices=[f.value for f in SortField],
        help="order by this field, newest or largest first (default created_at)",
    )
    listing.add_argument("--ascending", action="store_true", help="oldest or smallest first")
    listing.add_argument(
        "--limit",
        type=whole_number(1, ALERTS_PAGE_MAX),
        default=50,
        help=f"page size, 1-{ALERTS_PAGE_MAX} (default 50)",
    )
    listing.add_argument("--page-token", help="the page a previous listing said comes next")
    listing.add_argument("--all", action="store_true", help="fetch every page")
    listing.set_defaults(run=alerts_list)


def _response_commands(alert_commands: Commands, common: argparse.ArgumentParser) -> None:
    """ack, unack, close, snooze and note: what a responder does with an alert."""
    for name, text in (("ack", "acknowledge"), ("unack", "unacknowledge"), ("close", "close")):
        action = alert_commands.add_parser(name, parents=[common], help=f"{text} an alert")
        ref_options(action)
        actor_options(action)
        action.set_defaults(run=ACTIONS[name])

    snooze = alert_commands.add_parser("snooze", parents=[common], help="snooze (at most 7 days)")
    ref_options(snooze)
    snooze.add_argument(
        "--until", type=instant, help="ISO 8601 time, at most 7 days ahead (no offset = local)"
    )
    snooze.add_argument(
        "--for",
        dest="duration",
        type=duration_within(timedelta(seconds=1), SNOOZE_MAX),
        metavar="DURATION",
        help="e.g. 30m, 2h, 1d; at most 7d",
    )
    actor_options(snooze)
    snooze.set_defaults(run=ACTIONS["snooze"])

    note = alert_commands.add_parser("note", parents=[common], help="add a note")
    ref_options(note)
    note.add_argument("--text", required=True, help="the note")
    actor_options(note, note=False)
    note.set_defaults(run=ACTIONS["note"])


def _edit_commands(alert_commands: Commands, common: argparse.ArgumentParser) -> None:
    """tag, untag, detail and priority: changes to what the alert says."""
    for name, text in (("tag", "add tags to"), ("untag", "remove tags from")):
        tags = alert_commands.add_parser(name, parents=[common], help=f"{text} an alert")
        ref_options(tags)
        tags.add_argument(
            "--tag",
            dest="tags",
            action="append",
            default=[],
            metavar="TAG",
            help="a tag (repeatable)",
        )
        # The earlier spelling, still read so that scripts keep working.
        tags.add_argument("--tags", dest="tags", nargs="+", action="extend", help=argparse.SUPPRESS)
        actor_options(tags)
        tags.set_defaults(run=ACTIONS[name])

    detail = alert_commands.add_parser("detail", parents=[common], help="add or remove details")
    ref_options(detail)
    detail.add_argument(
        "--set",
        dest="pairs",
        type=key_value,
        nargs="+",
        action="extend",
        default=[],
        metavar="K=V",
        help="details to add or change (repeatable)",
    )
    detail.add_argument(
        "--remove",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY",
        help="details to remove (repeatable)",
    )
    actor_options(detail)
    detail.set_defaults(run=alerts_detail)

    priority = alert_commands.add_parser("priority", parents=[common], help="change the priority")
    ref_options(priority)
    priority.add_argument(
        "--level", type=alert_priority, required=True, help="the new priority, P1 (highest) to P5"
    )
    actor_options(priority)
    priority.set_defaults(run=ACTIONS["priority"])

"""The `tocsin` command line: the service's own `serve`, and a client for everything else.

Every client command prints a readable table, or JSON with `--json`; a failure prints one
line starting with `error:` and exits non-zero (1 for a refused or failed call, 2 for usage).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

from clients import directory_commands, escalation_commands, manifest_commands, render
from clients.arguments import UsageError, read_text, seconds, whole_number
from clients.arguments import duration as _duration
from clients.client import IntegrationInfo, IntegrationKey, TocsinClient, parse_ref
from service import config as configuration
from service import logs
from service.alerts import ALERTS_PAGE_MAX
from service.clock import SystemClock
from service.errors import FailedPrecondition, InvalidArgument, TocsinError
from service.migrations import LATEST_VERSION
from service.model import (
    ActivityEntry,
    AlertFilter,
    AlertQuery,
    AlertRef,
    IntegrationType,
    NewAlert,
    NewIntegration,
    Priority,
    RefKind,
    Responder,
    SortField,
    Status,
)
from service.tokens import ADMIN_TOKEN_FILE, read_token_file

DEFAULT_SERVER = "127.0.0.1:50051"
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[TocsinClient, argparse.Namespace, TextIO], Awaitable[None]]


# Parsing helpers


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _priority(text: str) -> Priority:
    try:
        return Priority.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _responder(text: str) -> Responder:
    kind, sep, name = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected TYPE:NAME (e.g. team:ops), got {text!r}")
    return Responder(kind, name)


def _instant(text: str) -> datetime:
    """ISO 8601; a time without a zone is taken in this machine's local zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-11-25T18:00:00Z, not {text!r}"
        ) from None
    return value.astimezone(UTC)


# Connection


def _token(args: argparse.Namespace) -> tuple[str, str]:
    """The token to call with, and where it came from (for messages about it)."""
    if args.token:
        return str(args.token), "--token"
    if os.environ.get("TOCSIN_TOKEN"):
        return os.environ["TOCSIN_TOKEN"], "TOCSIN_TOKEN"
    data_dir = args.data_dir or os.environ.get("TOCSIN_DATA_DIR") or ".tocsin"
    path = Path(data_dir) / ADMIN_TOKEN_FILE
    try:
        return read_token_file(path), str(path)
    except OSError:
        raise UsageError(
            f"no token: pass --token, set TOCSIN_TOKEN, or point --data-dir at the server's "
            f"data directory (no readable {path})"
        ) from None


def _client(args: argparse.Namespace) -> TocsinClient:
    server = args.server or os.environ.get("TOCSIN_SERVER") or DEFAULT_SERVER
    configuration.listen_address("--server", server)
    return TocsinClient(server, _token(args)[0], timeout=args.timeout)


def _ref(args: argparse.Namespace) -> AlertRef:
    if args.alias:
        if args.ref:
            raise UsageError("give either an alert id/tiny id or --alias, not both")
        return AlertRef(RefKind.ALIAS, args.alias, args.team or "")
    if not args.ref:
        raise UsageError("name the alert: an id, a tiny id, or --alias")
    return parse_ref(args.ref)


# Alert commands


async def alerts_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    alert = NewAlert(
        message=args.message,
        alias=args.alias or "",
        description=args.description or "",
        tags=tuple(args.tag),
        details=dict(args.detail),
        entity=args.entity or "",
        source=args.source or "",
        priority=args.priority,
        responders=tuple(args.responder),
        actions=tuple(args.action),
        owner_team=args.team or "",
    )
    result = await client.create_alert(alert, user=args.user, note=args.note)
    if args.json:
        render.write_json(out, result)
        return
    verb = "deduplicated into" if result.deduplicated else "created"
    out.write(f"{verb} alert #{result.alert.tiny_id} (count {result.alert.count})\n")
    out.write(render.paging(result) + "\n")
    render.alert_detail(out, result.alert)


async def alerts_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    acknowledged = {"acked": True, "unacked": False}.get(args.ack or "")
    query = AlertQuery(
        filter=AlertFilter(
            statuses=frozenset(Status(s) for s in args.status),
            acknowledged=acknowledged,
            priorities=frozenset(args.priority),
            tags=tuple(args.tag),
            team=args.team or "",
            text=args.query or "",
        ),
        sort=SortField(args.sort),
        descending=not args.ascending,
        page_size=args.limit,
        page_token=args.page_token or "",
    )
    page = await client.list_alerts(query)
    alerts = list(page.items)
    # A page may hold fewer than asked for (at most 3 MiB of alerts): fill up to the limit.
    while page.next_page_token and (args.all or len(alerts) < args.limit):
        size = query.page_size if args.all else args.limit - len(alerts)
        page = await client.list_alerts(
            AlertQuery(query.filter, query.sort, query.descending, size, page.next_page_token)
        )
        alerts.extend(page.items)
    if args.json:
        render.write_json(out, {"alerts": alerts, "next_page_token": page.next_page_token})
        return
    render.alerts_table(out, alerts)
    if page.next_page_token:
        out.write(f"(more: --page-token {page.next_page_token}, or --all)\n")


async def alerts_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    alert = await client.get_alert(_ref(args))
    if args.json:
        render.write_json(out, alert)
    else:
        render.alert_detail(out, alert)


def _action(verb: str, call: Callable[..., Awaitable[Any]]) -> Handler:
    async def handler(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
        result = await call(client, _ref(args), args)
        if args.json:
            render.write_json(out, result)
            return
        what = verb if result.changed else f"already {verb}; nothing changed"
        out.write(f"alert #{result.alert.tiny_id}: {what}\n")

    return handler


def _until(args: argparse.Namespace) -> datetime | timedelta:
    if (args.until is None) == (args.duration is None):
        raise UsageError("give exactly one of --until TIME or --for DURATION")
    return args.until if args.until is not None else args.duration  # type: ignore[no-any-return]


ACTIONS: dict[str, Handler] = {
    "ack": _action(
        "acknowledged",
        lambda c, r, a: c.acknowledge(r, user=a.user, note=a.note),
    ),
    "unack": _action(
        "unacknowledged",
        lambda c, r, a: c.unacknowledge(r, user=a.user, note=a.note),
    ),
    "close": _action("closed", lambda c, r, a: c.close_alert(r, user=a.user, note=a.note)),
    "snooze": _action("snoozed", lambda c, r, a: c.snooze(r, _until(a), user=a.user, note=a.note)),
    "note": _action("note added", lambda c, r, a: c.add_note(r, a.text, user=a.user)),
    "tag": _action("tagged", lambda c, r, a: c.add_tags(r, a.tags, user=a.user, note=a.note)),
    "untag": _action(
        "untagged", lambda c, r, a: c.remove_tags(r, a.tags, user=a.user, note=a.note)
    ),
    "priority": _action(
        "priority set",
        lambda c, r, a: c.update_priority(r, a.level, user=a.user, note=a.note),
    ),
}


async def alerts_detail(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    if bool(args.pairs) == bool(args.remove):
        # Two changes would be two calls, and the second could fail after the first landed.
        raise UsageError("give either --set KEY=VALUE... or --remove KEY..., one per call")
    ref = _ref(args)
    if args.pairs:
        result = await client.add_details(ref, dict(args.pairs), user=args.user, note=args.note)
    else:
        result = await client.remove_details(ref, args.remove, user=args.user, note=args.note)
    if args.json:
        render.write_json(out, result)
    else:
        out.write(f"alert #{result.alert.tiny_id}: details updated\n")


async def alerts_log(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    ref = _ref(args)
    entries: list[ActivityEntry] = []
    token = ""
    while True:
        page = await client.activity(ref, page_token=token)
        entries.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    if args.json:
        render.write_json(out, entries)
    else:
        render.activity_table(out, entries)


async def alerts_watch(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    async for event in client.watch(resume_cursor=args.resume or "", team=args.team or ""):
        if args.json:
            cursor = str(event.entry.seq)
            render.write_json(out, {"cursor": cursor, "entry": event.entry, "alert": event.alert})
            out.flush()
        else:
            render.event_line(out, event)


# Teams and tokens


async def teams_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    team = await client.create_team(args.name, args.description or "")
    render.write_json(out, team) if args.json else render.team_detail(out, team)


async def teams_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    teams = await client.list_teams()
    render.write_json(out, teams) if args.json else render.teams_table(out, teams)


async def teams_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    team = await client.get_team(args.team_name)
    render.write_json(out, team) if args.json else render.team_detail(out, team)


async def teams_rename(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    team = await client.rename_team(args.team_name, args.new_name)
    render.write_json(out, team) if args.json else render.team_detail(out, team)


async def teams_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_team(args.team_name)
    if args.json:
        render.write_json(out, {"deleted": args.team_name})
    else:
        out.write(f"deleted team {args.team_name}\n")


async def tokens_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    info, secret = await client.create_token(args.name)
    if args.json:
        render.write_json(out, {"token": secret, "info": info})
        return
    out.write(f"created token {info.id} ({info.name}); its secret, shown only now:\n{secret}\n")


async def tokens_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    tokens = await client.list_tokens()
    render.write_json(out, tokens) if args.json else render.tokens_table(out, tokens)


async def tokens_revoke(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    if not args.force:
        mine = await client.caller_token()
        if args.id == mine.id:
            raise FailedPrecondition(
                f"token {mine.id} ({mine.name}) is the one this command runs with "
                f"(from {_token(args)[1]}): once revoked, every command made with it fails; "
                "pass --force to revoke it anyway"
            )
    info = await client.revoke_token(args.id)
    render.write_json(out, info) if args.json else out.write(f"revoked token {info.id}\n")


# Integrations


def _integration_json(key_or_info: IntegrationKey | IntegrationInfo) -> dict[str, object]:
    info = key_or_info.info if isinstance(key_or_info, IntegrationKey) else key_or_info
    data: dict[str, object] = {
        "id": info.integration.id,
        "url": info.url,
        "integration": render.plain(info.integration),
    }
    if isinstance(key_or_info, IntegrationKey):
        # The URL to paste into SNS: with its key, shown this once.
        data.update(url=key_or_info.url_with_key, api_key=key_or_info.api_key)
    return data


def _shown_once(out: TextIO, what: str, key: IntegrationKey) -> None:
    integration = key.info.integration
    out.write(
        f"{what} integration {integration.name} ({integration.id}).\n"
        "Paste this URL into the SNS topic's HTTPS subscription; it is shown only now:\n"
        f"{key.url_with_key}\n"
    )


def _warn_if_unreachable(url: str) -> None:
    """A loopback URL is what the server shows without `public_url`: SNS cannot reach it."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        print(
            f"warning: this URL names {host}, which Amazon SNS cannot reach: set the server's "
            "public_url (TOCSIN_PUBLIC_URL) to its public HTTPS address; the key stays valid "
            "and `tocsin integrations get` then shows the new URL (add ?apiKey=KEY)",
            file=sys.stderr,
        )


async def integrations_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    new = NewIntegration(
        name=args.name,
        type=IntegrationType(args.type),
        team=args.team or "",
        assignee_team=args.assignee_team or "",
        topic_arns=tuple(args.topic_arn),
        min_signature_version=args.min_signature_version,
    )
    key = await client.create_integration(new)
    _warn_if_unreachable(key.info.url)
    if args.json:
        render.write_json(out, _integration_json(key))
    else:
        _shown_once(out, "created", key)


async def integrations_update(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    if args.topic_arn and args.clear_topic_arns:
        raise UsageError("give --topic-arn or --clear-topic-arns, not both")
    given = (
        ("name", args.name),
        ("type", args.type),
        ("team", args.team),
        ("assignee_team", args.assignee_team),
        ("topic_arns", args.topic_arn or ([] if args.clear_topic_arns else None)),
        ("min_signature_version", args.min_signature_version),
    )
    fields = [name for name, value in given if value is not None]
    if not fields:
        raise UsageError("nothing to change: give at least one option (see --help)")
    changes = NewIntegration(
        name=args.name or "",
        type=IntegrationType(args.type or IntegrationType.SNS.value),
        team=args.team or "",
        assignee_team=args.assignee_team or "",
        topic_arns=tuple(args.topic_arn or ()),
        min_signature_version=args.min_signature_version or 1,
    )
    info = await client.update_integration(args.integration, changes, fields)
    if args.json:
        render.write_json(out, _integration_json(info))
    else:
        render.integrations_table(out, [info])
        out.write("(its URL and API key are unchanged)\n")


async def integrations_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    found = await client.list_integrations(args.team or "")
    if args.json:
        render.write_json(out, [_integration_json(info) for info in found])
    else:
        render.integrations_table(out, found)


async def integrations_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    info = await client.get_integration(args.integration)
    if args.json:
        render.write_json(out, _integration_json(info))
    else:
        render.integrations_table(out, [info])


def _integration_switch(enabled: bool) -> Handler:
    async def handler(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
        info = await client.set_integration_enabled(args.integration, enabled)
        if args.json:
            render.write_json(out, _integration_json(info))
        else:
            state = "enabled" if enabled else "disabled"
            out.write(f"integration {info.integration.name}: {state}\n")

    return handler


async def integrations_rotate(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    key = await client.rotate_integration_key(args.integration)
    _warn_if_unreachable(key.info.url)
    if args.json:
        render.write_json(out, _integration_json(key))
    else:
        _shown_once(out, "new key for", key)


async def integrations_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_integration(args.integration)
    if args.json:
        render.write_json(out, {"deleted": args.integration})
    else:
        out.write(f"deleted integration {args.integration}\n")


async def integrations_set_rules(
    client: TocsinClient, args: argparse.Namespace, out: TextIO
) -> None:
    text = await asyncio.to_thread(read_text, args.file)
    try:
        stored = await client.set_integration_rules(args.integration, text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{args.file}: {exc.field}", exc.rule) from None
    if args.json:
        render.write_json(out, {"rules_yaml": stored})
    else:
        out.write(f"rules of integration {args.integration} replaced\n")


async def integrations_get_rules(
    client: TocsinClient, args: argparse.Namespace, out: TextIO
) -> None:
    text = await client.get_integration_rules(args.integration)
    if args.json:
        render.write_json(out, {"rules_yaml": text})
    else:
        out.write(text or "(no rules: each payload's defaults apply)\n")


async def integrations_test_rules(
    client: TocsinClient, args: argparse.Namespace, out: TextIO
) -> None:
    if (args.message is None) == (args.message_file is None):
        raise UsageError("give exactly one of --message TEXT or --message-file FILE")
    message = args.message
    if args.message_file is not None:
        message = await asyncio.to_thread(read_text, args.message_file)
    result = await client.test_integration_rules(args.integration, message, args.subject or "")
    if args.json:
        render.write_json(out, result)
        return
    out.write(f"matched: {', '.join(result.matched_rules) or 'nothing (ignored)'}\n")
    for action in result.actions:
        alert = action.alert
        line = f"{action.kind}: [{alert['priority']}] {alert['message']} (alias {alert['alias']})"
        out.write(line + (f" note: {action.note}" if action.note else "") + "\n")


# The parser


class _Parser(argparse.ArgumentParser):
    """Usage mistakes, like every other error, are one line starting with `error:`."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _common() -> _Parser:
    """Connection and output options, accepted before or after the command."""
    common = _Parser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument("--server", default=s, help="HOST:PORT (env TOCSIN_SERVER)")
    common.add_argument("--token", default=s, help="API token (env TOCSIN_TOKEN)")
    common.add_argument("--data-dir", default=s, help="read the admin token from this directory")
    common.add_argument("--json", action="store_true", default=s, help="print JSON")
    common.add_argument(
        "--timeout", type=seconds, default=s, help="seconds per call, more than 0 (default 10)"
    )
    return common


def _actor_options(parser: argparse.ArgumentParser, note: bool = True) -> None:
    parser.add_argument("--user", default="", help="who is doing this (default: the token's name)")
    if note:
        parser.add_argument("--note", default="", help="a note to record with the change")


def _ref_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", nargs="?", help="alert id or tiny id")
    parser.add_argument("--alias", help="find the alert by alias instead")
    parser.add_argument("--team", help="the alias's team (default: default)")


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML configuration file (env TOCSIN_CONFIG)")
    # Suppressed default: `tocsin --data-dir DIR serve` must not be undone by this flag's absence.
    parser.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="where the database lives (default ./.tocsin)"
    )
    parser.add_argument(
        "--database",
        help="postgresql://USER@HOST/DB to share with other replicas "
        "(env TOCSIN_DATABASE_URL; default: SQLite in the data directory)",
    )
    parser.add_argument("--log-format", help="auto, json or text")
    parser.add_argument("--log-level", help="debug, info, warning or error")


def _server_options(parser: argparse.ArgumentParser) -> None:
    _database_options(parser)
    parser.add_argument("--grpc-listen", help="HOST:PORT for gRPC (default 127.0.0.1:50051)")
    parser.add_argument("--http-listen", help="HOST:PORT for HTTP (default 127.0.0.1:8080)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tocsin",
        description="Tocsin: alert and on-call notification service.",
        parents=[_common()],
    )
    # set_defaults rewrites the defaults of the very action objects it finds, so the commands
    # get their own copy of the common options, whose defaults stay suppressed.
    parser.set_defaults(server=None, token=None, data_dir=None, json=False, timeout=10.0)
    common = _common()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service (gRPC, HTTP edge, engine)")
    _server_options(serve)
    server = commands.add_parser(
        "server",
        help="run the service without the public HTTP edge (a replica behind `tocsin shim`s)",
    )
    _server_options(server)
    migrate = commands.add_parser("migrate", help="bring the database's schema up to date")
    _database_options(migrate)

    shim_command = commands.add_parser(
        "shim", help="run the HTTP edge alone, in front of a service elsewhere"
    )
    shim_command.add_argument(
        "--grpc-target", help="the service, HOST:PORT (env TOCSIN_GRPC_TARGET)"
    )
    shim_command.add_argument(
        "--token", default=argparse.SUPPRESS, help="API token for the service (env TOCSIN_TOKEN)"
    )
    shim_command.add_argument("--config", type=Path, help="YAML file (its sns: section is used)")
    shim_command.add_argument("--http-listen", help="HOST:PORT for HTTP (default 127.0.0.1:8080)")
    shim_command.add_argument("--log-format", help="auto, json or text")
    shim_command.add_argument("--log-level", help="debug, info, warning or error")

    alerts = commands.add_parser("alerts", help="create, find and act on alerts")
    alert_commands = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")

    create = alert_commands.add_parser("create", parents=[common], help="create an alert")
    create.add_argument("--message", required=True)
    create.add_argument("--alias", help="dedup key (default: the alert id)")
    create.add_argument("--priority", type=_priority, default=Priority.P3, help="P1..P5")
    create.add_argument("--description")
    create.add_argument("--tag", action="append", default=[])
    create.add_argument("--detail", type=_key_value, action="append", default=[], metavar="K=V")
    create.add_argument("--entity")
    create.add_argument("--source")
    create.add_argument("--team", help="owner team (default: default)")
    create.add_argument(
        "--responder", type=_responder, action="append", default=[], metavar="TYPE:NAME"
    )
    create.add_argument("--action", action="append", default=[], help="a custom action")
    _actor_options(create)
    create.set_defaults(run=alerts_create)

    listing = alert_commands.add_parser("list", parents=[common], help="list alerts")
    listing.add_argument("--status", action="append", default=[], choices=["open", "closed"])
    listing.add_argument("--ack", choices=["acked", "unacked"])
    listing.add_argument("--priority", type=_priority, action="append", default=[])
    listing.add_argument("--tag", action="append", default=[], help="alerts with every such tag")
    listing.add_argument("--team")
    listing.add_argument("--query", help="text the message contains")
    listing.add_argument("--sort", default="created_at", choices=[f.value for f in SortField])
    listing.add_argument("--ascending", action="store_true")
    listing.add_argument(
        "--limit",
        type=whole_number(1, ALERTS_PAGE_MAX),
        default=50,
        help=f"page size, 1-{ALERTS_PAGE_MAX} (default 50)",
    )
    listing.add_argument("--page-token")
    listing.add_argument("--all", action="store_true", help="fetch every page")
    listing.set_defaults(run=alerts_list)

    get = alert_commands.add_parser("get", parents=[common], help="show one alert")
    _ref_options(get)
    get.set_defaults(run=alerts_get)

    for name, text in (("ack", "acknowledge"), ("unack", "unacknowledge"), ("close", "close")):
        action = alert_commands.add_parser(name, parents=[common], help=f"{text} an alert")
        _ref_options(action)
        _actor_options(action)
        action.set_defaults(run=ACTIONS[name])

    snooze = alert_commands.add_parser("snooze", parents=[common], help="snooze (at most 7 days)")
    _ref_options(snooze)
    snooze.add_argument("--until", type=_instant, help="ISO 8601 time")
    snooze.add_argument("--for", dest="duration", type=_duration, help="e.g. 30m, 2h, 1d")
    _actor_options(snooze)
    snooze.set_defaults(run=ACTIONS["snooze"])

    note = alert_commands.add_parser("note", parents=[common], help="add a note")
    _ref_options(note)
    note.add_argument("--text", required=True, help="the note")
    _actor_options(note, note=False)
    note.set_defaults(run=ACTIONS["note"])

    for name, text in (("tag", "add tags to"), ("untag", "remove tags from")):
        tags = alert_commands.add_parser(name, parents=[common], help=f"{text} an alert")
        _ref_options(tags)
        tags.add_argument(
            "--tags", nargs="+", action="extend", required=True, metavar="TAG", help="repeatable"
        )
        _actor_options(tags)
        tags.set_defaults(run=ACTIONS[name])

    detail = alert_commands.add_parser("detail", parents=[common], help="add or remove details")
    _ref_options(detail)
    detail.add_argument(
        "--set",
        dest="pairs",
        type=_key_value,
        nargs="+",
        action="extend",
        default=[],
        metavar="K=V",
        help="repeatable",
    )
    detail.add_argument(
        "--remove", nargs="+", action="extend", default=[], metavar="KEY", help="repeatable"
    )
    _actor_options(detail)
    detail.set_defaults(run=alerts_detail)

    priority = alert_commands.add_parser("priority", parents=[common], help="change the priority")
    _ref_options(priority)
    priority.add_argument("--level", type=_priority, required=True, help="P1..P5")
    _actor_options(priority)
    priority.set_defaults(run=ACTIONS["priority"])

    log = alert_commands.add_parser("log", parents=[common], help="show an alert's activity")
    _ref_options(log)
    log.set_defaults(run=alerts_log)

    watch = alert_commands.add_parser("watch", parents=[common], help="stream alert changes")
    watch.add_argument("--team", help="only this team's alerts")
    watch.add_argument("--resume", help="continue after this cursor")
    watch.set_defaults(run=alerts_watch)

    teams = commands.add_parser("teams", help="manage teams")
    team_commands = teams.add_subparsers(dest="teams_command", required=True, metavar="ACTION")
    team_create = team_commands.add_parser("create", parents=[common], help="create a team")
    team_create.add_argument("name")
    team_create.add_argument("--description")
    team_create.set_defaults(run=teams_create)
    team_commands.add_parser("list", parents=[common], help="list teams").set_defaults(
        run=teams_list
    )
    team_get = team_commands.add_parser("get", parents=[common], help="show a team")
    team_get.add_argument("team_name", metavar="TEAM")
    team_get.set_defaults(run=teams_get)
    team_rename = team_commands.add_parser("rename", parents=[common], help="rename a team")
    team_rename.add_argument("team_name", metavar="TEAM")
    team_rename.add_argument("new_name", metavar="NEW_NAME")
    team_rename.set_defaults(run=teams_rename)
    team_delete = team_commands.add_parser("delete", parents=[common], help="delete an empty team")
    team_delete.add_argument("team_name", metavar="TEAM")
    team_delete.set_defaults(run=teams_delete)

    integrations = commands.add_parser("integrations", help="manage SNS integrations")
    integration_commands = integrations.add_subparsers(
        dest="integrations_command", required=True, metavar="ACTION"
    )
    integration_create = integration_commands.add_parser(
        "create", parents=[common], help="create an integration and show its URL"
    )
    integration_create.add_argument("--name", required=True)
    integration_create.add_argument(
        "--type",
        required=True,
        choices=[kind.value for kind in IntegrationType],
        help="how deliveries are read: cloudtrail (log deliveries and CloudTrail events, also "
        "via EventBridge), cloudwatch (alarms), eventbridge (events), or sns (detect each "
        "payload by its shape); a delivery the type does not fit becomes a plain alert of its "
        "subject and text, with a note",
    )
    integration_create.add_argument("--team", help="owner team (default: default)")
    integration_create.add_argument("--assignee-team", help="the team that gets the alerts")
    integration_create.add_argument(
        "--topic-arn", action="append", default=[], help="an SNS topic to accept (repeatable)"
    )
    integration_create.add_argument("--min-signature-version", type=int, choices=[1, 2], default=1)
    integration_create.set_defaults(run=integrations_create)
    integration_update = integration_commands.add_parser(
        "update",
        parents=[common],
        help="change what is given of an integration; its URL and API key stay",
    )
    integration_update.add_argument("integration", metavar="INTEGRATION", help="id or name")
    integration_update.add_argument("--name", help="rename it")
    integration_update.add_argument("--type", choices=[kind.value for kind in IntegrationType])
    integration_update.add_argument("--team", help="move it to this owner team")
    integration_update.add_argument(
        "--assignee-team", help="the team that gets the alerts ('' for the owner team)"
    )
    integration_update.add_argument(
        "--topic-arn",
        action="append",
        help="the SNS topics to accept (repeatable; replaces the list)",
    )
    integration_update.add_argument(
        "--clear-topic-arns",
        action="store_true",
        help="accept the pinned topic (or the first to confirm a subscription) again",
    )
    integration_update.add_argument("--min-signature-version", type=int, choices=[1, 2])
    integration_update.set_defaults(run=integrations_update)
    integration_list = integration_commands.add_parser(
        "list", parents=[common], help="list integrations"
    )
    integration_list.add_argument("--team", help="only this owner team's")
    integration_list.set_defaults(run=integrations_list)
    set_rules = integration_commands.add_parser(
        "set-rules", parents=[common], help="replace an integration's rules from a YAML file"
    )
    set_rules.add_argument("integration", metavar="INTEGRATION", help="id or name")
    set_rules.add_argument("-f", "--file", required=True, help="YAML list of rules")
    set_rules.set_defaults(run=integrations_set_rules)
    test_rules = integration_commands.add_parser(
        "test-rules", parents=[common], help="show what the rules would do with a message"
    )
    test_rules.add_argument("integration", metavar="INTEGRATION", help="id or name")
    test_rules.add_argument("--message", help="the SNS Message text")
    test_rules.add_argument("--message-file", help="a file holding the SNS Message")
    test_rules.add_argument("--subject", help="the SNS Subject")
    test_rules.set_defaults(run=integrations_test_rules)
    for name, run, text in (
        ("get-rules", integrations_get_rules, "show an integration's rules"),
        ("get", integrations_get, "show an integration"),
        ("enable", _integration_switch(True), "enable an integration"),
        ("disable", _integration_switch(False), "disable an integration (its URL answers 403)"),
        ("rotate-key", integrations_rotate, "replace an integration's API key"),
        ("delete", integrations_delete, "delete an integration"),
    ):
        one = integration_commands.add_parser(name, parents=[common], help=text)
        one.add_argument("integration", metavar="INTEGRATION", help="id or name")
        one.set_defaults(run=run)

    directory_commands.add_commands(commands, common, team_commands)
    escalation_commands.add_commands(commands, common, alert_commands)
    manifest_commands.add_commands(commands, common)

    tokens = commands.add_parser("tokens", help="manage API tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    token_create = token_commands.add_parser("create", parents=[common], help="create a token")
    token_create.add_argument("name")
    token_create.set_defaults(run=tokens_create)
    token_commands.add_parser("list", parents=[common], help="list tokens").set_defaults(
        run=tokens_list
    )
    token_revoke = token_commands.add_parser("revoke", parents=[common], help="revoke a token")
    token_revoke.add_argument("id")
    token_revoke.add_argument(
        "--force", action="store_true", help="revoke it even if it is the token this command uses"
    )
    token_revoke.set_defaults(run=tokens_revoke)
    return parser


# Entry points


def _server_config(args: argparse.Namespace) -> configuration.Config:
    flags = {
        "data_dir": args.data_dir,
        "database_url": args.database,
        "grpc_listen": getattr(args, "grpc_listen", None),
        "http_listen": getattr(args, "http_listen", None),
        "log_format": args.log_format,
        "log_level": args.log_level,
    }
    return configuration.load(args.config, os.environ, flags)


def serve(args: argparse.Namespace) -> int:
    """`tocsin serve`, and `tocsin server`: the same service without the public HTTP edge."""
    # Imported here so client commands start without loading the server's HTTP stack.
    from service.server import TocsinServer

    cfg = _server_config(args)
    logs.configure(cfg.log_format, cfg.log_level)
    server = TocsinServer(cfg, SystemClock(), public_edge=args.command == "serve")
    asyncio.run(server.run_until_stopped())
    return 0


def migrate(args: argparse.Namespace, out: TextIO) -> int:
    from service.server import open_store

    cfg = _server_config(args)
    logs.configure(cfg.log_format, cfg.log_level)
    applied = asyncio.run(open_store(cfg, SystemClock()).migrate())
    for migration in applied:
        print(f"applied migration {migration}", file=out)
    print(f"the schema is up to date (version {LATEST_VERSION})", file=out)
    return 0


def shim(args: argparse.Namespace) -> int:
    from clients.shim import run_shim

    target = args.grpc_target or os.environ.get("TOCSIN_GRPC_TARGET")
    if not target:
        raise UsageError("give the service's address: --grpc-target HOST:PORT")
    configuration.listen_address("--grpc-target", target)
    token = args.token or os.environ.get("TOCSIN_TOKEN")
    if not token:
        raise UsageError("give the shim a token to call the service with: --token or TOCSIN_TOKEN")
    flags = {
        "http_listen": args.http_listen,
        "log_format": args.log_format,
        "log_level": args.log_level,
    }
    # The servers' own file, whose senders' secrets (SMTP, webhook, FCM) the shim never needs.
    cfg = configuration.load(args.config, os.environ, flags, sends_pages=False)
    logs.configure(cfg.log_format, cfg.log_level)
    asyncio.run(run_shim(target, token, cfg, SystemClock()))
    return 0


async def _run_client(args: argparse.Namespace, out: TextIO) -> None:
    async with _client(args) as client:
        await args.run(client, args, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("serve", "server", "shim", "migrate"):
            try:
                if args.command == "migrate":
                    return migrate(args, out)
                return shim(args) if args.command == "shim" else serve(args)
            except OSError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
        asyncio.run(_run_client(args, out))
    except (UsageError, configuration.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidArgument as exc:
        print(f"error: invalid {exc}", file=sys.stderr)
        return EXIT_FAILED
    except TocsinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`tocsin alerts ...`: create, find, act on and watch alerts.

Alerts are named by id or tiny id (`12` or `#12`), or with `--alias ALIAS [--team TEAM]`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from clients.cli import render
from clients.cli.arguments import OptionError, UsageError
from clients.cli.parser import Handler
from service.alerts.model import (
    ActivityEntry,
    AlertFilter,
    AlertQuery,
    AlertRef,
    NewAlert,
    RefKind,
    SortField,
    Status,
)

if TYPE_CHECKING:
    from clients.client import TocsinClient


def alert_ref(args: argparse.Namespace) -> AlertRef:
    if args.alias:
        if args.ref:
            raise UsageError("give either an alert id/tiny id or --alias, not both")
        return AlertRef(RefKind.ALIAS, args.alias, args.team or "")
    if not args.ref:
        raise UsageError("name the alert: an id, a tiny id, or --alias")
    from clients.client import parse_ref

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
    alert = await client.get_alert(alert_ref(args))
    if args.json:  # the shape create and every change print: the alert under "alert"
        render.write_json(out, {"alert": alert})
    else:
        render.alert_detail(out, alert)


def _action(verb: str, call: Callable[..., Awaitable[Any]]) -> Handler:
    async def handler(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
        if getattr(args, "tags", None) == []:
            raise OptionError("--tag", "give at least one tag")
        result = await call(client, alert_ref(args), args)
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
    ref = alert_ref(args)
    if args.pairs:
        result = await client.add_details(ref, dict(args.pairs), user=args.user, note=args.note)
    else:
        result = await client.remove_details(ref, args.remove, user=args.user, note=args.note)
    if args.json:
        render.write_json(out, result)
    else:
        out.write(f"alert #{result.alert.tiny_id}: details updated\n")


async def alerts_log(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    ref = alert_ref(args)
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
        render.activity_table(out, entries, wide=args.wide)


async def alerts_watch(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    async for event in client.watch(resume_cursor=args.resume or "", team=args.team or ""):
        if args.json:
            cursor = str(event.entry.seq)
            render.write_json(out, {"cursor": cursor, "entry": event.entry, "alert": event.alert})
            out.flush()
        else:
            render.event_line(out, event)

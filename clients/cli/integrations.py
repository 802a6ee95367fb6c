"""`tocsin integrations ...`: SNS, PagerDuty Events API, Alertmanager and webhook integrations,
their URLs and keys, and their rules."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import urllib.parse
from typing import TYPE_CHECKING, TextIO

from clients.cli import render
from clients.cli.arguments import UsageError, given_name, name_argument, read_text
from clients.cli.parser import Commands, Handler, add_object_commands
from service.core.errors import InvalidArgument
from service.ingest.model import EVENT_TYPES, IntegrationType, NewIntegration

if TYPE_CHECKING:
    from clients.client import IntegrationInfo, IntegrationKey, TocsinClient


def _integration_json(key_or_info: IntegrationKey | IntegrationInfo) -> dict[str, object]:
    from clients.client import IntegrationKey

    info = key_or_info.info if isinstance(key_or_info, IntegrationKey) else key_or_info
    data: dict[str, object] = {
        "id": info.integration.id,
        "url": info.url,
        "integration": render.plain(info.integration),
    }
    if isinstance(key_or_info, IntegrationKey):
        # The URL to paste into SNS or the sending tool: with its key, shown this once.
        data.update(url=key_or_info.url_with_key, api_key=key_or_info.api_key)
        if info.integration.type is IntegrationType.PAGERDUTY:
            data.update(routing_key=key_or_info.api_key)
    return data


_BEARER = "with this key as 'Authorization: Bearer <key>' (or ?apiKey=<key>), shown only now:"
# For each type whose key is sent apart from its URL: where the URL goes, and the key.
_KEYED = {
    IntegrationType.PAGERDUTY: (
        "Set the tool's PagerDuty Events API v2 URL to:",
        "and its integration key (routing_key) to this, shown only now:",
    ),
    IntegrationType.OPSGENIE: (
        "Set the tool's Opsgenie API URL to:",
        "and its Opsgenie API key (sent as 'Authorization: GenieKey <key>') to this, "
        "shown only now:",
    ),
    IntegrationType.ALERTMANAGER: (
        "Post Alertmanager's webhook (its receiver's webhook_configs url) to:",
        _BEARER,
    ),
    IntegrationType.WEBHOOK: ("Post any JSON object to:", _BEARER),
}


def shown_once(out: TextIO, what: str, key: IntegrationKey) -> None:
    integration = key.info.integration
    out.write(f"{what} integration {integration.name} ({integration.id}).\n")
    if integration.type in _KEYED:
        url_text, key_text = _KEYED[integration.type]
        out.write(f"{url_text}\n{key.url_with_key}\n{key_text}\n{key.api_key}\n")
        return
    out.write(
        "Paste this URL into the SNS topic's HTTPS subscription; it is shown only now:\n"
        f"{key.url_with_key}\n"
    )


def warn_if_unreachable(info: IntegrationInfo) -> None:
    """A loopback URL is what the server shows without `public_url`: SNS, or a monitoring tool
    elsewhere, cannot reach it."""
    host = urllib.parse.urlsplit(info.url).hostname or ""
    reaching, then = "Amazon SNS", "shows the new URL (add ?apiKey=KEY)"
    if info.integration.type in EVENT_TYPES:
        reaching, then = "a tool on another machine", "shows the new URL"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        print(
            f"warning: this URL names {host}, which {reaching} cannot reach: set the server's "
            "public_url (TOCSIN_PUBLIC_URL) to its public HTTPS address; the key stays valid "
            f"and `tocsin integrations get` then {then}",
            file=sys.stderr,
        )


def _show_new_key(out: TextIO, args: argparse.Namespace, what: str, key: IntegrationKey) -> None:
    """A new key, whether created or rotated: its URL checked, then shown once."""
    warn_if_unreachable(key.info)
    if args.json:
        render.write_json(out, _integration_json(key))
    else:
        shown_once(out, what, key)


async def integrations_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    new = NewIntegration(
        name=given_name(args, "integration"),
        type=IntegrationType(args.type),
        team=args.team or "",
        assignee_team=args.assignee_team or "",
        topic_arns=tuple(args.topic_arn),
        min_signature_version=args.min_signature_version,
    )
    _show_new_key(out, args, "created", await client.create_integration(new))


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
    _show_new_key(out, args, "new key for", await client.rotate_integration_key(args.integration))


async def integrations_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_integration(args.integration)
    render.deleted(out, args.json, "integration", args.integration)


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


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `tocsin integrations ...`."""
    integrations = commands.add_parser(
        "integrations",
        help="manage SNS, PagerDuty Events API, Alertmanager and webhook integrations",
    )
    integration_commands = integrations.add_subparsers(
        dest="integrations_command", required=True, metavar="ACTION"
    )
    _create_command(integration_commands, common)
    _update_command(integration_commands, common)
    integration_list = integration_commands.add_parser(
        "list", parents=[common], help="list integrations"
    )
    integration_list.add_argument("--team", help="only this owner team's (default: every team's)")
    integration_list.set_defaults(run=integrations_list)
    _rules_commands(integration_commands, common)
    add_object_commands(
        integration_commands,
        common,
        "integration",
        (
            ("get-rules", integrations_get_rules, "show an integration's rules"),
            ("get", integrations_get, "show an integration"),
            ("enable", _integration_switch(True), "enable an integration"),
            ("disable", _integration_switch(False), "disable an integration (its URL answers 403)"),
            ("rotate-key", integrations_rotate, "replace an integration's API key"),
            ("delete", integrations_delete, "delete an integration"),
        ),
        metavar="INTEGRATION",
        help="id or name",
    )


def _create_command(integration_commands: Commands, common: argparse.ArgumentParser) -> None:
    integration_create = integration_commands.add_parser(
        "create", parents=[common], help="create an integration and show its URL"
    )
    name_argument(integration_create, "integration")
    integration_create.add_argument(
        "--type",
        required=True,
        choices=[kind.value for kind in IntegrationType],
        help="how deliveries are read: cloudtrail (log deliveries and CloudTrail events, also "
        "via EventBridge), cloudwatch (alarms), eventbridge (events), or sns (detect each "
        "payload by its shape); a delivery the type does not fit becomes a plain alert of its "
        "subject and text, with a note; or pagerduty (PagerDuty Events API v2 events posted to "
        "/v2/enqueue with the integration key as their routing_key); or alertmanager (Prometheus "
        "Alertmanager's webhook) or webhook (any JSON object), posted to the integration's URL "
        "with the key as a bearer token; or opsgenie (Opsgenie's Alert API, /v2/alerts under the "
        "URL shown, with the key as 'Authorization: GenieKey <key>')",
    )
    integration_create.add_argument("--team", help="owner team (default: default)")
    integration_create.add_argument(
        "--assignee-team", help="the team that gets the alerts (default: the owner team)"
    )
    integration_create.add_argument(
        "--topic-arn", action="append", default=[], help="an SNS topic to accept (repeatable)"
    )
    integration_create.add_argument(
        "--min-signature-version",
        type=int,
        choices=[1, 2],
        default=1,
        help="the oldest SNS SignatureVersion accepted: 1 (SHA1) or 2 (SHA256) (default 1)",
    )
    integration_create.set_defaults(run=integrations_create)


def _update_command(integration_commands: Commands, common: argparse.ArgumentParser) -> None:
    integration_update = integration_commands.add_parser(
        "update",
        parents=[common],
        help="change what is given of an integration; its URL and API key stay",
    )
    integration_update.add_argument("integration", metavar="INTEGRATION", help="id or name")
    integration_update.add_argument("--name", help="rename it")
    integration_update.add_argument(
        "--type",
        choices=[kind.value for kind in IntegrationType],
        help="how its deliveries are read (see `integrations create --help`)",
    )
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
    integration_update.add_argument(
        "--min-signature-version",
        type=int,
        choices=[1, 2],
        help="the oldest SNS SignatureVersion accepted: 1 (SHA1) or 2 (SHA256)",
    )
    integration_update.set_defaults(run=integrations_update)


def _rules_commands(integration_commands: Commands, common: argparse.ArgumentParser) -> None:
    """set-rules and test-rules: the rules that turn deliveries into alerts."""
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
    test_rules.add_argument("--message", help="the SNS Message text (or --message-file)")
    test_rules.add_argument("--message-file", help="a file holding the SNS Message")
    test_rules.add_argument("--subject", help="the SNS Subject (default: none)")
    test_rules.set_defaults(run=integrations_test_rules)

"""`tocsin apply` and `tocsin export`: teams, users, schedules, escalation policies, team
routing and integrations as a YAML file (the format is described in
`clients.manifest.schema`)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
from typing import TYPE_CHECKING, TextIO

from clients.cli import integrations as integration_commands
from clients.cli import render
from clients.cli.arguments import read_text, write_whole
from clients.cli.parser import Commands
from service.core.errors import TocsinError

if TYPE_CHECKING:
    from clients.client import TocsinClient
    from clients.manifest.plan import Plan


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `apply` and `export` on the CLI's top-level commands."""
    apply_command = commands.add_parser(
        "apply",
        parents=[common],
        help="make teams, users, schedules, policies, routing and integrations match a YAML file",
        description="Creates or updates what the file declares; leaves everything else alone "
        "unless --prune is given. A new integration's URL and key are printed once.",
    )
    apply_command.add_argument("-f", "--file", required=True, help="the YAML file")
    apply_command.add_argument(
        "--dry-run", action="store_true", help="show the changes without making them"
    )
    apply_command.add_argument(
        "--prune",
        action="store_true",
        help="also delete what the file leaves out, of the kinds it lists (never the default "
        "team, tokens or overrides); see the changes with --dry-run first",
    )
    apply_command.set_defaults(run=apply_file)

    export_command = commands.add_parser(
        "export",
        parents=[common],
        help="write teams, users, schedules, policies, routing and integrations (without "
        "their keys) as a file for apply",
    )
    export_command.add_argument("-o", "--output", help="write to this file (default: stdout)")
    export_command.set_defaults(run=export_file)


async def apply_file(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    # The file format is imported by the commands that read or write it, not at every start.
    from clients.manifest import apply, plan, schema, state

    text = await asyncio.to_thread(read_text, args.file)
    declared = schema.parse(text, args.file)
    current = await state.fetch(client, declared, prune=args.prune)
    planned = plan.plan(declared, current, prune=args.prune)
    if args.json:
        await _apply_json(client, planned, args, out)
        return
    for warning in planned.warnings:
        out.write(f"warning: {args.file}: {warning}\n")
    # The plan is shown before it is carried out, so a refusal halfway leaves a record of
    # what was attempted.
    for line in planned.lines:
        out.write(line + "\n")
    out.flush()
    count = len(planned.lines)
    changes = f"{count} change{'' if count == 1 else 's'}"
    if not count:
        out.write("no changes\n")
    elif args.dry_run:
        out.write(f"dry run: {changes} not made\n")
    else:
        await apply.apply(client, planned, functools.partial(_show_key, out))
        out.write(f"{changes} made\n")


def _show_key(out: TextIO, result: object) -> None:
    """A new integration's URL with its key, at once: if a later change is refused, it has
    been written all the same, and it can never be read again."""
    from clients.client import IntegrationKey

    if isinstance(result, IntegrationKey):
        integration_commands.warn_if_unreachable(result.info)
        integration_commands.shown_once(out, "created", result)
        out.flush()


async def _apply_json(
    client: TocsinClient, planned: Plan, args: argparse.Namespace, out: TextIO
) -> None:
    from clients.client import IntegrationKey

    keys: list[dict[str, str]] = []

    def keep(result: object) -> None:
        if isinstance(result, IntegrationKey):
            keys.append(
                {
                    "name": result.info.integration.name,
                    "id": result.info.integration.id,
                    "url": result.url_with_key,
                    "api_key": result.api_key,
                }
            )

    result: dict[str, object] = {
        "changes": planned.lines,
        "warnings": list(planned.warnings),
        "applied": bool(planned.changes) and not args.dry_run,
        "created_integrations": keys,
    }
    from clients.manifest import apply

    try:
        if not args.dry_run:
            await apply.apply(client, planned, keep)
    except TocsinError as exc:
        # The keys of what was created before the refusal are written all the same.
        render.write_json(out, result | {"applied": False, "error": str(exc)})
        raise
    render.write_json(out, result)


async def export_file(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    from clients.manifest import export, state

    if args.json:  # JSON is YAML too: apply reads it back
        text = json.dumps(export.document(await state.fetch(client)), indent=2) + "\n"
    else:
        text = await export.export(client)
    if not args.output:
        out.write(text)
        return
    await asyncio.to_thread(write_whole, args.output, text)
    if args.json:
        render.write_json(out, {"output": args.output})
    else:
        out.write(f"exported to {args.output}\n")

"""`tocsin apply` and `tocsin export`: teams, users, schedules, escalation policies and team
routing as a YAML file (the format is described in `clients.manifest`)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, TextIO

from clients import render
from clients.arguments import read_text, write_whole
from clients.client import TocsinClient


def add_commands(
    commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser
) -> None:
    """Registers `apply` and `export` on the CLI's top-level commands."""
    apply_command = commands.add_parser(
        "apply",
        parents=[common],
        help="make teams, users, schedules, policies and routing match a YAML file",
        description="Creates or updates what the file declares; leaves everything else alone.",
    )
    apply_command.add_argument("-f", "--file", required=True, help="the YAML file")
    apply_command.add_argument(
        "--dry-run", action="store_true", help="show the changes without making them"
    )
    apply_command.set_defaults(run=apply_file)

    export_command = commands.add_parser(
        "export",
        parents=[common],
        help="write teams, users, schedules, policies and routing as a file for apply",
    )
    export_command.add_argument("-o", "--output", help="write to this file (default: stdout)")
    export_command.set_defaults(run=export_file)


async def apply_file(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    # The file format is imported by the commands that read or write it, not at every start.
    from clients import manifest

    text = await asyncio.to_thread(read_text, args.file)
    declared = manifest.parse(text, args.file)
    planned = manifest.plan(declared, await manifest.fetch(client, declared))
    if args.json:
        if not args.dry_run:
            await manifest.apply(client, planned)
        result = {
            "changes": planned.lines,
            "warnings": list(planned.warnings),
            "applied": bool(planned.changes) and not args.dry_run,
        }
        render.write_json(out, result)
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
        await manifest.apply(client, planned)
        out.write(f"{changes} made\n")


async def export_file(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    from clients import manifest

    if args.json:  # JSON is YAML too: apply reads it back
        text = json.dumps(manifest.document(await manifest.fetch(client)), indent=2) + "\n"
    else:
        text = await manifest.export(client)
    if not args.output:
        out.write(text)
        return
    await asyncio.to_thread(write_whole, args.output, text)
    if args.json:
        render.write_json(out, {"output": args.output})
    else:
        out.write(f"exported to {args.output}\n")

"""`python -m bench` (`make bench`): how fast Tocsin creates alerts, next to bare gRPC; how
fast it takes verified SNS notifications and Opsgenie Alert API creates (`bench.opsgenie`),
next to bare HTTP; and how fast it answers who is on call (`bench.oncall`), how late the
escalation engine pages under load (`bench.engine`), and how long the CLI takes to start
(`bench.cli`). `--only alerts|sns|opsgenie|oncall|engine|cli` runs one part.

In one run on this machine, against a real `tocsin serve` child process, it measures
CreateAlert throughput (calls/s) and p50/p99 latency at each caller count (default 1, 16, 64)
in two modes:

- new aliases: every call has a fresh alias, so every call stores a new durable alert;
- repeated alias: every call has one alias, so each deduplicates into one open alert and
  bumps its count.

At each caller count it also measures a bare gRPC echo server (`bench.echo`), a separate
Python process that returns the request bytes: same request size, same `authorization`
metadata, same load generator, but no protobuf, authentication, validation or storage.

And it measures the same new-alias creates against Tocsin's edge without a store
(`bench.edge`): the real guard, servicer, codec and validation, answering every call as a new
alert that is never written. That is the ceiling for creates on this machine: the gap between
it and echo is the edge's cost, the gap between it and the durable creates the store's.

Read the ratio (create calls/s / echo calls/s at the same caller count) as the share of plain
Python gRPC throughput that survives Tocsin's own work: 100% would mean that work is free.
Absolute figures depend on the machine and on what else runs on it; the ratio travels better,
since both sides share the same stack and the same CPUs with the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench import cli, engine, oncall, opsgenie, replicas, report, scenarios, sns
from bench.echo import running_echo
from bench.edge import running_edge
from bench.errors import BenchError
from bench.load import Measurement, measure
from bench.report import Row
from bench.tocsin import Endpoint, Metadata, running_tocsin

WARMUP_SECONDS = 0.5
DEFAULT_SECONDS = 2.0
DEFAULT_ROUNDS = 3
SNS_CONCURRENCY = 64
# Enough for 10,000/s over the default run (a run that uses them all up ends early, and its
# time says so); signing them takes several seconds up front.
SNS_BODIES = 30_000
OPSGENIE_BODIES = 60_000  # unsigned, so cheap: enough for 25,000/s
DEFAULT_CONCURRENCY = (1, 16, 64)
PARTS = ("alerts", "sns", "opsgenie", "oncall", "engine", "cli")
DEFAULT_CONCURRENCY_TEXT = ",".join(map(str, DEFAULT_CONCURRENCY))


@dataclass(frozen=True)
class Settings:
    seconds: float
    concurrency: tuple[int, ...]
    rounds: int
    only: tuple[str, ...] = ()


def main(argv: Sequence[str]) -> int:
    settings = _settings(argv)
    parts = settings.only or PARTS
    status = 0
    if "alerts" in parts:
        status |= _alerts(settings)
    if "sns" in parts:
        status |= _sns(settings)
    if "opsgenie" in parts:
        status |= _opsgenie(settings)
    if "oncall" in parts:
        print("On-call maths (in process, no server)", flush=True)
        print("\n".join(oncall.run()))
    if "engine" in parts:
        print("Escalation engine (in process, SQLite, wall clock)", flush=True)
        print("\n".join(engine.run()))
        status |= _engine_replicas(settings)
    if "cli" in parts:
        print("CLI start-up (whole processes)", flush=True)
        print("\n".join(cli.run()))
    return status


def _engine_replicas(settings: Settings) -> int:
    url = replicas.database_url()
    print(
        f"Escalation engine on PostgreSQL, 1 and 3 tocsin server replicas: "
        f"{replicas.ENGINE_ALERTS:,} alerts each paging {len(replicas.PAGED_USERS)} users by "
        f"webhook {replicas.DUE_AFTER_SECONDS:g} s after creation",
        flush=True,
    )
    reason = replicas.unreachable(url)
    if reason:
        print(f"skipped: {reason}\n")
        return 0
    try:
        runs, bare_http, bare_grpc = asyncio.run(_run_engine_replicas(url, settings))
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    print("\n".join(replicas.engine_lines(runs, bare_http, bare_grpc)))
    print()
    return 0


async def _run_engine_replicas(
    url: str, settings: Settings
) -> tuple[list[replicas.EngineRun], float, Measurement]:
    """The runs, then the baselines: bare HTTP POSTs, and a bare gRPC echo at 64 callers."""
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as scratch:
        runs = [await replicas.engine_run(Path(scratch), url, count) for count in (1, 3)]
        bare_http = await replicas.bare_posts_per_second(settings.seconds)
        async with running_echo(Path(scratch)) as echo:
            metadata = (("authorization", "Bearer bench"),)
            bare_grpc = await _measure(echo, metadata, scenarios.echo, 64, settings.seconds)
    return runs, bare_http, bare_grpc


def _alerts(settings: Settings) -> int:
    print(
        f"Tocsin CreateAlert vs bare gRPC echo: {settings.seconds:g} s per scenario after "
        f"{WARMUP_SECONDS:g} s warm-up, median of {settings.rounds} rounds, "
        f"{len(scenarios.ECHO_PAYLOAD)}-byte requests, "
        f"{os.cpu_count()} CPUs shared by servers and load generator",
        flush=True,
    )
    try:
        rows = asyncio.run(_run(settings))
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as error:
        print(f"bench failed: a call ended {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print()
    print("\n".join(report.table(rows)))
    print()
    print(report.target_line(rows))
    print(report.edge_line(rows))
    print()
    return 0


def _sns(settings: Settings) -> int:
    url = replicas.database_url()
    reason = replicas.unreachable(url)
    print(
        f"Verified SNS notifications end to end: tocsin serve on SQLite, and 1 and 2 "
        f"tocsin shim + tocsin server pairs on PostgreSQL, vs bare HTTP and bare gRPC: "
        f"{SNS_CONCURRENCY} connections, {settings.seconds:g} s after {WARMUP_SECONDS:g} s "
        "warm-up, each notification unique and signed in advance",
        flush=True,
    )
    if reason:
        print(f"PostgreSQL pairs skipped: {reason}")
    try:
        rows = asyncio.run(_run_sns(settings, "" if reason else url))
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.sns_table(rows)))
    print()
    print(report.sns_target_line(rows[0][1]))
    print()
    return 0


def _opsgenie(settings: Settings) -> int:
    print(
        f"Opsgenie Alert API creates through tocsin serve (SQLite) vs bare HTTP: "
        f"{SNS_CONCURRENCY} connections, {settings.seconds:g} s after {WARMUP_SECONDS:g} s "
        "warm-up, each create a new alias (a new durable alert)",
        flush=True,
    )
    try:
        rows = asyncio.run(_run_opsgenie(settings))
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.sns_table(rows)))
    print()
    print(report.opsgenie_target_line(rows[0][1], rows[1][1]))
    print()
    return 0


async def _run_opsgenie(settings: Settings) -> list[tuple[str, Measurement]]:
    bodies = opsgenie.bodies(OPSGENIE_BODIES)
    rows: list[tuple[str, Measurement]] = []
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as directory:
        scratch = Path(directory)
        async with running_tocsin(scratch) as tocsin:
            url, headers = await opsgenie.creates_url_and_headers(tocsin)
            served = await sns.measure_posts(
                [url], bodies, SNS_CONCURRENCY, settings.seconds, WARMUP_SECONDS,
                unique=True, headers=headers, ok=opsgenie.ACCEPTED,
            )  # fmt: skip
            rows.append(("tocsin serve, SQLite", served))
        async with sns.running_http_echo(scratch) as bare_url:
            bare = await sns.measure_posts(
                [bare_url], bodies, SNS_CONCURRENCY, settings.seconds, WARMUP_SECONDS,
                unique=False, headers=headers,
            )  # fmt: skip
            rows.append(("bare HTTP", bare))
    return rows


async def _run_sns(settings: Settings, database: str) -> list[tuple[str, Measurement]]:
    """Each setup in turn, on its own pass over the same signed bodies (a fresh integration
    each time, so every MessageId is new to it); then the baselines."""
    bodies = list(sns.signed_bodies(SNS_BODIES))
    rows: list[tuple[str, Measurement]] = []

    async def posts(urls: list[str], unique: bool = True) -> Measurement:
        return await sns.measure_posts(
            urls, bodies, SNS_CONCURRENCY, settings.seconds, WARMUP_SECONDS, unique=unique
        )

    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as directory:
        scratch = Path(directory)
        config = sns.write_config(scratch)
        async with running_tocsin(scratch, config) as tocsin:
            rows.append(("tocsin serve, SQLite", await posts([await sns.integration_url(tocsin)])))
        for pairs in (1, 2) if database else ():
            async with (
                replicas.fresh_database(database, scratch) as url,
                replicas.servers(scratch, url, pairs, config) as (started, token),
                replicas.shims(scratch, started, token, config) as bases,
            ):
                path = await sns.integration_path(started[0].target, token)
                label = f"{pairs} shim+server, PostgreSQL"
                rows.append((label, await posts([base + path for base in bases])))
        async with sns.running_http_echo(scratch) as bare_url:
            rows.append(("bare HTTP", await posts([bare_url], unique=False)))
        async with running_echo(scratch) as echo:
            metadata = (("authorization", "Bearer bench"),)
            bare_grpc = await _measure(
                echo, metadata, scenarios.echo, SNS_CONCURRENCY, settings.seconds
            )
            rows.append(("bare gRPC echo", bare_grpc))
    return rows


async def _run(settings: Settings) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as directory:
        scratch = Path(directory)
        (scratch / "edge").mkdir()
        async with (
            running_tocsin(scratch) as tocsin,
            running_edge(scratch / "edge") as edge,
            running_echo(scratch) as echo,
        ):
            rows = [
                row
                for concurrency in settings.concurrency
                for row in await _measure_level(tocsin, edge, echo, concurrency, settings)
            ]
    modes = [name for name, _ in scenarios.CREATE_MODES] + [report.EDGE_MODE]
    return sorted(rows, key=lambda row: modes.index(row.scenario))


async def _measure_level(
    tocsin: Endpoint, edge: Endpoint, echo_target: str, concurrency: int, settings: Settings
) -> list[Row]:
    """Rounds of echo, both modes and the edge without storage back to back, so drift on a
    shared machine hits them alike; each reports its round with the median ratio to echo."""
    runs = [(name, tocsin, prepare) for name, prepare in scenarios.CREATE_MODES]
    runs.append((report.EDGE_MODE, edge, scenarios.new_aliases))
    rounds: dict[str, list[Row]] = {name: [] for name, _, _ in runs}
    for _ in range(settings.rounds):
        echo = await _measure(
            echo_target, tocsin.metadata, scenarios.echo, concurrency, settings.seconds
        )
        for name, server, prepare in runs:
            create = await _measure(
                server.target, server.metadata, prepare, concurrency, settings.seconds
            )
            rounds[name].append(Row(name, concurrency, create, echo))
    return [_median(rows) for rows in rounds.values()]


def _median(rows: list[Row]) -> Row:
    ordered = sorted(rows, key=lambda row: row.percent_of_echo)
    return ordered[len(ordered) // 2]


async def _measure(
    target: str,
    metadata: Metadata,
    prepare: scenarios.Prepare,
    concurrency: int,
    seconds: float,
) -> Measurement:
    """One channel per scenario: the callers share its connection, as one client's would."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = await prepare(channel, metadata)
        return await measure(call, concurrency, seconds, WARMUP_SECONDS)


def _settings(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=_positive_seconds,
        default=DEFAULT_SECONDS,
        help=f"measured seconds per scenario, after a {WARMUP_SECONDS:g} s warm-up "
        f"(default {DEFAULT_SECONDS:g})",
    )
    parser.add_argument(
        "--concurrency",
        type=_caller_counts,
        default=DEFAULT_CONCURRENCY,
        help=f"comma-separated counts of concurrent callers (default {DEFAULT_CONCURRENCY_TEXT})",
    )
    parser.add_argument(
        "--rounds",
        type=_positive_count,
        default=DEFAULT_ROUNDS,
        help=f"rounds per caller count; the median round is reported (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        default=[],
        help="run only this part (repeatable; default: all)",
    )
    options = parser.parse_args(argv)
    return Settings(options.seconds, options.concurrency, options.rounds, tuple(options.only))


def _positive_count(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {text})")
    return count


def _positive_seconds(text: str) -> float:
    seconds = float(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive (got {text})")
    return seconds


def _caller_counts(text: str) -> tuple[int, ...]:
    counts = tuple(int(part) for part in text.split(","))
    if any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError(f"every count must be at least 1 (got {text})")
    return counts


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

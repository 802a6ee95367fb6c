"""Tocsin on PostgreSQL: `tocsin server` replicas (with `tocsin shim`s in front for ingest) on
one database, each a child process, the database a fresh schema of the server named by
`TOCSIN_BENCH_DATABASE_URL` (default: the local one). Without a reachable server these parts
are skipped, saying why.

Ingest: N shim+server pairs behind the load generator's round robin, verified SNS
notifications as in `bench.sns`.

Engine: N replicas run one population of alerts. A policy pages two users by webhook
`DUE_AFTER_SECONDS` after each alert is created: long enough to create them all first (if
creating takes longer, the engines start while it goes on), so the steps fall due at the
rate alerts were created, then the replicas' engines race for them. The webhook receiver, in
this process, notes when each page arrives; lateness is that instant minus when the page was
due (the alert's creation plus the rule's delay). Sends/s is pages received over the time
from the first due to the last received.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.errors import BenchError
from bench.load import Measurement, percentile
from bench.process import LOOPBACK, free_ports, healthz, running
from bench.tocsin import healthy
from clients.client import TocsinClient
from service.alerts.model import NewAlert
from service.answers.links import SECRET_ENV
from service.escalation.usecases import EscalationRuleSpec, PolicySpec, RoutingSpec
from service.people.model import NotificationRule, NotificationStep
from service.tokens.usecases import ADMIN_TOKEN_FILE
from tests import databases

DATABASE_ENV = "TOCSIN_BENCH_DATABASE_URL"
DEFAULT_DATABASE = "postgresql://127.0.0.1:5432/test"
WEBHOOK_SECRET = "bench-webhook-secret-shared-by-replicas"
SECRETS = {
    SECRET_ENV: "bench-link-secret-shared-by-every-replica",
    "TOCSIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
}
# Replicas refuse to start without one; nobody follows the links the bench's pages carry.
PUBLIC_URL = {"TOCSIN_PUBLIC_URL": "https://tocsin.bench.invalid"}
ENGINE_ALERTS = 3_000
PAGED_USERS = ("ana", "ben")  # each alert pages both, by webhook
DUE_AFTER_SECONDS = 15.0
CREATE_CONCURRENCY = 64
CATCH_UP_SECONDS = 60.0


def database_url() -> str:
    return os.environ.get(DATABASE_ENV, DEFAULT_DATABASE)


def unreachable(url: str) -> str:
    """Why the bench cannot use PostgreSQL at `url`, or "" when it can."""
    reason = databases.unreachable(url)
    return f"{reason}; set {DATABASE_ENV}" if reason else ""


@contextlib.asynccontextmanager
async def fresh_database(url: str, scratch: Path) -> AsyncIterator[str]:
    """An empty schema on the server, migrated by `tocsin migrate`, dropped afterwards."""
    with databases.scratch_schema(url, "bench") as scoped:
        with (scratch / f"migrate-{uuid.uuid4().hex[:8]}.log").open("wb") as log:
            migrating = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.main", "migrate", "--database", scoped,
                stdout=log, stderr=log,
            )  # fmt: skip
            if await migrating.wait() != 0:
                raise BenchError(f"tocsin migrate failed; see {log.name}")
        yield scoped


@dataclass(frozen=True)
class Replica:
    target: str
    http: str


@contextlib.asynccontextmanager
async def servers(
    scratch: Path, url: str, count: int, config: Path | None
) -> AsyncIterator[tuple[list[Replica], str]]:
    """`count` replicas of `tocsin server` on the database, and the admin token: the first
    to start makes it, in its data directory; the others find that one exists."""
    async with contextlib.AsyncExitStack() as stack:
        started = []
        for index in range(count):
            started.append(await stack.enter_async_context(_server(scratch, url, index, config)))
            if index == 0:
                token = (scratch / "r0" / ADMIN_TOKEN_FILE).read_text().strip()
        yield started, token


@contextlib.asynccontextmanager
async def _server(
    scratch: Path, url: str, index: int, config: Path | None
) -> AsyncIterator[Replica]:
    grpc_port, http_port = free_ports(2)
    target = f"{LOOPBACK}:{grpc_port}"
    data_dir = scratch / f"r{index}"
    command = [
        sys.executable, "-m", "app.main", "server", "--database", url,
        "--data-dir", str(data_dir), "--grpc-listen", target,
        "--http-listen", f"{LOOPBACK}:{http_port}", "--log-format", "json",
        "--log-level", "warning",
    ]  # fmt: skip
    if config is not None:
        command += ["--config", str(config)]

    async def serving() -> bool:
        if index == 0 and not (data_dir / ADMIN_TOKEN_FILE).exists():
            return False
        return await healthy(target)

    log = scratch / f"server-{index}-{uuid.uuid4().hex[:6]}.log"
    async with running(f"tocsin server #{index}", command, log, serving, SECRETS | PUBLIC_URL):
        yield Replica(target, f"http://{LOOPBACK}:{http_port}")


@contextlib.asynccontextmanager
async def shims(
    scratch: Path, replicas: Sequence[Replica], token: str, config: Path
) -> AsyncIterator[list[str]]:
    """A `tocsin shim` in front of each replica; their base URLs."""
    async with contextlib.AsyncExitStack() as stack:
        bases = []
        for index, replica in enumerate(replicas):
            (port,) = free_ports(1)
            base = f"http://{LOOPBACK}:{port}"
            command = [
                sys.executable, "-m", "app.main", "shim", "--grpc-target", replica.target,
                "--token", token, "--config", str(config), "--http-listen",
                f"{LOOPBACK}:{port}", "--log-format", "json", "--log-level", "warning",
            ]  # fmt: skip
            log = scratch / f"shim-{index}-{uuid.uuid4().hex[:6]}.log"
            await stack.enter_async_context(
                running(f"tocsin shim #{index}", command, log, healthz(base))
            )
            bases.append(base)
        yield bases


# The engine on replicas


class Receiver:
    """The users' webhook endpoint: notes when each page arrives and when it was due."""

    def __init__(self) -> None:
        self.arrivals: dict[str, tuple[float, float]] = {}  # key -> (arrived, due), epoch s
        self.repeats = 0
        self.expected = 0
        self.all_in = asyncio.Event()  # set once `expected` distinct pages have arrived
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{user}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        (port,) = free_ports(1)
        await web.TCPSite(self._runner, LOOPBACK, port).start()
        self.url = f"http://{LOOPBACK}:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        arrived = time.time()
        page = await request.json()
        if page["key"] in self.arrivals:
            self.repeats += 1
        else:
            created = datetime.fromisoformat(page["created_at"]).timestamp()
            self.arrivals[page["key"]] = (arrived, created + DUE_AFTER_SECONDS)
            if len(self.arrivals) >= self.expected:
                self.all_in.set()
        return web.json_response({"ok": True})


@dataclass(frozen=True)
class EngineRun:
    replicas: int
    pages: int
    received: int
    repeats: int
    offered_per_second: float
    sends_per_second: float
    p50_late: float
    p99_late: float


async def engine_run(scratch: Path, url: str, replicas: int) -> EngineRun:
    config = scratch / "engine.yaml"
    # The receiver is on loopback, which pages reach only when it is listed.
    config.write_text("notifications:\n  webhook: {allow_http: true, allow_private: [127.0.0.1]}\n")
    pages = ENGINE_ALERTS * len(PAGED_USERS)
    async with (
        Receiver() as receiver,
        fresh_database(url, scratch) as database,
        servers(scratch, database, replicas, config) as (started, token),
    ):
        receiver.expected = pages
        clients = [TocsinClient(r.target, token, timeout=60) for r in started]
        try:
            await _page_both_users(clients[0], receiver.url)
            first, last = await _create_alerts(clients)
        finally:
            for client in clients:
                await client.close()
        deadline = last + DUE_AFTER_SECONDS + CATCH_UP_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.all_in.wait(), max(0.0, deadline - time.time()))
        arrivals = list(receiver.arrivals.values())
    lateness = sorted(max(0.0, arrived - due) for arrived, due in arrivals)
    first_due = first + DUE_AFTER_SECONDS
    last_arrival = max((arrived for arrived, _ in arrivals), default=first_due)
    return EngineRun(
        replicas=replicas,
        pages=pages,
        received=len(arrivals),
        repeats=receiver.repeats,
        offered_per_second=pages / max(last - first, 1e-3),
        sends_per_second=len(arrivals) / max(last_arrival - first_due, 1e-3),
        p50_late=percentile(lateness, 0.50) if lateness else float("nan"),
        p99_late=percentile(lateness, 0.99) if lateness else float("nan"),
    )


async def _page_both_users(client: TocsinClient, hooks: str) -> None:
    for name in PAGED_USERS:
        await client.create_user(name)
        await client.add_contact_method(name, "webhook", f"{hooks}/{name}")
        await client.set_notification_rule(
            name, "new_alert", NotificationRule((NotificationStep("webhook", 0),))
        )
    await client.create_policy(
        PolicySpec(
            "bench",
            team="default",
            rules=(
                EscalationRuleSpec(
                    timedelta(seconds=DUE_AFTER_SECONDS),
                    tuple(("user", name) for name in PAGED_USERS),
                ),
            ),
        )
    )
    await client.set_routing(RoutingSpec("default", default_policy="bench"))


async def _create_alerts(clients: Sequence[TocsinClient]) -> tuple[float, float]:
    """Creates the alerts through every replica in turn; when the first and last were made."""
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)
    made: list[float] = []

    async def create(index: int) -> None:
        async with gate:
            alert = NewAlert(message=f"Disk full on db-{index}", alias=f"db-{index}")
            result = await clients[index % len(clients)].create_alert(alert)
            made.append(result.alert.created_at.timestamp())

    await asyncio.gather(*(create(index) for index in range(ENGINE_ALERTS)))
    return min(made), max(made)


def engine_lines(runs: Sequence[EngineRun], bare_http: float, bare_grpc: Measurement) -> list[str]:
    header = (
        f"{'replicas':>8}{'pages':>8}{'received':>10}{'offered/s':>11}{'sends/s':>9}"
        f"{'p50 late s':>12}{'p99 late s':>12}{'repeats':>9}"
    )
    lines = [header, "-" * len(header)]
    for run in runs:
        lines.append(
            f"{run.replicas:>8}{run.pages:>8,}{run.received:>10,}{run.offered_per_second:>11,.0f}"
            f"{run.sends_per_second:>9,.0f}{run.p50_late:>12.3f}{run.p99_late:>12.3f}"
            f"{run.repeats:>9}"
        )
    lines.append(
        f"baselines, measured in this run: bare HTTP POSTs to the same receiver from one "
        f"process, {bare_http:,.0f}/s; bare gRPC echo at 64 callers, "
        f"{bare_grpc.calls_per_second:,.0f} calls/s (p99 {bare_grpc.p99_ms:.1f} ms)"
    )
    return lines


async def bare_posts_per_second(seconds: float) -> float:
    """POSTs/s to a receiver like the engine's, from one process at 16 connections: how fast
    one Python process can hand pages to an HTTP endpoint at all."""
    async with Receiver() as receiver:
        connector = aiohttp.TCPConnector(limit=16)
        body = b'{"key":"k","created_at":"2026-01-01T00:00:00+00:00"}'
        async with aiohttp.ClientSession(connector=connector) as http:
            count = 0
            stop = time.monotonic() + seconds

            async def post() -> None:
                nonlocal count
                while time.monotonic() < stop:
                    async with http.post(f"{receiver.url}/x", data=body) as reply:
                        await reply.read()
                    count += 1

            started = time.monotonic()
            await asyncio.gather(*(post() for _ in range(16)))
            return count / (time.monotonic() - started)

"""Several `tocsin server` processes on one PostgreSQL database: each alias is one alert however
many replicas are asked at once, changes reach watchers on every replica, and every page is
sent once even when a replica is killed (SIGKILL) in the middle of paging; a database outage is
seen at once by every server and shim, and they recover from it.

A page whose sender dies between handing it to the provider and recording the answer goes
again, under the same ledger key, once its lease runs out (at least once beats never for a
page; the webhook's Idempotency-Key and the email's Message-ID carry the key, so receivers
can drop the repeat). So "once" is counted by ledger key at the receiving servers, and any
raw repeat must be such a page.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.client import TocsinClient
from service.alerts.model import AlertRef, NewAlert, RefKind
from service.answers.links import SECRET_ENV
from service.core.errors import DeadlineExceeded, Unavailable
from service.escalation.usecases import EscalationRuleSpec, PolicySpec, RoutingSpec
from service.people.model import NotificationRule, NotificationStep
from tests.conftest import LINK_SECRET
from tests.databases import postgres_database, refuse_connections, scratch_database
from tests.provider_servers import SmtpServer, WebhookReceiver
from tests.test_serve_process import TOCSIN, serving

WEBHOOK_SECRET = "webhook-secret-shared-by-the-replicas"
ALERTS = 1_000
# Short, so the page the killed replica had in flight goes again soon; a provider call may
# take half of it.
LEASE_SECONDS = 4


@dataclass
class Replica:
    process: subprocess.Popen[str]
    target: str
    http: str  # where its /healthz and /metrics are


@dataclass
class Cluster:
    url: str
    replicas: list[Replica]
    token: str
    smtp: SmtpServer
    hooks: WebhookReceiver

    def client(self, index: int) -> TocsinClient:
        return TocsinClient(self.replicas[index].target, self.token, timeout=30)


@contextlib.contextmanager
def _replica(url: str, data_dir: Path, config: Path) -> Iterator[Replica]:
    env = {
        SECRET_ENV: LINK_SECRET,
        "TOCSIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # Where the shims would be; nothing here follows the links pages carry.
        "TOCSIN_PUBLIC_URL": "https://alerts.example.com",
    }
    extra = ("--database", url, "--config", str(config))
    with serving(data_dir, *extra, command="server", env=env) as (process, log, target):
        http = str(log[-1]["message"]).split("HTTP on ")[1].split(",")[0]
        yield Replica(process, target, http)


@contextlib.asynccontextmanager
async def three_replicas(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with SmtpServer() as smtp, WebhookReceiver(WEBHOOK_SECRET) as hooks:
        config = tmp_path / "tocsin.yaml"
        config.write_text(
            f"page_lease_seconds: {LEASE_SECONDS}\n"
            "notifications:\n"
            f"  smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none,\n"
            "         from_address: tocsin@example.com}\n"
            "  webhook: {allow_http: true, allow_private: [127.0.0.1]}\n"
        )
        with postgres_database() as url, contextlib.ExitStack() as stack:
            migrating = await asyncio.create_subprocess_exec(
                TOCSIN, "migrate", "--database", url, stderr=asyncio.subprocess.PIPE
            )
            _, errors = await migrating.communicate()
            assert migrating.returncode == 0, errors
            # The first makes the admin token (in its data directory); the others find it.
            first = stack.enter_context(_replica(url, tmp_path / "r0", config))
            token = (tmp_path / "r0" / "admin-token").read_text().strip()
            others = [
                stack.enter_context(_replica(url, tmp_path / f"r{n}", config)) for n in (1, 2)
            ]
            yield Cluster(url, [first, *others], token, smtp, hooks)


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        # The receivers run on this loop, and say nothing when they receive: look again.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_one_alias_from_many_callers_on_three_replicas_is_one_alert(
    tmp_path: Path,
) -> None:
    async with three_replicas(tmp_path) as cluster:
        clients = [cluster.client(n) for n in range(3)]
        try:

            async def create(client: TocsinClient) -> bool:
                result = await client.create_alert(NewAlert(message="Disk full", alias="disk"))
                return result.deduplicated

            results = await asyncio.gather(*(create(c) for c in clients for _ in range(32)))
            alert = await clients[2].get_alert(AlertRef(RefKind.ALIAS, "disk"))
        finally:
            for client in clients:
                await client.close()
    assert sorted(results) == [False] + [True] * 95
    assert alert.count == 96


async def test_a_change_on_one_replica_reaches_a_watcher_on_another(tmp_path: Path) -> None:
    async with (
        three_replicas(tmp_path) as cluster,
        cluster.client(0) as watcher,
        cluster.client(1) as writer,
    ):
        stream = watcher.watch()
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.5)  # the stream is open before the change is made
        made = (await writer.create_alert(NewAlert(message="CPU hot"))).alert
        event = await asyncio.wait_for(first, 10)
        await stream.aclose()
    assert event.alert.id == made.id
    assert event.entry.action == "created"


async def test_every_page_is_sent_once_across_three_replicas_and_a_kill(tmp_path: Path) -> None:
    async with three_replicas(tmp_path) as cluster:
        hooks, smtp = cluster.hooks, cluster.smtp
        async with cluster.client(0) as admin:
            # Alice: email and webhook at once; Bob, three seconds on: a webhook.
            for name in ("alice", "bob"):
                await admin.create_user(name)
                await admin.add_contact_method(name, "webhook", f"{hooks.url}/{name}")
            await admin.add_contact_method("alice", "email", "alice@example.com")
            await admin.set_notification_rule(
                "alice",
                "new_alert",
                NotificationRule((NotificationStep("email", 0), NotificationStep("webhook", 0))),
            )
            await admin.set_notification_rule(
                "bob", "new_alert", NotificationRule((NotificationStep("webhook", 0),))
            )
            await admin.create_policy(
                PolicySpec(
                    "two-step",
                    team="default",
                    rules=(
                        EscalationRuleSpec(timedelta(), (("user", "alice"),)),
                        EscalationRuleSpec(timedelta(seconds=3), (("user", "bob"),)),
                    ),
                )
            )
            await admin.set_routing(RoutingSpec("default", default_policy="two-step"))

        expected = 3 * ALERTS

        def received() -> int:
            return len(smtp.received) + len(hooks.received)

        clients = [cluster.client(n) for n in range(3)]
        try:
            gate = asyncio.Semaphore(24)

            async def create(n: int) -> None:
                async with gate:
                    alert = NewAlert(message=f"Disk full on db-{n}", alias=f"db-{n}")
                    await clients[n % 3].create_alert(alert)

            await asyncio.gather(*(create(n) for n in range(ALERTS)))
        finally:
            for client in clients:
                await client.close()
        # Kill one replica while pages are going out.
        await _until(lambda: received() >= expected // 3, 120)
        victim = cluster.replicas[2].process
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        await _until(lambda: _distinct(smtp, hooks) >= expected, 180)
        await asyncio.sleep(LEASE_SECONDS + 1)  # longer than a lease: nothing more may go out

        with psycopg.connect(cluster.url) as conn:
            alerts = conn.execute("SELECT alias, count FROM alerts").fetchall()
            ledger = {
                key: (channel, state, attempts)
                for key, channel, state, attempts in conn.execute(
                    "SELECT key, channel, state, attempts FROM pages"
                ).fetchall()
            }

    assert sorted(alias for alias, _ in alerts) == sorted(f"db-{n}" for n in range(ALERTS))
    assert {count for _, count in alerts} == {1}
    assert len(ledger) == expected
    assert {state for _, state, _ in ledger.values()} == {"delivered"}
    keys = Counter(hook.headers["Idempotency-Key"] for hook in hooks.received)
    assert set(keys) == {key for key, (channel, _, _) in ledger.items() if channel == "webhook"}
    assert all(hook.signature_valid for hook in hooks.received)
    mails = Counter(str(mail.message["Message-ID"]) for mail in smtp.received)
    assert len(mails) == ALERTS
    # A repeat is only ever a page whose sender was killed mid-send (sent again when its
    # lease ran out) or whose receiver did not answer within the send timeout (half the
    # lease; likelier on a loaded machine): either way under the same key, and each delivery
    # an attempt the ledger counted.
    assert all(n <= ledger[key][2] for key, n in keys.items()), [
        (key, ledger[key], n) for key, n in keys.items() if n > ledger[key][2]
    ]
    repeats = sum(n - 1 for n in keys.values()) + sum(n - 1 for n in mails.values())
    retried = sum(attempts - 1 for _, _, attempts in ledger.values())
    assert repeats <= retried


def _distinct(smtp: SmtpServer, hooks: WebhookReceiver) -> int:
    mails = {str(mail.message["Message-ID"]) for mail in smtp.received}
    return len(mails) + len({hook.headers["Idempotency-Key"] for hook in hooks.received})


def _drain(process: subprocess.Popen[str]) -> list[str]:
    """The process's log from here on, read as it comes: a log nobody reads fills its pipe,
    and the process blocks writing to it."""
    lines: list[str] = []
    assert process.stderr is not None
    stderr = process.stderr
    threading.Thread(target=lambda: lines.extend(stderr), daemon=True).start()
    return lines


@contextlib.contextmanager
def _shim(target: str, token: str) -> Iterator[str]:
    """`tocsin shim` in front of the server at `target`; yields its HTTP address."""
    process = subprocess.Popen(
        [TOCSIN, "shim", "--grpc-target", target, "--token", token,
         "--http-listen", "127.0.0.1:0", "--log-format", "json"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "tocsin shim is serving" in line:
                yield line.split("HTTP on ")[1].split(",")[0]
                break
        else:
            raise AssertionError("the shim exited before serving")
    finally:
        process.kill()
        process.wait()


async def _statuses(
    cluster: list[Replica], shim: str, http: aiohttp.ClientSession
) -> tuple[list[str], list[int]]:
    """Each server's gRPC health (the server's, and its alert service's), and the /healthz
    status of each server and the shim."""
    health = []
    for replica in cluster:
        async with grpc.aio.insecure_channel(replica.target) as channel:
            for service in ("", "tocsin.v1.AlertService"):
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=2
                )
                health.append(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    codes = []
    for address in (*(replica.http for replica in cluster), shim):
        async with http.get(f"http://{address}/healthz") as answer:
            codes.append(answer.status)
    return health, codes


async def _until_statuses(
    cluster: list[Replica], shim: str, health: str, code: int, seconds: float
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        try:
            async with asyncio.timeout(seconds):
                # Other processes' state, which says nothing when it changes: ask again.
                while await _statuses(cluster, shim, http) != ([health] * 4, [code] * 3):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        except TimeoutError:
            seen = await _statuses(cluster, shim, http)
            raise AssertionError(f"not {health}/{code} within {seconds} s: {seen}") from None


async def test_a_database_outage_is_seen_at_once_by_every_server_and_shim(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text("page_lease_seconds: 4\n")
    with scratch_database() as url, contextlib.ExitStack() as stack:
        migrating = await asyncio.create_subprocess_exec(
            TOCSIN, "migrate", "--database", url, stderr=asyncio.subprocess.PIPE
        )
        assert (await migrating.communicate())[1] is not None and migrating.returncode == 0
        cluster = [stack.enter_context(_replica(url, tmp_path / f"r{n}", config)) for n in (0, 1)]
        logs = [_drain(replica.process) for replica in cluster]
        token = (tmp_path / "r0" / "admin-token").read_text().strip()
        shim = stack.enter_context(_shim(cluster[0].target, token))
        clients = [TocsinClient(replica.target, token, timeout=10) for replica in cluster]
        try:
            for client in clients:
                await client.create_alert(NewAlert(message="Disk full", alias="disk"))
            await _until_statuses(cluster, shim, "SERVING", 200, 5)

            refuse_connections(url)
            refused = time.monotonic()

            async def refused_at_once(client: TocsinClient) -> None:
                for _ in range(3):  # every call, not only the first
                    started = time.monotonic()
                    with pytest.raises(Unavailable) as caught:
                        await client.create_alert(NewAlert(message="CPU hot"))
                    assert time.monotonic() - started < 2, caught.value
                    assert not isinstance(caught.value, DeadlineExceeded)
                    # Said to any caller (the token is checked in the database): not where it is.
                    assert "cannot reach the database" in str(caught.value)
                    assert "5432" not in str(caught.value)

            await asyncio.gather(
                *(refused_at_once(client) for client in clients),
                _until_statuses(cluster, shim, "NOT_SERVING", 503, 5),
            )
            assert time.monotonic() - refused < 5

            refuse_connections(url, refuse=False)
            await _until_statuses(cluster, shim, "SERVING", 200, 15)
            async with asyncio.timeout(15):
                for client in clients:
                    while True:
                        with contextlib.suppress(Unavailable):
                            await client.create_alert(NewAlert(message="Disk full", alias="disk"))
                            break
                        await asyncio.sleep(0.2)
            alerts = await clients[1].list_alerts()
        finally:
            for client in clients:
                await client.close()
    assert [(a.message, a.count) for a in alerts.items] == [("Disk full", 4)], logs

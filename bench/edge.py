"""Tocsin's gRPC edge without its store: how fast CreateAlert could be if storing were free.

Run as `python -m bench.edge PORT DATA_DIR`. It serves AlertService as `tocsin serve` does:
the same guard (bearer token looked up and cached, per-call metrics), servicer, protobuf codec
and validation. Only the alert is never written: each call is checked and answered as a new
alert. Measured beside `tocsin serve` and the bare echo, it splits what a durable create costs
between the edge (gRPC, protobuf, authentication, validation) and the store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from prometheus_client import CollectorRegistry

from app.config import Config
from bench.process import LOOPBACK, free_ports, running, serve_until_terminated
from bench.tocsin import Endpoint, healthy
from protos.tocsin.v1 import alerts_pb2, alerts_pb2_grpc
from service.alerts import lifecycle
from service.alerts import validation as alert_validation
from service.alerts.model import Actor, CreateResult, NewAlert
from service.alerts.usecases import Alerts
from service.api.alerts import AlertServicer
from service.api.guard import Guard
from service.api.stream_slots import StreamSlots
from service.core.clock import Clock, SystemClock
from service.core.ids import new_uuid
from service.core.metrics import AlertMetrics, RpcMetrics
from service.db.sqlite import SQLiteStore
from service.db.store import Store
from service.teams.model import DEFAULT_TEAM
from service.tokens.usecases import ADMIN_TOKEN_FILE, Tokens

SERVICE = alerts_pb2.DESCRIPTOR.services_by_name["AlertService"].full_name


class UnstoredAlerts(Alerts):
    """Creates are validated and answered as new alerts, and never written."""

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, clock)
        self._now = clock.now
        self._tiny_ids = itertools.count(1)

    async def create(self, alert: NewAlert, actor: Actor) -> CreateResult:
        checked = alert_validation.new_alert(alert)
        team = checked.owner_team or DEFAULT_TEAM
        fresh = lifecycle.new(checked, new_uuid(), next(self._tiny_ids), team, team, self._now())
        return CreateResult(fresh, deduplicated=False)


@contextlib.asynccontextmanager
async def running_edge(data_dir: Path) -> AsyncIterator[Endpoint]:
    """Serves from `data_dir` for the block, with the token it writes there."""
    (port,) = free_ports(1)
    target = f"{LOOPBACK}:{port}"
    token_path = data_dir / ADMIN_TOKEN_FILE

    async def serving() -> bool:
        return token_path.exists() and await healthy(target)

    command = [sys.executable, "-m", "bench.edge", str(port), str(data_dir)]
    async with running("edge without storage", command, data_dir / "edge.log", serving):
        token = token_path.read_text().strip()
        yield Endpoint(target, (("authorization", f"Bearer {token}"),), "", token)


async def serve(port: int, data_dir: Path) -> None:
    """Serves until SIGTERM, which is how the bench stops it. Tokens live in a real store,
    as they do in `tocsin serve`; alerts live nowhere."""
    clock = SystemClock()
    store = SQLiteStore(data_dir / "tokens.db", clock)
    await store.open()
    try:
        tokens = Tokens(store, clock)
        await tokens.ensure_admin_token(data_dir)
        registry = CollectorRegistry()
        guard = Guard(tokens, RpcMetrics(registry))
        streams = StreamSlots(Config.max_watch_streams, Config.max_watch_streams_per_token)
        servicer = AlertServicer(UnstoredAlerts(store, clock), AlertMetrics(registry), streams)
        server = grpc.aio.server()
        alerts_pb2_grpc.add_AlertServiceServicer_to_server(guard.wrap(servicer, SERVICE), server)
        # The stubs lack the public asyncio variant, `health.aio`.
        health_pb2_grpc.add_HealthServicer_to_server(
            health.aio.HealthServicer(),  # type: ignore[attr-defined]
            server,
        )
        await serve_until_terminated(server, port)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__)
    parser.add_argument("port", type=int, help=f"port to listen on at {LOOPBACK}")
    parser.add_argument("data_dir", type=Path, help="where its token store and token file go")
    options = parser.parse_args()
    asyncio.run(serve(options.port, options.data_dir))


if __name__ == "__main__":
    main()

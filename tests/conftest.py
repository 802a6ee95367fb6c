"""Shared fixtures: a real store on disk and a real server on free loopback ports."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from adapters.registry import NotifySettings
from app.config import Config
from app.server import TocsinServer
from clients.client import TocsinClient
from edge.shim import GrpcCalendars, GrpcIngest, Shim
from edge.sns.config import SnsConfig
from service.answers.links import SECRET_ENV
from service.core.errors import StartupError
from service.db.postgres import PostgresStore
from service.db.sql_store import SQLStore
from service.paging.notifier import Notifier
from service.people.model import Channel
from service.tokens.usecases import ADMIN_TOKEN_FILE
from tests.databases import BACKENDS, open_store, postgres_database
from tests.fakes import FakeClock

LINK_SECRET = "a-link-secret-shared-by-the-replicas-of-tests"


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel hands it out again only later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLStore]:
    """An open store on each backend: the store contract holds for both."""
    async with open_store(request.param, tmp_path, FakeClock()) as opened:
        yield opened


@dataclass
class Running:
    server: TocsinServer
    clock: FakeClock
    target: str
    token: str
    data_dir: Path

    def client(self, token: str | None = None) -> TocsinClient:
        return TocsinClient(self.target, token or self.token, timeout=10)


@contextlib.asynccontextmanager
async def shim_url(running: Running, clock: FakeClock) -> AsyncIterator[str]:
    """The base URL of a `tocsin shim` edge that forwards to `running` over gRPC."""
    async with (
        grpc.aio.insecure_channel(running.target) as channel,
        aiohttp.ClientSession() as http,
    ):
        shim = Shim(
            GrpcIngest(channel, running.token), channel, CollectorRegistry(), clock, SnsConfig(),
            http, GrpcCalendars(channel, running.token), idle_seconds=120,
        )  # fmt: skip
        async with TestServer(shim.app()) as server:
            yield str(server.make_url("")).rstrip("/")


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path,
    clock: FakeClock,
    sns: SnsConfig | None = None,
    notifiers: Mapping[Channel, Notifier] | None = None,
    notifications: NotifySettings | None = None,
    backend: str = "sqlite",
    **settings: Any,
) -> AsyncIterator[Running]:
    """A real server on free loopback ports, on a fresh data directory (and, for the
    postgresql backend, a fresh database). Pages go to `notifiers` if given, else to the
    providers `notifications` configures (else the log); `settings` are other `Config` keys."""
    with contextlib.ExitStack() as stack:
        url = ""
        if backend == "postgresql":
            url = stack.enter_context(postgres_database())
            await PostgresStore(url, clock).migrate()
        async with _serving(
            tmp_path, clock, sns, notifiers, notifications, url, settings
        ) as running:
            yield running


@contextlib.asynccontextmanager
async def _serving(
    tmp_path: Path,
    clock: FakeClock,
    sns: SnsConfig | None,
    notifiers: Mapping[Channel, Notifier] | None,
    notifications: NotifySettings | None,
    database_url: str,
    settings: Mapping[str, Any],
) -> AsyncIterator[Running]:
    sns = sns or SnsConfig()
    environ = {SECRET_ENV: LINK_SECRET} if database_url else None
    for attempt in range(5):
        http_listen, public_url = "127.0.0.1:0", ""
        if database_url:
            # A replica must be told where it is reached: here, at its own listener.
            port = free_port()
            http_listen, public_url = f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
        config = Config(
            data_dir=tmp_path / "data",
            database_url=database_url,
            grpc_listen="127.0.0.1:0",
            http_listen=http_listen,
            public_url=public_url,
            sns=sns,
            notifications=notifications or NotifySettings(),
            **settings,
        )
        server = TocsinServer(
            config, clock, engine_interval=None, notifiers=notifiers, environ=environ
        )  # tests tick
        try:
            await server.start()
            break
        except StartupError:
            # The free port was taken between the probe and the bind (by this very
            # server's gRPC listener, or by a test running beside it): pick another.
            if attempt == 4 or not database_url:
                raise
    try:
        token = (config.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        yield Running(server, clock, f"127.0.0.1:{server.grpc_port}", token, config.data_dir)
    finally:
        await server.stop()


@pytest.fixture(params=BACKENDS)
async def running(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Running]:
    """A server on each backend: the API behaves the same on both."""
    async with serving(tmp_path, clock, backend=request.param) as server:
        yield server


@pytest.fixture
async def client(running: Running) -> AsyncIterator[TocsinClient]:
    async with running.client() as client:
        yield client

"""The composition root of `tocsin serve`: the one place that picks concrete parts and wires them.

One process runs the store, the gRPC server (with health and reflection), the engine loop and
the HTTP edge, which reaches the gRPC server over loopback like a separate shim would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from datetime import timedelta

import aiohttp
import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from adapters.registry import Notifiers
from adapters.registry import notifiers as build_notifiers
from app.config import Config, reachable, split_address
from edge.answers import LocalInbound
from edge.shim import LocalCalendars, LocalIngest, Shim
from protos.tocsin.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    escalations_pb2,
    escalations_pb2_grpc,
    inbound_pb2,
    inbound_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    integrations_pb2,
    integrations_pb2_grpc,
    schedules_pb2,
    schedules_pb2_grpc,
    teams_pb2,
    teams_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
    users_pb2,
    users_pb2_grpc,
)
from service.alerts.usecases import Alerts
from service.answers import links
from service.answers.usecases import Inbound
from service.api.alerts import AlertServicer
from service.api.answers import InboundServicer
from service.api.escalation import EscalationServicer
from service.api.guard import Guard
from service.api.health import HealthServicer
from service.api.ingest import IngestServicer
from service.api.integrations import IntegrationServicer
from service.api.request_decoding import DecodingServer
from service.api.schedules import ScheduleServicer
from service.api.stream_slots import StreamSlots
from service.api.teams import TeamServicer
from service.api.tokens import TokenServicer
from service.api.users import UserServicer
from service.core.clock import Clock
from service.core.errors import StartupError, TocsinError
from service.core.metrics import AlertMetrics, ConflictMetrics, RpcMetrics
from service.db.postgres import PostgresStore, redacted_url
from service.db.sql_store import SQLStore
from service.db.sqlite import SQLiteStore
from service.escalation.usecases import Policies
from service.ingest.integrations import Integrations
from service.ingest.usecases import Ingest
from service.oncall.usecases import Schedules
from service.paging.engine import Engine
from service.paging.notifier import Notifier
from service.paging.planning import ClaimedPage
from service.people.model import Channel
from service.people.usecases import Users
from service.people.webhook_targets import WebhookTargets
from service.teams.usecases import Teams
from service.tokens.usecases import Tokens

log = logging.getLogger(__name__)

ENGINE_INTERVAL_SECONDS = 1.0
# How often health asks the database. PostgreSQL's answer comes within a second (see
# `service.db.postgres_probe`), so health says NOT_SERVING within about two of it going.
HEALTH_INTERVAL_SECONDS = 1.0
SHUTDOWN_GRACE_SECONDS = 5.0
SERVICE_NAMES = (
    alerts_pb2.DESCRIPTOR.services_by_name["AlertService"].full_name,
    teams_pb2.DESCRIPTOR.services_by_name["TeamService"].full_name,
    tokens_pb2.DESCRIPTOR.services_by_name["TokenService"].full_name,
    integrations_pb2.DESCRIPTOR.services_by_name["IntegrationService"].full_name,
    ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
    users_pb2.DESCRIPTOR.services_by_name["UserService"].full_name,
    schedules_pb2.DESCRIPTOR.services_by_name["ScheduleService"].full_name,
    escalations_pb2.DESCRIPTOR.services_by_name["EscalationService"].full_name,
    inbound_pb2.DESCRIPTOR.services_by_name["InboundService"].full_name,
)


def grpc_options(config: Config) -> list[tuple[str, int]]:
    """The gRPC server's channel arguments: connections are not kept for nobody."""
    idle_ms = config.idle_timeout_seconds * 1000
    return [
        ("grpc.so_reuseport", 0),
        # A connection with no call for this long is told to go (GOAWAY) and closed.
        ("grpc.max_connection_idle_ms", idle_ms),
        # One that has not finished its HTTP/2 handshake by then is closed (default 120 s).
        ("grpc.server_handshake_timeout_ms", idle_ms),
        # A peer that stops answering pings while it holds a call (a watch stream, say) has
        # gone: its calls end and its connection closes instead of waiting for TCP to notice.
        ("grpc.keepalive_time_ms", idle_ms),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]


def open_store(config: Config, clock: Clock) -> SQLStore:
    """The configured database: PostgreSQL when a URL is given, else SQLite in the data dir."""
    if config.database_url:
        return PostgresStore(config.database_url, clock, pool_size=config.database_pool_size)
    return SQLiteStore(config.database_path, clock)


class TocsinServer:
    def __init__(
        self,
        config: Config,
        clock: Clock,
        engine_interval: float | None = ENGINE_INTERVAL_SECONDS,
        notifiers: Mapping[Channel, Notifier] | None = None,
        environ: Mapping[str, str] | None = None,
        public_edge: bool = True,
    ) -> None:
        """`engine_interval` None runs no engine loop: tests drive `engine.tick()` themselves.
        `notifiers` replaces the providers the configuration names (tests use fakes);
        `environ` (default: the process's) may hold the shared link secret. Without
        `public_edge` the HTTP listener serves only health and metrics (`tocsin server`)."""
        self.config = config
        self._public_edge = public_edge
        self._engine_interval = engine_interval
        self.clock = clock
        self.store = open_store(config, clock)
        self.registry = CollectorRegistry()
        self.alerts = Alerts(self.store, clock)
        self.teams = Teams(self.store, clock)
        self.tokens = Tokens(self.store, clock)
        self.ingest = Ingest(self.store, clock)
        self.integrations = Integrations(
            self.store, clock, lambda: config.integration_base_url(self.http_port)
        )
        # Webhook contacts are checked by the rule the webhook adapter sends by.
        self.users = Users(
            self.store, clock, webhooks=WebhookTargets(config.notifications.webhook_rule)
        )
        self.schedules = Schedules(self.store, clock)
        self.alert_metrics = AlertMetrics(self.registry)
        self.watch_streams = StreamSlots(
            config.max_watch_streams, config.max_watch_streams_per_token
        )
        self.health_watch_streams = StreamSlots(
            config.max_health_watch_streams, kind="health watch", key="max_health_watch_streams"
        )
        if isinstance(self.store, PostgresStore):
            store = self.store
            ConflictMetrics(self.registry, lambda: store.conflicts)
        self.policies = Policies(self.store, clock)
        self._environ = os.environ if environ is None else environ
        self._link_secret = b""  # read from the environment or the data directory at start
        self.inbound = Inbound(self.store, self.alerts, clock, lambda: self._link_secret)
        # Filled from the configuration once there is an HTTP session for the providers.
        self._notifiers: dict[Channel, Notifier] = dict(notifiers or {})
        self._providers: Notifiers | None = None
        self.engine = Engine(
            self.alerts,
            self.store,
            self._notifiers,
            clock,
            self.alert_metrics,
            ack_url=self._ack_url,
            lease=timedelta(seconds=config.page_lease_seconds),
            shared=isinstance(self.store, PostgresStore),
        )
        self.grpc_port = 0
        self.http_port = 0
        self._health = HealthServicer(self.health_watch_streams)
        self._grpc: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None
        self._outbound: aiohttp.ClientSession | None = None
        self._http: web.AppRunner | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Starts everything, or, if any part fails, stops what had started and raises."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        # Before anything is written: a replica that would refuse must not first make the
        # shared admin token (whose secret only its own data directory would then hold).
        if self.config.database_url and not self.config.public_url:
            # Else every page's acknowledge link (and every integration URL) would name this
            # replica's own listener: on `tocsin server` it serves no links (404), and behind
            # a load balancer nobody outside reaches it.
            raise StartupError(
                "replicas sharing a database must be told where they are reached: set "
                "public_url (or TOCSIN_PUBLIC_URL) to the URL of the shims' load balancer, "
                "which acknowledge links in pages and integration URLs point at"
            )
        if self.config.database_url and not self._environ.get(links.SECRET_ENV):
            # A secret of its own data directory would sign links the other replicas refuse.
            raise StartupError(
                f"replicas sharing a database must share the acknowledge-link secret: set "
                f"{links.SECRET_ENV} (e.g. to the output of `openssl rand -base64 32`) on each"
            )
        # The data directory holds the database and the admin token: the owner's alone.
        self.config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await self.store.open()
        admin = await self.tokens.ensure_admin_token(self.config.data_dir)
        if admin is not None:
            log.warning("created the admin token; its secret is in %s (mode 0600)", admin)
        self._link_secret = links.ensure_secret(self.config.data_dir, self._environ)
        await self._start_grpc()
        await self._start_http()
        if not self._notifiers:
            self._providers = build_notifiers(
                self.config.notifications, self.clock, self.engine.send_timeout
            )
            self._notifiers.update(self._providers.by_channel)
        self._tasks = [asyncio.create_task(self._watch_store_health())]
        if self._engine_interval is not None:
            self._tasks.append(
                asyncio.create_task(self.engine.run(self._engine_interval, self._stop))
            )
        self._warn_without_public_url()
        log.info(
            "tocsin is serving: gRPC on %s, HTTP on %s, data in %s",
            self._address(self.config.grpc_listen, self.grpc_port),
            self._address(self.config.http_listen, self.http_port),
            redacted_url(self.config.database_url)
            if self.config.database_url
            else self.config.data_dir,
        )

    def _warn_without_public_url(self) -> None:
        """Without `public_url`, the URLs to paste into SNS (and the links in pages) name this
        machine's listener, which nothing outside it reaches."""
        if self.config.public_url or not self._public_edge or self.config.database_url:
            return
        log.warning(
            "public_url is not set: integration URLs and acknowledge links use %s, which only "
            "this machine reaches; set public_url (TOCSIN_PUBLIC_URL) to the HTTPS address "
            "Amazon SNS and responders reach this edge at",
            self.config.integration_base_url(self.http_port),
        )

    async def _start_grpc(self) -> None:
        server = grpc.aio.server(options=grpc_options(self.config))
        # Every service registers through this, so a request that cannot be decoded gets
        # INVALID_ARGUMENT rather than gRPC's UNKNOWN and traceback.
        registrar = DecodingServer(server).as_server()
        guard = Guard(self.tokens, RpcMetrics(self.registry))
        (
            alerts_name,
            teams_name,
            tokens_name,
            integrations_name,
            ingest_name,
            users_name,
            schedules_name,
            escalations_name,
            inbound_name,
        ) = SERVICE_NAMES
        alerts_pb2_grpc.add_AlertServiceServicer_to_server(
            guard.wrap(
                AlertServicer(self.alerts, self.alert_metrics, self.watch_streams), alerts_name
            ),
            registrar,
        )
        teams_pb2_grpc.add_TeamServiceServicer_to_server(
            guard.wrap(TeamServicer(self.teams), teams_name), registrar
        )
        tokens_pb2_grpc.add_TokenServiceServicer_to_server(
            guard.wrap(TokenServicer(self.tokens), tokens_name), registrar
        )
        integrations_pb2_grpc.add_IntegrationServiceServicer_to_server(
            guard.wrap(IntegrationServicer(self.integrations), integrations_name), registrar
        )
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(
            guard.wrap(IngestServicer(self.ingest), ingest_name), registrar
        )
        users_pb2_grpc.add_UserServiceServicer_to_server(
            guard.wrap(UserServicer(self.users), users_name), registrar
        )
        schedules_pb2_grpc.add_ScheduleServiceServicer_to_server(
            guard.wrap(
                ScheduleServicer(
                    self.schedules,
                    self.store,
                    lambda: self.config.integration_base_url(self.http_port),
                ),
                schedules_name,
            ),
            registrar,
        )
        escalations_pb2_grpc.add_EscalationServiceServicer_to_server(
            guard.wrap(
                EscalationServicer(self.policies, self.alerts, self.store), escalations_name
            ),
            registrar,
        )
        inbound_pb2_grpc.add_InboundServiceServicer_to_server(
            guard.wrap(InboundServicer(self.inbound), inbound_name), registrar
        )
        # Health answers without a token: load balancers probe it without credentials.
        health_pb2_grpc.add_HealthServicer_to_server(self._health, registrar)
        # The stubs lack the asyncio reflection servicer, `reflection.aio`.
        reflecting = reflection.aio.ReflectionServicer(  # type: ignore[attr-defined]
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME)
        )
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            guard.wrap(reflecting, reflection.SERVICE_NAME), registrar
        )
        try:
            port = server.add_insecure_port(self.config.grpc_listen)
        except RuntimeError as exc:
            raise StartupError(
                f"cannot listen for gRPC on {self.config.grpc_listen}: {exc}"
            ) from exc
        if port == 0:
            raise StartupError(f"cannot listen for gRPC on {self.config.grpc_listen}")
        await server.start()
        self._grpc = server
        self.grpc_port = port
        for name in ("", *SERVICE_NAMES):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def _start_http(self) -> None:
        self._channel = grpc.aio.insecure_channel(
            reachable(self.config.grpc_listen, self.grpc_port)
        )
        self._outbound = aiohttp.ClientSession()
        shim = Shim(
            LocalIngest(self.ingest),
            self._channel,
            self.registry,
            self.clock,
            self.config.sns,
            self._outbound,
            LocalCalendars(self.schedules),
            inbound=LocalInbound(self.inbound),
            twilio=self.config.notifications.twilio,
            public_url=lambda: self.config.integration_base_url(self.http_port),
            idle_seconds=self.config.idle_timeout_seconds,
        )
        runner = shim.runner(public=self._public_edge)
        await runner.setup()
        http_host, http_port = split_address(self.config.http_listen)
        site = web.TCPSite(runner, http_host, http_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"cannot listen for HTTP on {self.config.http_listen}: {exc.strerror}"
            ) from exc
        self._http = runner
        self.http_port = runner.addresses[0][1]

    def _ack_url(self, page: ClaimedPage) -> str:
        """The page's signed one-click acknowledge link, good for a day from its sending."""
        base = self.config.integration_base_url(self.http_port)
        return links.url(base, self._link_secret, page.alert.id, page.user_id, self.clock.now())

    async def _watch_store_health(self) -> None:
        """Reports NOT_SERVING, for every service, while the database cannot be reached (all
        of them need it), so balancers steer away; SERVING again once it answers."""
        serving = True
        while not self._stop.is_set():
            try:
                await self.store.ping()
                reason = ""
            except TocsinError as exc:
                reason = str(exc) or type(exc).__name__
            if serving != (not reason):
                serving = not reason
                if serving:
                    log.warning("the database answers again: serving")
                else:
                    log.error("database unreachable, not serving: %s", reason)
                status = (
                    health_pb2.HealthCheckResponse.SERVING
                    if serving
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
                for name in ("", *SERVICE_NAMES):
                    await self._health.set(name, status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), HEALTH_INTERVAL_SECONDS)

    async def stop(self) -> None:
        """Stops taking calls, lets running ones finish, then closes the store. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.alerts.end_watches()
        await self._health.enter_graceful_shutdown()
        if self._http is not None:
            await self._http.cleanup()
        if self._grpc is not None:
            await self._grpc.stop(SHUTDOWN_GRACE_SECONDS)
        for task in self._tasks:  # the engine finishes its tick before its providers close
            await task
        if self._providers is not None:
            await self._providers.close()
        if self._channel is not None:
            await self._channel.close(None)
        if self._outbound is not None:
            await self._outbound.close()
        await self.store.close()
        log.info("tocsin stopped")

    async def run_until_stopped(self) -> None:
        """Serves until SIGTERM or SIGINT, then shuts down gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
            log.info("shutting down")
        finally:
            await self.stop()

    @staticmethod
    def _address(configured: str, port: int) -> str:
        host, _ = split_address(configured)
        return f"{host}:{port}"

"""The composition root of `tocsin serve`: the one place that picks concrete parts and wires them.

One process runs the store, the gRPC server (with health and reflection; `app.grpc_server`),
the engine loop and the HTTP edge (`app.http_server`), which reaches the gRPC server over
loopback like a separate shim would. Which use case each servicer and the edge are given is
decided here; those modules assemble and run the servers.
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
from grpc_health.v1 import health_pb2
from prometheus_client import CollectorRegistry

from adapters.registry import Notifiers
from adapters.registry import notifiers as build_notifiers
from app.config import Config, split_address
from app.grpc_server import GrpcServer, Servicers
from app.http_server import HttpServer
from edge.answers import LocalAnswers
from edge.shim import LocalCalendars, LocalIngest, Shim
from service.alerts.usecases import Alerts
from service.answers import links
from service.answers.usecases import Answers
from service.api.alerts import AlertServicer
from service.api.answers import AnswerServicer
from service.api.escalation import EscalationServicer
from service.api.ingest import IngestServicer
from service.api.integrations import IntegrationServicer
from service.api.schedules import ScheduleServicer
from service.api.stream_slots import StreamSlots
from service.api.teams import TeamServicer
from service.api.tokens import TokenServicer
from service.api.users import UserServicer
from service.core.clock import Clock
from service.core.errors import StartupError, TocsinError
from service.core.metrics import AlertMetrics, ConflictMetrics
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
        self.integrations = Integrations(self.store, clock, self._public_base_url)
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
        self.answers = Answers(self.store, self.alerts, clock, lambda: self._link_secret)
        # Filled from the configuration once there is an HTTP session for the providers.
        self._notifiers: dict[Channel, Notifier] = dict(notifiers or {})
        self._providers: Notifiers | None = None
        self.engine = self._new_engine()
        self._grpc = GrpcServer(config, self.tokens, self.registry, self.health_watch_streams)
        self._http = HttpServer(config, public_edge)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _new_engine(self) -> Engine:
        return Engine(
            self.alerts,
            self.store,
            self._notifiers,
            self.clock,
            self.alert_metrics,
            ack_url=self._ack_url,
            lease=timedelta(seconds=self.config.page_lease_seconds),
            shared=isinstance(self.store, PostgresStore),
        )

    @property
    def grpc_port(self) -> int:
        """The port the gRPC server listens on, once started (0 before)."""
        return self._grpc.port

    @property
    def http_port(self) -> int:
        """The port the HTTP edge listens on, once started (0 before)."""
        return self._http.port

    def _public_base_url(self) -> str:
        """Where the HTTP edge is reached from outside: integration URLs, calendar URLs and
        acknowledge links all start with it (the bound port's URL without `public_url`)."""
        return self.config.integration_base_url(self.http_port)

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
        await self._grpc.start(self._servicers())
        await self._http.start(self.grpc_port, self._shim)
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
            self._public_base_url(),
        )

    def _servicers(self) -> Servicers:
        return Servicers(
            alerts=AlertServicer(self.alerts, self.alert_metrics, self.watch_streams),
            teams=TeamServicer(self.teams),
            tokens=TokenServicer(self.tokens),
            integrations=IntegrationServicer(self.integrations),
            ingest=IngestServicer(self.ingest),
            users=UserServicer(self.users),
            schedules=ScheduleServicer(
                self.schedules,
                self.teams,
                self._public_base_url,
            ),
            escalations=EscalationServicer(self.policies, self.alerts, self.teams),
            answers=AnswerServicer(self.answers),
        )

    def _shim(self, channel: grpc.aio.Channel, outbound: aiohttp.ClientSession) -> Shim:
        """The HTTP edge, calling this process's use cases rather than its gRPC API."""
        return Shim(
            LocalIngest(self.ingest),
            channel,
            self.registry,
            self.clock,
            self.config.sns,
            outbound,
            LocalCalendars(self.schedules),
            answers=LocalAnswers(self.answers),
            twilio=self.config.notifications.twilio,
            public_url=self._public_base_url,
            idle_seconds=self.config.idle_timeout_seconds,
        )

    def _ack_url(self, page: ClaimedPage) -> str:
        """The page's signed one-click acknowledge link, good for a day from its sending."""
        return links.url(
            self._public_base_url(),
            self._link_secret,
            page.alert.id,
            page.user_id,
            self.clock.now(),
        )

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
                await self._grpc.report(
                    health_pb2.HealthCheckResponse.SERVING
                    if serving
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), HEALTH_INTERVAL_SECONDS)

    async def stop(self) -> None:
        """Stops taking calls, lets running ones finish, then closes the store. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.alerts.end_watches()
        await self._grpc.health.enter_graceful_shutdown()
        await self._http.stop()
        await self._grpc.stop()
        for task in self._tasks:  # the engine finishes its tick before its providers close
            await task
        if self._providers is not None:
            await self._providers.close()
        await self._http.close()
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

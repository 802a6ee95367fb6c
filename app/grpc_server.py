"""The gRPC server of `tocsin serve` and `tocsin server`: every service of the API behind the
token guard, health (which needs no token) and reflection, on the configured listener.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from app.config import Config
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
from service.api.alerts import AlertServicer
from service.api.answers import AnswerServicer
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
from service.core.errors import StartupError
from service.core.metrics import RpcMetrics
from service.tokens.usecases import Tokens

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


@dataclass(frozen=True)
class Servicers:
    """A servicer for each service of the API, as the composition root wired them."""

    alerts: AlertServicer
    teams: TeamServicer
    tokens: TokenServicer
    integrations: IntegrationServicer
    ingest: IngestServicer
    users: UserServicer
    schedules: ScheduleServicer
    escalations: EscalationServicer
    answers: AnswerServicer


class GrpcServer:
    """The process's gRPC side: `start` listens and serves, `report` sets the health every
    service answers with, `stop` ends it gracefully."""

    def __init__(
        self,
        config: Config,
        tokens: Tokens,
        registry: CollectorRegistry,
        health_watch_streams: StreamSlots,
    ) -> None:
        """`tokens` checks every call's token but health's; the guard's metrics go into
        `registry`; `health_watch_streams` limits health's Watch streams."""
        self._config = config
        self._tokens = tokens
        self._registry = registry
        self.health = HealthServicer(health_watch_streams)
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self, servicers: Servicers) -> None:
        """Listens, serves, and reports every service SERVING."""
        server = grpc.aio.server(options=grpc_options(self._config))
        # Every service registers through this, so a request that cannot be decoded gets
        # INVALID_ARGUMENT rather than gRPC's UNKNOWN and traceback.
        registrar = DecodingServer(server).as_server()
        guard = Guard(self._tokens, RpcMetrics(self._registry))
        _add_services(registrar, servicers, guard)
        # Health answers without a token: load balancers probe it without credentials.
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        # The stubs lack the asyncio reflection servicer, `reflection.aio`.
        reflecting = reflection.aio.ReflectionServicer(  # type: ignore[attr-defined]
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME)
        )
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            guard.wrap(reflecting, reflection.SERVICE_NAME), registrar
        )
        try:
            port = server.add_insecure_port(self._config.grpc_listen)
        except RuntimeError as exc:
            raise StartupError(
                f"cannot listen for gRPC on {self._config.grpc_listen}: {exc}"
            ) from exc
        if port == 0:
            raise StartupError(f"cannot listen for gRPC on {self._config.grpc_listen}")
        await server.start()
        self._server = server
        self.port = port
        await self.report(health_pb2.HealthCheckResponse.SERVING)

    async def report(self, status: int) -> None:
        """Sets the health of every service, and of the server as a whole (no name)."""
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)

    async def stop(self) -> None:
        """Takes no new calls and gives running ones a grace period; nothing if never started."""
        if self._server is not None:
            await self._server.stop(SHUTDOWN_GRACE_SECONDS)


def _add_services(registrar: grpc.aio.Server, servicers: Servicers, guard: Guard) -> None:
    """Every service behind the guard, in `SERVICE_NAMES` order."""
    added: tuple[tuple[Callable[[Any, grpc.aio.Server], None], object], ...] = (
        (alerts_pb2_grpc.add_AlertServiceServicer_to_server, servicers.alerts),
        (teams_pb2_grpc.add_TeamServiceServicer_to_server, servicers.teams),
        (tokens_pb2_grpc.add_TokenServiceServicer_to_server, servicers.tokens),
        (integrations_pb2_grpc.add_IntegrationServiceServicer_to_server, servicers.integrations),
        (ingest_pb2_grpc.add_IngestServiceServicer_to_server, servicers.ingest),
        (users_pb2_grpc.add_UserServiceServicer_to_server, servicers.users),
        (schedules_pb2_grpc.add_ScheduleServiceServicer_to_server, servicers.schedules),
        (escalations_pb2_grpc.add_EscalationServiceServicer_to_server, servicers.escalations),
        (inbound_pb2_grpc.add_InboundServiceServicer_to_server, servicers.answers),
    )
    for (add, servicer), name in zip(added, SERVICE_NAMES, strict=True):
        add(guard.wrap(servicer, name), registrar)

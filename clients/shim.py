"""The HTTP edge. Stateless: it holds no database connection and asks the service over gRPC.

For now it serves `/healthz` (the service's gRPC health, for load balancers) and `/metrics`
(Prometheus exposition).
"""

from __future__ import annotations

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

HEALTH_TIMEOUT_SECONDS = 2.0


class Shim:
    def __init__(self, channel: grpc.aio.Channel, registry: CollectorRegistry) -> None:
        self._health = health_pb2_grpc.HealthStub(channel)
        self._registry = registry

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as exc:
            reason = f"the service did not answer its health check: {exc.code().name}"
            return web.json_response({"status": "unavailable", "reason": reason}, status=503)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return web.json_response(
                {"status": "unavailable", "reason": "the service reports it is not serving"},
                status=503,
            )
        return web.json_response({"status": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

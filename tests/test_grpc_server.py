"""The standard gRPC services beside Tocsin's own: health (open) and reflection (guarded)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import Running


async def test_health_answers_without_a_token(running: Running) -> None:
    async with grpc.aio.insecure_channel(running.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tocsin.v1.AlertService", "tocsin.v1.TeamService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _list_services(running: Running, token: str | None) -> list[str]:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    async with grpc.aio.insecure_channel(running.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo(metadata=metadata, timeout=5)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        await call.done_writing()
        reply = await call.read()
        assert isinstance(reply, reflection_pb2.ServerReflectionResponse)
        return [service.name for service in reply.list_services_response.service]


async def test_reflection_lists_the_services_to_a_caller_with_a_token(running: Running) -> None:
    services = await _list_services(running, running.token)
    assert {"tocsin.v1.AlertService", "tocsin.v1.TeamService", "tocsin.v1.TokenService"} <= set(
        services
    )
    assert "grpc.health.v1.Health" in services


async def test_reflection_needs_a_token(running: Running) -> None:
    async with grpc.aio.insecure_channel(running.target) as channel:
        # Nothing is sent: the server refuses the call on its metadata alone, and a request
        # written meanwhile could fail on its own account (INTERNAL) and hide how it ended.
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(timeout=5)
        assert await call.code() is grpc.StatusCode.UNAUTHENTICATED

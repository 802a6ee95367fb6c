"""The standard gRPC services beside Tocsin's own: health (open) and reflection (guarded)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos.tocsin.v1 import alerts_pb2, alerts_pb2_grpc
from service.api.guard import MAX_STATUS_MESSAGE, status_of
from service.core.errors import NotFound
from tests.conftest import Running, serving
from tests.fakes import FakeClock


async def test_health_answers_without_a_token(running: Running) -> None:
    async with grpc.aio.insecure_channel(running.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tocsin.v1.AlertService", "tocsin.v1.TeamService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_watch_streams_are_limited_in_all_and_check_is_not(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with (
        serving(tmp_path, clock, max_health_watch_streams=3) as running,
        grpc.aio.insecure_channel(running.target) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="")

        async def opened() -> Any:
            call = health.Watch(request, timeout=30)
            reply = await call.read()  # the current status: the stream is under way
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            return call

        streams = [await opened() for _ in range(3)]
        refused = health.Watch(request, timeout=5)
        assert await refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        details = await refused.details()
        assert "3 health watch streams open" in details and "(max_health_watch_streams)" in details
        for _ in range(20):  # Check holds nothing and needs no token: never limited
            reply = await health.Check(request, timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        streams.pop().cancel()  # the call ends; its slot frees once the server sees
        for _ in range(100):
            if running.server.health_watch_streams.open < 3:
                break
            await asyncio.sleep(0.05)
        streams.append(await opened())
        for stream in streams:
            stream.cancel()


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


GARBAGE = b"\xff\xff\xff\xff"  # a field tag with no end: no message decodes from it


@pytest.mark.parametrize(
    ("method", "kind", "with_token"),
    [
        ("/tocsin.v1.AlertService/GetAlert", "unary", False),
        ("/tocsin.v1.AlertService/GetAlert", "unary", True),
        ("/tocsin.v1.AlertService/WatchAlerts", "stream", True),
        ("/grpc.health.v1.Health/Check", "unary", False),
        ("/grpc.health.v1.Health/Watch", "stream", False),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "bidi", True),
    ],
)
async def test_a_request_that_does_not_decode_is_invalid_argument_in_one_log_line(
    running: Running,
    caplog: pytest.LogCaptureFixture,
    method: str,
    kind: str,
    with_token: bool,
) -> None:
    metadata = (("authorization", f"Bearer {running.token}"),) if with_token else ()
    caplog.set_level(logging.INFO)
    async with grpc.aio.insecure_channel(running.target) as channel:
        # No serializers: the bytes go out as they are.
        if kind == "bidi":
            bidi = channel.stream_stream(method, None, None)
            call: Any = bidi(iter([GARBAGE]), metadata=metadata, timeout=5)
        elif kind == "stream":
            call = channel.unary_stream(method, None, None)(GARBAGE, metadata=metadata, timeout=5)
        else:
            call = channel.unary_unary(method, None, None)(GARBAGE, metadata=metadata, timeout=5)
        assert await call.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "is not a valid" in await call.details()
    about = [r for r in caplog.records if method in r.getMessage()]
    assert len(about) == 1 and about[0].levelno <= logging.WARNING
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_an_error_quotes_a_long_value_cut_so_its_status_arrives(running: Running) -> None:
    long_id = "x" * 20_000  # quoted whole, the status would pass gRPC's 8 KiB trailer limit
    async with grpc.aio.insecure_channel(running.target) as channel:
        stub = alerts_pb2_grpc.AlertServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetAlert(
                alerts_pb2.GetAlertRequest(ref=alerts_pb2.AlertRef(id=long_id)),
                metadata=(("authorization", f"Bearer {running.token}"),),
                timeout=5,
            )
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    details = raised.value.details() or ""
    assert details.startswith("no alert with id 'xxx") and "20000 characters" in details
    assert len(details) < 200


def test_a_status_message_is_cut_whatever_raised_it() -> None:
    code, message = status_of(NotFound("no such thing: " + "😀" * 50_000))
    assert code is grpc.StatusCode.NOT_FOUND
    assert message.startswith("no such thing: 😀") and message.endswith("…")
    assert len(message.encode()) <= MAX_STATUS_MESSAGE


async def test_a_long_status_message_reaches_the_caller_whole(running: Running) -> None:
    name = "😀" * 5_000  # no team has it; more than 8 KiB however it is quoted
    async with grpc.aio.insecure_channel(running.target) as channel:
        stub = alerts_pb2_grpc.AlertServiceStub(channel)
        ref = alerts_pb2.AlertRef(alias="a", team=name)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetAlert(
                alerts_pb2.GetAlertRequest(ref=ref),
                metadata=(("authorization", f"Bearer {running.token}"),),
                timeout=5,
            )
    assert raised.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)

"""The calls under load: CreateAlert in its two modes, and the bare echo they are judged by.

Every request has the same size: aliases are all as long, and the echo payload is a serialized
CreateAlertRequest itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import grpc

from bench.echo import echo_callable
from bench.errors import BenchError
from bench.load import Call
from bench.tocsin import Metadata
from protos.tocsin.v1 import alerts_pb2, alerts_pb2_grpc

CALL_TIMEOUT_SECONDS = 10.0

Prepare = Callable[[grpc.aio.Channel, Metadata], Awaitable[Call]]


def fresh_alias() -> str:
    """Unique across scenarios and runs, and always the same length."""
    return f"bench-{uuid.uuid4().hex}"


def create_request(alias: str) -> alerts_pb2.CreateAlertRequest:
    return alerts_pb2.CreateAlertRequest(
        message="Disk full on db-1",
        alias=alias,
        tags=["disk", "db"],
        details={"host": "db-1"},
        source="bench",
    )


ECHO_PAYLOAD = create_request(fresh_alias()).SerializeToString()


async def new_aliases(channel: grpc.aio.Channel, metadata: Metadata) -> Call:
    """Every call a fresh alias, so every call stores a new durable alert."""
    create = alerts_pb2_grpc.AlertServiceStub(channel).CreateAlert

    async def call() -> None:
        request = create_request(fresh_alias())
        reply = await create(request, timeout=CALL_TIMEOUT_SECONDS, metadata=metadata)
        _expect(reply, deduplicated=False)

    return call


async def repeated_alias(channel: grpc.aio.Channel, metadata: Metadata) -> Call:
    """One alias for every call: created once up front, so each measured call deduplicates."""
    create = alerts_pb2_grpc.AlertServiceStub(channel).CreateAlert
    request = create_request(fresh_alias())
    await create(request, timeout=CALL_TIMEOUT_SECONDS, metadata=metadata)

    async def call() -> None:
        reply = await create(request, timeout=CALL_TIMEOUT_SECONDS, metadata=metadata)
        _expect(reply, deduplicated=True)

    return call


async def echo(channel: grpc.aio.Channel, metadata: Metadata) -> Call:
    """The same bytes and metadata as a CreateAlert, sent to the bare echo server."""
    send = echo_callable(channel)

    async def call() -> None:
        reply = await send(ECHO_PAYLOAD, timeout=CALL_TIMEOUT_SECONDS, metadata=metadata)
        if reply != ECHO_PAYLOAD:
            raise BenchError("the echo server answered with different bytes")

    return call


CREATE_MODES: tuple[tuple[str, Prepare], ...] = (
    ("new aliases", new_aliases),
    ("repeated alias", repeated_alias),
)


def _expect(reply: alerts_pb2.CreateAlertResponse, *, deduplicated: bool) -> None:
    """A mode that quietly took the other path would measure the wrong thing."""
    if reply.deduplicated != deduplicated:
        raise BenchError(
            f"expected deduplicated={deduplicated}, got {reply.deduplicated} "
            f"(alert {reply.alert.tiny_id}, count {reply.alert.count})"
        )

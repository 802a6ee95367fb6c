"""A bare gRPC echo server: the most any unary call can do on this machine with Python gRPC.

Run as `python -m bench.echo PORT`. One generic handler returns the request bytes untouched:
no protobuf, no authentication, no storage. Measured next to Tocsin, it separates what gRPC
itself costs from what Tocsin adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from bench.process import (
    LOOPBACK,
    PROBE_TIMEOUT_SECONDS,
    free_ports,
    running,
    serve_until_terminated,
)

SERVICE = "bench.Echo"
METHOD = "Echo"
PROBE_PAYLOAD = b"are you there"


def identity(payload: bytes) -> bytes:
    """Leaves the bytes as they are, so neither side pays for (de)serialization."""
    return payload


def echo_callable(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(
        f"/{SERVICE}/{METHOD}", request_serializer=identity, response_deserializer=identity
    )


@contextlib.asynccontextmanager
async def running_echo(scratch: Path) -> AsyncIterator[str]:
    """Runs the echo server for the block and yields its target address."""
    (port,) = free_ports(1)
    target = f"{LOOPBACK}:{port}"

    async def answering() -> bool:
        return await _answers(target)

    command = [sys.executable, "-m", "bench.echo", str(port)]
    async with running("echo server", command, scratch / "echo.log", answering):
        yield target


async def _answers(target: str) -> bool:
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await echo_callable(channel)(PROBE_PAYLOAD, timeout=PROBE_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError:
            return False
    return reply == PROBE_PAYLOAD


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


async def serve(port: int) -> None:
    """Serves until SIGTERM, which is how the bench stops it."""
    handler = grpc.unary_unary_rpc_method_handler(
        _echo, request_deserializer=identity, response_serializer=identity
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler})]
    )
    await serve_until_terminated(server, port)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo", description=__doc__)
    parser.add_argument("port", type=int, help=f"port to listen on at {LOOPBACK}")
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()

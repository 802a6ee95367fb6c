"""A real `tocsin serve` child process for the bench, and how to call it as the admin."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.process import LOOPBACK, PROBE_TIMEOUT_SECONDS, free_ports, running
from service.tokens.usecases import ADMIN_TOKEN_FILE

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Endpoint:
    target: str
    metadata: Metadata
    http: str  # the HTTP edge's base URL
    token: str


@contextlib.asynccontextmanager
async def running_tocsin(data_dir: Path, config: Path | None = None) -> AsyncIterator[Endpoint]:
    """Serves from `data_dir` for the block; the server writes the admin token there itself."""
    grpc_port, http_port = free_ports(2)
    target = f"{LOOPBACK}:{grpc_port}"
    token_path = data_dir / ADMIN_TOKEN_FILE
    command = [
        sys.executable, "-m", "app.main", "serve",
        "--data-dir", str(data_dir),
        "--grpc-listen", target,
        "--http-listen", f"{LOOPBACK}:{http_port}",
        "--log-format", "json",
        "--log-level", "warning",
    ]  # fmt: skip
    if config is not None:
        command += ["--config", str(config)]

    async def serving() -> bool:
        return token_path.exists() and await healthy(target)

    async with running("tocsin serve", command, data_dir / "serve.log", serving):
        token = token_path.read_text().strip()
        metadata = (("authorization", f"Bearer {token}"),)
        yield Endpoint(target, metadata, f"http://{LOOPBACK}:{http_port}", token)


async def healthy(target: str) -> bool:
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=PROBE_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

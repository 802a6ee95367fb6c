"""Child servers for the bench: free ports, start, wait until they answer, stop.

Each server's output goes to a log file in the scratch directory, so its chatter stays out of
the printed figures yet is at hand when it fails to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import aiohttp
import grpc

from bench.errors import BenchError

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 1.0
POLL_SECONDS = 0.1
LOG_TAIL_CHARACTERS = 2000

Probe = Callable[[], Awaitable[bool]]


def free_ports(count: int) -> list[int]:
    """Ports the OS just had free, held open together so no two of them are the same."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for bound in sockets:
            bound.bind((LOOPBACK, 0))
        return [int(bound.getsockname()[1]) for bound in sockets]


def healthz(base: str) -> Probe:
    """Ready once `GET {base}/healthz` answers 200."""

    async def answering() -> bool:
        async with aiohttp.ClientSession() as http:
            try:
                timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECONDS)
                async with http.get(f"{base}/healthz", timeout=timeout) as reply:
                    return reply.status == 200
            except aiohttp.ClientError:
                return False

    return answering


@contextlib.asynccontextmanager
async def running(
    name: str,
    command: Sequence[str],
    log_path: Path,
    ready: Probe,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[None]:
    """Runs `command` from the repository root for the block, once `ready` says it serves;
    `env` adds to the bench's own environment."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            await _wait_until_ready(name, process, ready, log_path)
            yield
        finally:
            await _stop(process)


async def _wait_until_ready(
    name: str, process: asyncio.subprocess.Process, ready: Probe, log_path: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not await ready():
        if process.returncode is not None:
            raise BenchError(
                f"{name} exited with status {process.returncode} while starting; "
                f"its log ends:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise BenchError(
                f"{name} did not answer within {STARTUP_TIMEOUT_SECONDS:.0f} s; "
                f"its log ends:\n{_tail(log_path)}"
            )
        await asyncio.sleep(POLL_SECONDS)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM first, so the server shuts down the way it does in production; kill if it hangs."""
    if process.returncode is not None:
        return
    # The process may exit between the check above and the signal.
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-LOG_TAIL_CHARACTERS:]


async def serve_until_terminated(server: grpc.aio.Server, port: int) -> None:
    """Serves on the loopback port until SIGTERM, which is how the bench stops its servers."""
    server.add_insecure_port(f"{LOOPBACK}:{port}")
    await server.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await server.stop(grace=None)

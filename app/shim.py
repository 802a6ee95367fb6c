"""`tocsin shim`: the HTTP edge alone, in front of the service at a gRPC address. It holds no
database connection and no state, so any number of these can run behind a load balancer.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import aiohttp
import grpc
from aiohttp import web
from prometheus_client import CollectorRegistry

from app.config import Config, split_address
from edge.answers import GrpcAnswers
from edge.shim import GrpcCalendars, GrpcIngest, Shim
from service.core.clock import Clock
from service.core.errors import StartupError

# The name the shim's start and stop lines have always been logged under, which log filters
# may match: the HTTP edge's own.
log = logging.getLogger("edge.shim")


async def run_shim(target: str, token: str, config: Config, clock: Clock) -> None:
    """`tocsin shim`: the HTTP edge alone, in front of the service at `target`, until SIGTERM
    or SIGINT. Any number of these can run; they keep no state."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with grpc.aio.insecure_channel(target) as channel, aiohttp.ClientSession() as http:
        ingest = GrpcIngest(channel, token)
        calendars = GrpcCalendars(channel, token)
        bound: list[int] = []  # the port, once listening: the public URL without public_url
        shim = Shim(
            ingest, channel, CollectorRegistry(), clock, config.sns, http, calendars,
            answers=GrpcAnswers(channel, token),
            twilio=config.notifications.twilio,
            public_url=lambda: config.integration_base_url(bound[0] if bound else 0),
            idle_seconds=config.idle_timeout_seconds,
        )  # fmt: skip
        runner = shim.runner()
        await runner.setup()
        host, port = split_address(config.http_listen)
        try:
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:  # only binding: later failures are not "cannot listen"
                raise StartupError(
                    f"cannot listen for HTTP on {config.http_listen}: {exc.strerror}"
                ) from exc
            bound.append(runner.addresses[0][1])
            log.info("tocsin shim is serving: HTTP on %s:%d, service at %s", host, bound[0], target)
            await stop.wait()
            log.info("tocsin shim stopped")
        finally:
            await runner.cleanup()

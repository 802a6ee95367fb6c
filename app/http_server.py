"""The HTTP listener of `tocsin serve` and `tocsin server`: the edge, calling this process's
use cases directly, whose `/healthz` asks this process's gRPC health over loopback as a
separate shim would.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import grpc
from aiohttp import web

from app.config import Config, reachable, split_address
from edge.shim import Shim
from service.core.errors import StartupError

# The edge, given the loopback channel to this process's gRPC server and the HTTP session
# it reaches SNS with.
ShimFactory = Callable[[grpc.aio.Channel, aiohttp.ClientSession], Shim]


class HttpServer:
    def __init__(self, config: Config, public: bool) -> None:
        """Without `public` only health and metrics are served (`tocsin server`)."""
        self._config = config
        self._public = public
        self.port = 0
        self._channel: grpc.aio.Channel | None = None
        self._outbound: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self, grpc_port: int, shim: ShimFactory) -> None:
        """Listens on the configured address; `grpc_port` is where the gRPC server listens."""
        self._channel = grpc.aio.insecure_channel(reachable(self._config.grpc_listen, grpc_port))
        self._outbound = aiohttp.ClientSession()
        runner = shim(self._channel, self._outbound).runner(public=self._public)
        await runner.setup()
        http_host, http_port = split_address(self._config.http_listen)
        site = web.TCPSite(runner, http_host, http_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"cannot listen for HTTP on {self._config.http_listen}: {exc.strerror}"
            ) from exc
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stops taking requests; the channel and session stay open until `close`."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def close(self) -> None:
        """Closes the loopback channel and the outbound session."""
        if self._channel is not None:
            await self._channel.close(None)
        if self._outbound is not None:
            await self._outbound.close()

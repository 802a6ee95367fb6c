"""The standard gRPC health service, with its Watch streams limited.

Health answers without a token (load balancers probe it without credentials), so anyone who
reaches the port may call it. A Check answers at once and holds nothing, so it stays
unlimited. A Watch holds its call open until the caller leaves: without a limit, one client
could hold thousands. So each Watch takes a slot for as long as it is open, and one past
`max_health_watch_streams` is refused with RESOURCE_EXHAUSTED naming the limit.
"""

from __future__ import annotations

import contextlib
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

from service.api.stream_slots import StreamSlots
from service.core.errors import ResourceExhausted

# The stubs lack the public asyncio variant, `health.aio`.
_AsyncHealthServicer: Any = health.aio.HealthServicer  # type: ignore[attr-defined]


class HealthServicer(_AsyncHealthServicer):  # type: ignore[misc]
    def __init__(self, streams: StreamSlots) -> None:
        super().__init__()
        self._streams = streams

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        with contextlib.ExitStack() as slot:
            try:
                slot.enter_context(self._streams.taken())
            except ResourceExhausted as exc:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            await super().Watch(request, context)

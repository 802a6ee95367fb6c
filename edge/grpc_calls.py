"""What the shim's gRPC ports stand on: the service elsewhere, called with the shim's token
and a deadline, its failures as domain errors (the client's own `Calls`)."""

from __future__ import annotations

import grpc

from clients.calls import Calls


class GrpcCalls(Calls):
    def __init__(self, channel: grpc.aio.Channel, token: str, timeout: float) -> None:
        self._channel = channel
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout

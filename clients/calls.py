"""What every group of the client's calls stands on: the channel, and one unary call with the
token and the deadline whose failures come back as domain errors. `TocsinClient` and the
call groups it is made of (directory, escalations, integrations) share it."""

from __future__ import annotations

from typing import TypeVar

import grpc

from service.api.status_codes import ERROR_CODES
from service.core.errors import InvalidArgument, TocsinError

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_ERRORS = {code: kind for kind, code in ERROR_CODES}


def error_from_rpc(exc: grpc.aio.AioRpcError) -> TocsinError:
    code, details = exc.code(), exc.details() or exc.code().name
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        field, _, rule = details.partition(": ")
        return InvalidArgument(field, rule) if rule else InvalidArgument("request", details)
    kind = _ERRORS.get(code)
    if kind is None:
        return TocsinError(f"{code.name}: {details}")
    if code is grpc.StatusCode.UNAVAILABLE:
        details = f"the Tocsin service is unavailable ({details})"
    elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
        details = "the call ran out of time; it may or may not have taken effect"
    return kind(details)


class Calls:
    """The base of each group of calls: the channel, the bearer token and the deadline of each
    call. `TocsinClient` is made of such groups; the shim's ports to the service are too."""

    def __init__(self, channel: grpc.aio.Channel, token: str, timeout: float) -> None:
        self._channel = channel
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout

    async def _call(
        self, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req
    ) -> Resp:
        """One unary call with the token and the deadline, failures as domain errors."""
        try:
            return await method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None

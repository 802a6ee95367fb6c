"""One gRPC interceptor for what every call needs: authentication, error mapping, metrics.

Servicers raise domain errors; this is the one place that turns them into status codes, so
no handler can forget to, and an unexpected exception becomes INTERNAL without leaking its
details to the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import grpc

from service.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    TocsinError,
    Unauthenticated,
    Unavailable,
)
from service.metrics import RpcMetrics
from service.model import TokenInfo
from service.tokens import Tokens

log = logging.getLogger(__name__)

# Load balancers and orchestrators probe health without credentials.
OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})

_CODES: tuple[tuple[type[TocsinError], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
)

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, "internal error; the server log has the details"


def bearer_secret(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, secret = value.partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                return secret.strip()
            raise Unauthenticated("the authorization metadata must be 'Bearer <token>'")
    raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")


async def caller(tokens: Tokens, context: grpc.aio.ServicerContext[Any, Any]) -> TokenInfo:
    """The token the call was made with (verified; a cache hit after the interceptor)."""
    info = await tokens.authenticate(bearer_secret(context))
    if info is None:
        raise Unauthenticated("the token is unknown or revoked")
    return info


if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor


class ServiceInterceptor(_Interceptor):
    def __init__(self, tokens: Tokens, metrics: RpcMetrics) -> None:
        self._tokens = tokens
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in OPEN_METHODS:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, cast(UnaryBehavior, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, cast(StreamBehavior, handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, method: str, behavior: UnaryBehavior) -> UnaryBehavior:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.CANCELLED
            try:
                await caller(self._tokens, context)
                response = await behavior(request, context)
                code = grpc.StatusCode.OK
                return response
            except Exception as exc:
                code, message = self._failure(method, exc)
                await context.abort(code, message)
            finally:
                self._metrics.observe(method, code.name, time.perf_counter() - started)

        return handle

    def _stream(self, method: str, behavior: StreamBehavior) -> StreamBehavior:
        async def handle(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = grpc.StatusCode.CANCELLED
            try:
                await caller(self._tokens, context)
                async for response in behavior(request, context):
                    yield response
                code = grpc.StatusCode.OK
            except Exception as exc:
                code, message = self._failure(method, exc)
                await context.abort(code, message)
            finally:
                self._metrics.observe(method, code.name, time.perf_counter() - started)

        return handle

    @staticmethod
    def _failure(method: str, exc: Exception) -> tuple[grpc.StatusCode, str]:
        if isinstance(exc, grpc.aio.AbortError):
            raise exc
        code, message = status_of(exc)
        if code is grpc.StatusCode.INTERNAL:
            log.exception("%s failed", method)
        elif code is grpc.StatusCode.UNAVAILABLE:
            log.warning("%s: %s", method, exc)
        return code, message

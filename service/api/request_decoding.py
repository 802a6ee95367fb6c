"""Requests whose bytes are not the message they claim to be.

gRPC decodes a request before any handler runs, so a garbled one would fail inside gRPC's own
machinery: UNKNOWN to the caller and a traceback in the log, before any token is checked.
`DecodingServer` stands between the generated `add_*_to_server` functions and the server: it
gives every method a decoder that turns a decode failure into a `Malformed` value, and a
handler that answers that value with INVALID_ARGUMENT and one log line. It works on the
method handlers, once, at registration, for every service (health and reflection too).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf.message import DecodeError

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], Any]
Context = grpc.aio.ServicerContext[Any, Any]
if TYPE_CHECKING:  # generic in the stubs only
    Handler = grpc.RpcMethodHandler[Any, Any]
    GenericHandler = grpc.GenericRpcHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    GenericHandler = grpc.GenericRpcHandler


@dataclass(frozen=True)
class Malformed:
    """What a request decodes to when its bytes are not a `message_type`."""

    message_type: str

    @property
    def reason(self) -> str:
        return f"the request is not a valid {self.message_type} message"


def tolerant(decoder: Decoder | None) -> Decoder | None:
    """`decoder`, returning `Malformed` instead of raising on bytes it cannot decode."""
    if decoder is None:
        return None
    decode = decoder
    # The generated decoders are `Message.FromString`, bound to the message class.
    message = getattr(getattr(decoder, "__self__", None), "DESCRIPTOR", None)
    message_type = getattr(message, "full_name", "request")

    def decoding(data: bytes) -> Any:
        try:
            return decode(data)
        except DecodeError:
            return Malformed(message_type)

    return decoding


async def _refuse(method: str, request: Malformed, context: Context) -> None:
    log.info("%s: refused a request: %s", method, request.reason)
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)


def _unary_unary(method: str, behavior: Any) -> Any:
    async def unary_unary(request: Any, context: Context) -> Any:
        if isinstance(request, Malformed):
            await _refuse(method, request, context)
        return await behavior(request, context)

    return unary_unary


def _unary_stream(method: str, behavior: Any) -> Any:
    # gRPC runs a streaming handler by its kind: a coroutine writes its responses with
    # `context.write` (as the health service's Watch does), a generator yields them. The
    # wrapper must be of the same kind.
    if inspect.iscoroutinefunction(behavior):

        async def writing(request: Any, context: Context) -> None:
            if isinstance(request, Malformed):
                await _refuse(method, request, context)
            await behavior(request, context)

        return writing

    async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
        if isinstance(request, Malformed):
            await _refuse(method, request, context)
        async for response in behavior(request, context):
            yield response

    return unary_stream


def _checked(method: str, requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
    """A request stream that ends the call at its first malformed message."""

    async def checking() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Malformed):
                await _refuse(method, request, context)
            yield request

    return checking()


def _stream_request(method: str, behavior: Any, unary_response: bool) -> Any:
    if unary_response:

        async def stream_unary(requests: AsyncIterator[Any], context: Context) -> Any:
            return await behavior(_checked(method, requests, context), context)

        return stream_unary

    if inspect.iscoroutinefunction(behavior):  # it writes its responses (see above)

        async def writing(requests: AsyncIterator[Any], context: Context) -> None:
            await behavior(_checked(method, requests, context), context)

        return writing

    async def stream_stream(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async for response in behavior(_checked(method, requests, context), context):
            yield response

    return stream_stream


def tolerant_handler(method: str, handler: Handler) -> Handler:
    """`handler` (of the method named `method`) with a tolerant decoder and its refusal."""
    # The method handlers gRPC builds are named tuples; the stubs do not say so.
    fields: dict[str, Any] = {"request_deserializer": tolerant(handler.request_deserializer)}
    if handler.unary_unary is not None:
        fields["unary_unary"] = _unary_unary(method, handler.unary_unary)
    elif handler.unary_stream is not None:
        fields["unary_stream"] = _unary_stream(method, handler.unary_stream)
    elif handler.stream_unary is not None:
        fields["stream_unary"] = _stream_request(method, handler.stream_unary, True)
    elif handler.stream_stream is not None:
        fields["stream_stream"] = _stream_request(method, handler.stream_stream, False)
    return cast(Handler, cast(Any, handler)._replace(**fields))


class _TolerantGeneric(GenericHandler):
    """A generic handler whose method handlers are made tolerant once each, when first used."""

    def __init__(self, inner: GenericHandler) -> None:
        self._inner = inner
        self._made: dict[str, Handler | None] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        if method not in self._made:
            found = self._inner.service(handler_call_details)
            self._made[method] = None if found is None else tolerant_handler(method, found)
        return self._made[method]


class DecodingServer:
    """What to pass the generated `add_*_to_server` functions in place of the server."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Iterable[GenericHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_TolerantGeneric(h) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, Handler]) -> None:
        tolerant_handlers = {
            name: tolerant_handler(f"/{service}/{name}", handler)
            for name, handler in handlers.items()
        }
        # Not in the stubs, which predate registered methods.
        self._server.add_registered_method_handlers(  # type: ignore[attr-defined]
            service, tolerant_handlers
        )

    def as_server(self) -> grpc.aio.Server:
        """Typed as the server the generated functions expect; they call only the two
        registration methods above."""
        return cast(grpc.aio.Server, self)

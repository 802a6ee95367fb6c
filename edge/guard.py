"""What every route of the HTTP edge needs before its handler runs, in one place: a body it can
read, in bounded time, or a short 4xx saying why not.

- A `Content-Encoding` other than identity is refused (415): SNS and Twilio never compress,
  and a compressed body would be a decompression bomb to inflate before any key is checked.
  The server is built not to decode bodies itself (`auto_decompress=False`), so no request
  can fail inside aiohttp's own decoder.
- The body is read here, whole, within `read_seconds` and aiohttp's size limit; handlers then
  find it read. A body that stops arriving is a 408; one that breaks off or is malformed
  (chunked encoding, say), a 400. Form fields that are not UTF-8 are a 400 too.
- Whatever else a handler raises is a bug, not an answer: a JSON 500, logged once.
- A request aiohttp cannot parse at all (a broken chunk, a header line past 8 KiB) gets its
  400 before any route; it is logged as one warning line, not an error with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError

log = logging.getLogger(__name__)


class _MalformedRequests(logging.Filter):
    """Turns aiohttp's error-with-traceback for a request it could not parse, which anyone
    can send, into one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and error.code < 500:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = (
                "refused a malformed HTTP request: %s",
                ((error.message or type(error).__name__).splitlines()[0][:100],),
            )
            record.exc_info = record.exc_text = None
        return True


protocol_log = logging.getLogger("tocsin.http")
protocol_log.addFilter(_MalformedRequests())

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IDENTITY = ("", "identity")


def refusal(status: int, reason: str) -> web.Response:
    response = web.json_response({"status": "rejected", "reason": reason}, status=status)
    # Whatever of the body was not read is left unread: the connection cannot be reused.
    response.force_close()
    return response


def application(read_seconds: float, max_bytes: int) -> web.Application:
    """An application whose every route is guarded: bodies of at most `max_bytes`, read
    within `read_seconds`."""
    return web.Application(
        client_max_size=max_bytes, middlewares=[_middleware(read_seconds, max_bytes)]
    )


def runner(app: web.Application, idle_seconds: float) -> web.AppRunner:
    """The server for `app`: a connection with no request for `idle_seconds` (or none yet:
    aiohttp's keep-alive timer starts when the connection opens) is closed."""
    # No access log: integration URLs carry their API key in the query string.
    return web.AppRunner(
        app,
        access_log=None,
        auto_decompress=False,
        keepalive_timeout=idle_seconds,
        logger=protocol_log,
    )


def _middleware(read_seconds: float, max_bytes: int) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in IDENTITY:
            shown = encoding[:40]
            return refusal(415, f"Content-Encoding {shown!r} is not accepted: send the body as is")
        try:
            async with asyncio.timeout(read_seconds):
                await request.read()
        except TimeoutError:
            return refusal(408, f"the body did not arrive within {read_seconds:g} seconds")
        except web.HTTPRequestEntityTooLarge:
            return refusal(413, f"the body is larger than {max_bytes} bytes")
        except RequestPayloadError:
            return refusal(400, "the body could not be read (broken off or malformed)")
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except UnicodeDecodeError:
            return refusal(400, "the request's text (a form, say) is not UTF-8")
        except Exception:
            # The route's pattern, not the path: paths carry link tokens and calendar secrets.
            route = request.match_info.route.resource
            log.exception("%s %s failed", request.method, route.canonical if route else "?")
            return web.json_response(
                {"status": "error", "reason": "internal error; the server log has the details"},
                status=500,
            )

    return guard

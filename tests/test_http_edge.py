"""The HTTP edge of `tocsin serve`: health for load balancers and Prometheus metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from adapters.registry import NotifySettings
from adapters.twilio.settings import TwilioSettings
from clients.client import TocsinClient
from edge.shim import GrpcCalendars, GrpcIngest, Shim
from edge.sns.config import SnsConfig
from service.alerts.model import NewAlert
from tests.conftest import Running, free_port, serving
from tests.fakes import FakeClock


async def test_healthz_and_metrics(running: Running, client: TocsinClient) -> None:
    await client.create_alert(NewAlert(message="m", alias="a"))
    await client.create_alert(NewAlert(message="m", alias="a"))
    base = f"http://127.0.0.1:{running.server.http_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as reply:
            assert reply.status == 200
            assert await reply.json() == {"status": "ok"}
        async with http.get(f"{base}/metrics") as reply:
            assert reply.status == 200
            text = await reply.text()
    assert "tocsin_alerts_created_total 1.0" in text
    assert "tocsin_alerts_deduplicated_total 1.0" in text
    assert (
        'tocsin_grpc_requests_total{code="OK",method="/tocsin.v1.AlertService/CreateAlert"} 2.0'
        in text
    )


async def test_healthz_is_503_when_the_service_does_not_answer() -> None:
    port = free_port()
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        aiohttp.ClientSession() as outbound,
    ):
        ingest = GrpcIngest(channel, "tocsin_x")
        calendars = GrpcCalendars(channel, "tocsin_x")
        shim = Shim(
            ingest, channel, CollectorRegistry(), FakeClock(), SnsConfig(), outbound, calendars,
            idle_seconds=120,
        )  # fmt: skip
        async with (
            TestServer(shim.app()) as server,
            aiohttp.ClientSession() as http,
            http.get(server.make_url("/healthz")) as reply,
        ):
            assert reply.status == 503
            body = await reply.json()
    assert body["status"] == "unavailable" and "UNAVAILABLE" in body["reason"]


ROUTES = (
    "/v1/sns/abc?apiKey=k",
    "/v1/links/tok",
    "/v1/twilio/sms",
    "/v1/twilio/voice?key=k",
    "/v1/ical/s/x.ics",
)
FORM = "Content-Type: application/x-www-form-urlencoded\r\n"
# What no route can read, as headers and body; the statuses each may answer.
UNREADABLE = {
    "gzip that is not": ("Content-Encoding: gzip\r\n", b"not gzip", {415}),
    "deflate that is not": ("Content-Encoding: deflate\r\n", b"not deflate", {415}),
    "an encoding nobody knows": ("Content-Encoding: x-hostile\r\n", b"{}", {415}),
    "a broken chunk": ("Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n", {400}),
    # Refused as a form (400), or as a request that is not Twilio's, or a link or calendar
    # that does not exist: never unread.
    "a form that is not UTF-8": (FORM, b"From=\xff\xfe&Body=%ff", {400, 401, 403, 404}),
    "a 5,000-digit number": ("", b'{"Type": ' + b"9" * 5000 + b"}", {400, 403, 404}),
}


@dataclass
class Answer:
    status: int
    headers: str
    body: bytes


async def exchange(port: int, head: str, body: bytes = b"", wait: float = 10) -> Answer:
    """One request over a fresh TCP connection, written as given, and the answer to it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if "Transfer-Encoding" not in head:
            head += f"Content-Length: {len(body)}\r\n"
        writer.write(head.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()
    headers, _, content = raw.partition(b"\r\n\r\n")
    return Answer(int(headers.split()[1]), headers.decode("latin-1"), content)


@pytest.fixture
async def edge(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    """With Twilio configured, so that its routes read their forms too."""
    twilio = TwilioSettings("AC" + "0" * 32, "twilio-auth-token-for-tests", "+15550001111")
    async with serving(
        tmp_path, clock, notifications=NotifySettings(twilio=twilio), idle_timeout_seconds=1
    ) as running:
        yield running


@pytest.mark.parametrize("case", UNREADABLE)
async def test_a_body_no_route_can_read_is_a_short_4xx_on_every_route(
    edge: Running, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    headers, body, statuses = UNREADABLE[case]
    for route in ROUTES:
        method = "GET" if route.startswith("/v1/ical") else "POST"
        head = f"{method} {route} HTTP/1.1\r\nHost: tocsin\r\n{headers}"
        answer = await exchange(edge.server.http_port, head, body)
        assert answer.status in statuses, (route, answer)
        if answer.status in (400, 415):
            assert len(answer.body) < 300
            # A request aiohttp cannot parse is answered, in plain text, before any route.
            if "chunk" not in case:
                assert answer.body.startswith(b"{") and b'"reason"' in answer.body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_body_that_stops_arriving_is_refused_after_the_idle_time(edge: Running) -> None:
    head = "POST /v1/sns/abc?apiKey=k HTTP/1.1\r\nHost: tocsin\r\nContent-Length: 100\r\n"
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.server.http_port)
    try:
        writer.write(head.encode() + b"\r\n" + b'{"Type": ')  # and nothing more
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(raw.lower().partition(b"content-length: ")[2].split(b"\r\n")[0])
        raw += await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()
    assert raw.startswith(b"HTTP/1.1 408 ") and b"did not arrive within 1 seconds" in raw
    assert 1 <= time.monotonic() - started < 5


@pytest.mark.parametrize("port", ["http", "grpc"])
async def test_a_connection_that_sends_nothing_is_closed_after_the_idle_time(
    edge: Running, port: str
) -> None:
    number = edge.server.http_port if port == "http" else edge.server.grpc_port
    await _closed_by_the_server(number, b"")


async def test_an_idle_grpc_connection_is_closed_after_the_idle_time(edge: Running) -> None:
    # The HTTP/2 preface and an empty SETTINGS frame: a client that connected, then no call.
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
    await _closed_by_the_server(edge.server.grpc_port, preface)


async def _closed_by_the_server(port: int, sent: bytes) -> None:
    """Connects, sends `sent`, then nothing: the server must close within a few seconds."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        while await asyncio.wait_for(reader.read(65536), 10):  # gRPC's frames, GOAWAY, EOF
            pass
    finally:
        writer.close()
    assert time.monotonic() - started < 5


async def test_headers_sent_a_byte_at_a_time_are_cut_off_after_the_idle_time(
    edge: Running,
) -> None:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.server.http_port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: tocsin\r\n")
        while time.monotonic() - started < 10 and not reader.at_eof():
            writer.write(b"X")  # one more byte of a header that never ends
            await asyncio.sleep(0.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(65536), 0.01)
    except ConnectionError:
        pass  # closed while writing
    finally:
        writer.close()
    assert time.monotonic() - started < 5

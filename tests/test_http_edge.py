"""The HTTP edge of `tocsin serve`: health for load balancers and Prometheus metrics."""

from __future__ import annotations

import socket

import aiohttp
import grpc
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from clients.client import TocsinClient
from clients.shim import GrpcCalendars, GrpcIngest, Shim
from service.config import SnsConfig
from service.model import NewAlert
from tests.conftest import Running
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
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        aiohttp.ClientSession() as outbound,
    ):
        ingest = GrpcIngest(channel, "tocsin_x")
        calendars = GrpcCalendars(channel, "tocsin_x")
        shim = Shim(
            ingest, channel, CollectorRegistry(), FakeClock(), SnsConfig(), outbound, calendars
        )
        async with (
            TestServer(shim.app()) as server,
            aiohttp.ClientSession() as http,
            http.get(server.make_url("/healthz")) as reply,
        ):
            assert reply.status == 503
            body = await reply.json()
    assert body["status"] == "unavailable" and "UNAVAILABLE" in body["reason"]

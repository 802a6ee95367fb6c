"""Verified SNS notifications per second through `tocsin serve`, beside bare HTTP.

Each notification is unique (its own MessageId, so each one becomes a durable alert), signed
in advance with a key made here whose certificate the server has pinned, and posted over 64
connections. The bare HTTP server answers the same bodies without reading them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.errors import BenchError
from bench.load import Call, ExhaustedError, Measurement, measure
from bench.process import LOOPBACK, free_ports, healthz, running
from bench.tocsin import Endpoint
from clients.client import TocsinClient
from service.ingest.model import IntegrationType, NewIntegration
from tests.sns_signing import CERT_URL, KEY, certificate, fixture, signed

NOTICE = "02-notification-with-subject.body.json"
SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8"}  # as SNS sends it
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


def write_config(scratch: Path) -> Path:
    """A configuration pinning a certificate valid now, for the key the bench signs with."""
    now = datetime.now(UTC)
    pem = scratch / "sns.pem"
    pem.write_bytes(certificate(KEY, now - timedelta(days=1), now + timedelta(days=1)))
    config = scratch / "tocsin.yaml"
    config.write_text(f"sns:\n  pinned_certificates:\n    {CERT_URL}: {pem}\n")
    return config


def signed_bodies(count: int) -> Iterator[bytes]:
    """`count` distinct notifications, sent now; signing is slow, so it happens up front."""
    now = datetime.now(UTC)
    for index in range(count):
        fields = {**fixture(NOTICE, sent=now), "MessageId": f"bench-{int(now.timestamp())}-{index}"}
        yield json.dumps(signed(fields)).encode()


async def integration_url(tocsin: Endpoint) -> str:
    return tocsin.http + await integration_path(tocsin.target, tocsin.token)


async def integration_path(target: str, token: str) -> str:
    """A new integration's URL path and key: the same through any replica's edge."""
    async with TocsinClient(target, token) as client:
        key = await client.create_integration(
            NewIntegration(
                f"bench-{datetime.now(UTC):%H%M%S%f}", IntegrationType.SNS, topic_arns=(TOPIC,)
            )
        )
    return f"/v1/sns/{key.info.integration.id}?apiKey={key.api_key}"


@contextlib.asynccontextmanager
async def running_http_echo(scratch: Path) -> AsyncIterator[str]:
    (port,) = free_ports(1)
    base = f"http://{LOOPBACK}:{port}"

    command = [sys.executable, "-m", "bench.http_echo", str(port)]
    async with running("bare HTTP server", command, scratch / "http.log", healthz(base)):
        yield f"{base}/v1/sns/bench?apiKey=x"


async def measure_posts(
    urls: Sequence[str],
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    warmup: float,
    *,
    unique: bool,
    headers: Mapping[str, str] = SNS_HEADERS,
    ok: int = 200,
) -> Measurement:
    """Posts the bodies over `concurrency` connections, each once if `unique` (the bare
    server, which stores nothing, may see them again), to the `urls` in turn (replicas behind
    a round-robin balancer); every answer must be `ok`."""
    remaining = iter(bodies) if unique else itertools.cycle(bodies)
    targets = itertools.cycle(urls)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def call() -> None:
            body = next(remaining, None)
            if body is None:
                raise ExhaustedError
            async with http.post(next(targets), data=body, headers=headers) as reply:
                if reply.status != ok:
                    raise BenchError(f"the edge answered {reply.status}: {await reply.text()}")
                await reply.read()

        post: Call = call
        return await measure(post, concurrency, seconds, warmup)

"""Opsgenie Alert API creates per second through `tocsin serve`, beside bare HTTP.

Each create names its own alias, so each becomes a new durable alert (a 202 means committed),
posted over 64 connections with the integration's GenieKey, as a monitoring tool pointed at
Tocsin would. The bare HTTP server answers the same bodies without reading them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bench.tocsin import Endpoint
from clients.client import TocsinClient
from service.ingest.model import IntegrationType, NewIntegration

TARGET_SHARE = 0.30  # of bare HTTP's rate
TARGET_P99_MS = 100.0
ACCEPTED = 202  # Opsgenie's answer to a write, here sent once it is committed


def bodies(count: int) -> list[bytes]:
    """`count` creates with distinct aliases, as a tool's alerts would be."""
    stamp = f"{datetime.now(UTC):%H%M%S%f}"
    return [
        json.dumps(
            {
                "message": f"Disk full on db-{index % 97}",
                "alias": f"bench-{stamp}-{index}",
                "description": "/var is at 100%",
                "tags": ["bench", "disk"],
                "details": {"host": f"db-{index % 97}"},
                "priority": "P3",
            }
        ).encode()
        for index in range(count)
    ]


async def creates_url_and_headers(tocsin: Endpoint) -> tuple[str, dict[str, str]]:
    """A new opsgenie integration's create URL, and the headers a tool sends it with."""
    async with TocsinClient(tocsin.target, tocsin.token) as client:
        key = await client.create_integration(
            NewIntegration(f"bench-{datetime.now(UTC):%H%M%S%f}", IntegrationType.OPSGENIE)
        )
    headers = {"Authorization": f"GenieKey {key.api_key}", "Content-Type": "application/json"}
    return f"{tocsin.http}/v2/alerts", headers

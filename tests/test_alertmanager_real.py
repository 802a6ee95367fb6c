"""The real Prometheus Alertmanager sending to `tocsin serve`, through its webhook receiver,
through its PagerDuty receiver pointed at Tocsin's Events API and through its Opsgenie receiver
pointed at Tocsin's Alert API: an alert posted to its API opens a Tocsin alert, and the same
alert ended closes it.

Skipped when the binary is absent, except in CI (CI=true), where it must be present: `.ci/run`
installs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from service.alerts.model import Alert, Status
from service.ingest.model import IntegrationType, NewIntegration
from tests.conftest import Running, free_port

BINARY = "prometheus-alertmanager"
WAIT_SECONDS = 30.0


def alertmanager_binary() -> str:
    """The binary's path; skips the test without it, or fails it in CI."""
    found = shutil.which(BINARY) or shutil.which("alertmanager")
    if found:
        return found
    reason = f"{BINARY} is not installed (Debian: apt-get install prometheus-alertmanager)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"Alertmanager is required in CI: {reason}")
    pytest.skip(reason)


def webhook_receiver(url: str, key: str) -> dict[str, object]:
    return {
        "webhook_configs": [
            {
                "url": url,
                "send_resolved": True,
                "http_config": {"authorization": {"credentials": key}},
            }
        ]
    }


def pagerduty_receiver(url: str, key: str) -> dict[str, object]:
    """Alertmanager's own PagerDuty receiver (Events API v2), its URL pointed at Tocsin."""
    return {"pagerduty_configs": [{"routing_key": key, "url": url, "send_resolved": True}]}


def opsgenie_receiver(url: str, key: str) -> dict[str, object]:
    """Alertmanager's own Opsgenie receiver, its API URL the base Tocsin's CLI shows."""
    return {"opsgenie_configs": [{"api_url": f"{url}/", "api_key": key, "send_resolved": True}]}


def config(receiver: dict[str, object]) -> str:
    """One receiver, grouping by alert name and flushing each second."""
    return json.dumps(
        {
            "global": {"resolve_timeout": "5s"},
            "route": {
                "receiver": "tocsin",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "tocsin", **receiver}],
        }
    )  # JSON is YAML, and needs no YAML writer here


@contextlib.contextmanager
def alertmanager(binary: str, tmp_path: Path, receiver: dict[str, object]) -> Iterator[str]:
    """Alertmanager on a free loopback port, without clustering; yields its base URL."""
    (tmp_path / "alertmanager.yml").write_text(config(receiver))
    port = free_port()
    with (
        (tmp_path / "alertmanager.log").open("w") as log,
        subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        ) as process,
    ):
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def logged(log: Path) -> str:
    return log.read_text() if log.exists() else "(none)"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, log: Path) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} within {WAIT_SECONDS}s; log:\n{logged(log)}")
        await asyncio.sleep(0.25)


async def post_alert(http: aiohttp.ClientSession, base: str, ends: datetime) -> None:
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-1"},
        "annotations": {"summary": "Disk full on db-1", "description": "/var is at 100%"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "endsAt": ends.isoformat(),
        "generatorURL": "http://prometheus.example/graph",
    }
    async with http.post(f"{base}/api/v2/alerts", json=[alert]) as reply:
        assert reply.status == 200, await reply.text()


async def ready(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/-/ready") as reply:
            return reply.status == 200
    except aiohttp.ClientError:
        return False


RECEIVERS = {
    IntegrationType.ALERTMANAGER: webhook_receiver,
    IntegrationType.PAGERDUTY: pagerduty_receiver,
    IntegrationType.OPSGENIE: opsgenie_receiver,
}


@pytest.mark.parametrize("running", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", list(RECEIVERS), ids=lambda kind: kind.value)
async def test_alertmanager_opens_and_closes_a_tocsin_alert(
    running: Running, tmp_path: Path, kind: IntegrationType
) -> None:
    binary = alertmanager_binary()
    log = tmp_path / "alertmanager.log"
    async with running.client() as client, aiohttp.ClientSession() as http:
        made = await client.create_integration(NewIntegration("prometheus", kind))

        async def alerts() -> list[Alert]:
            return list((await client.list_alerts()).items)

        async def opened() -> bool:
            return len(await alerts()) == 1

        async def closed() -> bool:
            return [a.status for a in await alerts()] == [Status.CLOSED]

        receiver = RECEIVERS[kind](made.url_with_key, made.api_key)
        with alertmanager(binary, tmp_path, receiver) as base:
            await eventually(lambda: ready(http, base), "Alertmanager was not ready", log)
            now = datetime.now(UTC)
            await post_alert(http, base, now + timedelta(hours=1))
            await eventually(opened, "no Tocsin alert opened", log)
            (alert,) = await alerts()
            assert alert.integration == "prometheus"
            if kind is IntegrationType.ALERTMANAGER:  # one alert per Alertmanager alert
                assert alert.message == "Disk full on db-1"
                assert alert.details["labels.instance"] == "db-1"
                assert alert.description == "/var is at 100%"
            elif kind is IntegrationType.OPSGENIE:  # one per group, closed by alias
                assert alert.message.startswith("[FIRING:1] DiskFull")
                assert len(alert.alias) == 64 and int(alert.alias, 16) >= 0
            else:  # one alert per group, its alias the SHA-256 of the group's key
                assert alert.message.startswith("[FIRING:1] DiskFull")
                assert len(alert.alias) == 64 and int(alert.alias, 16) >= 0
                assert alert.details["client"] == "Alertmanager"
            await post_alert(http, base, now - timedelta(seconds=1))
            await eventually(closed, "the Tocsin alert was not closed", log)

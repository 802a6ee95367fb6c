"""The engine: time-driven work, run as idempotent ticks over the store.

Today a tick ends the snoozes that have run out; escalations and notification jobs join it
later. Tests drive `tick()` with a fake clock; `run()` is the loop `tocsin serve` uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from service.alerts import Alerts
from service.metrics import AlertMetrics

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, alerts: Alerts, metrics: AlertMetrics) -> None:
        self._alerts = alerts
        self._metrics = metrics

    async def tick(self) -> int:
        """Does whatever is due now; returns how many things it did."""
        woken = await self._alerts.end_due_snoozes()
        if woken:
            self._metrics.snoozes_ended.inc(woken)
            log.info("ended %d snooze(s)", woken)
        return woken

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Ticks every `interval` seconds until `stop` is set; a failed tick is retried."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("engine tick failed; retrying in %.1fs", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

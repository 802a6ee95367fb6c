"""Lateness figures of the engine benchmark: quantiles over seconds late, where a page never
sent counts as late by at least the time it had waited."""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.paging.notifier import Notification


@dataclass(frozen=True)
class Lateness:
    """Seconds late, some of them lower bounds (pages never sent)."""

    seconds: list[float]
    least_unsent: float  # the smallest lower bound; inf when every page was sent

    def _at(self, q: float) -> tuple[float, bool]:
        """The q-quantile, and whether it is only a lower bound: a bound at or below it may
        stand for a true value above it."""
        ordered = sorted(self.seconds)
        value = ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
        return value, self.least_unsent <= value

    def quantile(self, q: float) -> str:
        value, bound = self._at(q)
        return f"{'>= ' if bound else ''}{value * 1000:,.0f} ms"

    def line(self, label: str) -> str:
        return (
            f"  lateness {label}: p50 {self.quantile(0.5)}, p99 {self.quantile(0.99)}, "
            f"max {self.quantile(1.0)}"
        )

    def meets(self, target: float) -> bool:
        value, bound = self._at(0.99)
        return value <= target and not bound


def escalation_rule(page: Notification) -> int:
    """The escalation rule a page came from: its ledger key is
    alert/run.cycle.rule/user/method/round."""
    return int(page.key.split("/")[1].split(".")[2])

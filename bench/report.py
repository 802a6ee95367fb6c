"""The printed figures: one row per CreateAlert mode and caller count, and the target verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench import opsgenie
from bench.load import Measurement

TARGET_MODE = "new aliases"
TARGET_CONCURRENCY = 16
TARGET_PERCENT = 60.0
SNS_TARGET_PER_SECOND = 2_000
# New aliases to Tocsin's edge with the store left out (`bench.edge`): the ceiling for creates.
EDGE_MODE = "edge, no store"

_COLUMNS = f"{'scenario':<16}{'callers':>8}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
_HEADER = f"{_COLUMNS}{'echo calls/s':>14}{'create/echo':>13}"


@dataclass(frozen=True)
class Row:
    scenario: str
    concurrency: int
    create: Measurement
    echo: Measurement

    @property
    def percent_of_echo(self) -> float:
        return 100 * self.create.calls_per_second / self.echo.calls_per_second


def table(rows: Sequence[Row]) -> list[str]:
    return [_HEADER, "-" * len(_HEADER), *(_line(row) for row in rows)]


def target_line(rows: Sequence[Row]) -> str:
    goal = (
        f"target: >= {TARGET_PERCENT:.0f}% of bare echo for durable creates "
        f"({TARGET_MODE}) at {TARGET_CONCURRENCY} callers"
    )
    for row in rows:
        if row.scenario == TARGET_MODE and row.concurrency == TARGET_CONCURRENCY:
            verdict = "met" if row.percent_of_echo >= TARGET_PERCENT else "NOT met"
            return f"{goal}: {row.percent_of_echo:.1f}% — {verdict}"
    return f"{goal}: not measured (include {TARGET_CONCURRENCY} in --concurrency)"


def sns_table(rows: Sequence[tuple[str, Measurement]]) -> list[str]:
    """One line per setup, with its share of bare HTTP (the edge's ceiling) measured alike."""
    bare = dict(rows).get("bare HTTP")
    header = f"{'':<28}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'of bare HTTP':>14}{'over s':>8}"
    lines = [header, "-" * len(header)]
    for name, m in rows:
        share = f"{100 * m.calls_per_second / bare.calls_per_second:.1f}%" if bare else ""
        lines.append(
            f"{name:<28}{m.calls_per_second:>10.0f}{m.p50_ms:>9.2f}{m.p99_ms:>9.2f}{share:>14}"
            f"{m.seconds:>8.1f}"
        )
    return lines


def sns_target_line(edge: Measurement) -> str:
    verdict = "met" if edge.calls_per_second >= SNS_TARGET_PER_SECOND else "NOT met"
    return (
        f"target: >= {SNS_TARGET_PER_SECOND:,} verified notifications/s end to end: "
        f"{edge.calls_per_second:,.0f}/s — {verdict}"
    )


def opsgenie_target_line(served: Measurement, bare: Measurement) -> str:
    share = served.calls_per_second / bare.calls_per_second
    met = share >= opsgenie.TARGET_SHARE and served.p99_ms <= opsgenie.TARGET_P99_MS
    return (
        f"target: >= {opsgenie.TARGET_SHARE:.0%} of bare HTTP with p99 <= "
        f"{opsgenie.TARGET_P99_MS:g} ms: {share:.1%}, p99 {served.p99_ms:.1f} ms — "
        f"{'met' if met else 'NOT met'}"
    )


def edge_line(rows: Sequence[Row]) -> str:
    """What the target would read if storing cost nothing."""
    for row in rows:
        if row.scenario == EDGE_MODE and row.concurrency == TARGET_CONCURRENCY:
            return (
                f"ceiling: the same creates through Tocsin's edge (gRPC, token, validation, "
                f"protobuf) without a store: {row.percent_of_echo:.1f}% of bare echo"
            )
    return f"ceiling: not measured (include {TARGET_CONCURRENCY} in --concurrency)"


def _line(row: Row) -> str:
    create = row.create
    return (
        f"{row.scenario:<16}{row.concurrency:>8}{create.calls_per_second:>10.0f}"
        f"{create.p50_ms:>9.2f}{create.p99_ms:>9.2f}"
        f"{row.echo.calls_per_second:>14.0f}{row.percent_of_echo:>12.1f}%"
    )

"""The CLI's start-up: how long `tocsin --help` and a client command take, whole processes,
next to a bare Python interpreter started the same way. The gap is what the CLI imports and
does before its first call; a client command should load only the client side (no database
drivers, migrations or HTTP server), so it stays close to `--help`.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RUNS = 11
TARGET_MS = 300.0  # a client command's median on a small, shared machine
TOCSIN = str(Path(sys.executable).with_name("tocsin"))
# Nothing listens on port 1: the client command starts, tries its one call and gives up.
CLIENT = ("alerts", "list", "--server", "127.0.0.1:1", "--token", "bench", "--timeout", "0.05")


def _medians_ms(command: Sequence[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of the process, each the median of the runs:
    on a busy machine the CPU time says more about the CLI than the wall time does."""
    walls, cpus = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, env=os.environ, check=False, timeout=60)
        walls.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        cpus.append(used * 1000)
    return statistics.median(walls), statistics.median(cpus)


def run() -> list[str]:
    rows = [
        ("python -c pass (baseline)", _medians_ms([sys.executable, "-c", "pass"])),
        ("tocsin --help", _medians_ms([TOCSIN, "--help"])),
        ("tocsin " + " ".join(CLIENT[:2]) + " (no server)", _medians_ms([TOCSIN, *CLIENT])),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {'':<{width}}  {'wall':>7}     {'cpu':>7}"]
    lines += [f"  {name:<{width}}  {wall:7.0f} ms  {cpu:7.0f} ms" for name, (wall, cpu) in rows]
    lines.append(f"  median of {RUNS} runs each; target for a client command: {TARGET_MS:g} ms")
    return [*lines, ""]

"""Argument types the CLI's commands share."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """`90s`, `30m`, `2h`, `1d`, or combinations such as `1h30m`; `0` is none."""
    if text == "0":
        return timedelta()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 30m, 2h or 1h30m, not {text!r}"
        )
    return sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), timedelta())

"""What the CLI's commands share about what the user typed: argument types, the error for a
usage mistake, and reading and writing the files a command names."""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class UsageError(Exception):
    """A mistake in the command as typed, found before the service could refuse it: the CLI
    prints it as one `error:` line and exits 2."""


class OptionError(UsageError):
    """An option's value the CLI itself cannot use, e.g. `invalid --at: must be ...`."""

    def __init__(self, option: str, rule: str) -> None:
        super().__init__(f"invalid {option}: {rule}")


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


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argument type for an integer from `low` to `high`: out-of-range values are refused
    while parsing, never replaced by a default."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if value < low or (high is not None and value > high):
            limits = f"at least {low}" if high is None else f"{low}-{high}"
            raise argparse.ArgumentTypeError(f"must be {limits} (got {value})")
        return value

    return parse


def seconds(text: str) -> float:
    """A positive number of seconds, such as a call's timeout."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds (got {text})")
    return value


def read_text(path: str) -> str:
    """A file the command names, as UTF-8 text; one that cannot be read is a usage mistake."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"{path}: cannot read it: {reason}") from None


def check_writable(path: str) -> None:
    """Before a call whose result must not be lost (a rotated secret): whether `path` could
    be written, as a usage mistake found before the call."""
    directory = Path(path).parent
    problem = (
        errno.ENOENT
        if not directory.is_dir()
        else errno.EISDIR
        if Path(path).is_dir()
        else errno.EACCES
        if not os.access(directory, os.W_OK)
        else 0
    )
    if problem:  # said as writing would say it
        raise UsageError(f"{path}: cannot write it: {os.strerror(problem)}")


def write_whole(path: str, text: str) -> None:
    """Writes `text` to `path` all at once, so a reader never sees half a file."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write it: {exc.strerror or exc}") from None

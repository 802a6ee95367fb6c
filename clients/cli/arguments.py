"""What the CLI's commands share about what the user typed: argument types, the error for a
usage mistake, and reading and writing the files a command names."""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.alerts.model import Priority, Responder
from service.core.validation import duration_text as duration_text

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class UsageError(Exception):
    """A mistake in the command as typed, found before the service could refuse it: the CLI
    prints it as one `error:` line and exits 2."""


class OptionError(UsageError):
    """An option's value the CLI itself cannot use, e.g. `invalid --at: must be ...`."""

    def __init__(self, option: str, rule: str) -> None:
        super().__init__(f"invalid {option}: {rule}")


def name_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """The name of what a command creates, typed after it as everywhere else in the CLI."""
    parser.add_argument("name", nargs="?", metavar="NAME", help=f"the {what}'s name")
    # The earlier spelling, still read so that scripts keep working.
    parser.add_argument("--name", dest="name_option", help=argparse.SUPPRESS)


def given_name(args: argparse.Namespace, what: str) -> str:
    """The name `name_argument` read, however it was typed."""
    typed = [n for n in (args.name, args.name_option) if n is not None]
    if not typed:
        raise UsageError(f"give the {what}'s name (NAME, after the command)")
    if len(set(typed)) > 1:
        raise UsageError(f"give the {what}'s name once (NAME or --name, not both)")
    return str(typed[0])


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


def duration_within(low: timedelta, high: timedelta) -> Callable[[str], timedelta]:
    """An argument type for a duration from `low` to `high`: one out of range is a usage
    mistake found while parsing, naming the range."""

    def parse(text: str) -> timedelta:
        value = duration(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be {duration_text(low)} to {duration_text(high)} (got {text})"
            )
        return value

    return parse


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


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def alert_priority(text: str) -> Priority:
    try:
        return Priority.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def alert_responder(text: str) -> Responder:
    kind, sep, name = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected TYPE:NAME (e.g. team:ops), got {text!r}")
    return Responder(kind, name)


def instant(text: str) -> datetime:
    """ISO 8601; a time without a zone is taken in this machine's local zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-11-25T18:00:00Z, not {text!r}"
        ) from None
    return value.astimezone(UTC)


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

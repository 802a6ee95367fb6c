"""The regular expressions of `matches` conditions, run by RE2.

Both the pattern (a rule) and the text (a delivered field such as CloudTrail's userAgent)
come from outside. Python's `re` backtracks, so `^(a+)+$` against a few dozen characters
holds the event loop for seconds, doubling with each one; RE2 matches in time linear in the
text and refuses, when the rule is set, what it cannot run that way (backreferences,
lookaround)."""

from __future__ import annotations

import functools
from typing import Any

import re2

from service.core.errors import InvalidArgument

PATTERN_MAX = 1_000
TEXT_MAX = 100_000  # of a field, searched; the rest is not looked at

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the caller's error, not a log line
_OPTIONS.max_mem = 1 << 20  # bytes per compiled pattern; what needs more is refused


def check(field: str, pattern: str) -> None:
    if len(pattern) > PATTERN_MAX:
        raise InvalidArgument(
            field, f"must be at most {PATTERN_MAX:,} characters (got {len(pattern):,})"
        )
    try:
        _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InvalidArgument(
            field,
            "is not a regular expression RE2 can run (it has no backreferences or "
            f"lookaround): {reason}",
        ) from None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` occurs in `text`. A pattern stored before RE2 checked it, and that
    RE2 refuses, matches nothing."""
    try:
        compiled = _compiled(pattern)
    except re2.error:
        return False
    return compiled.search(text[:TEXT_MAX]) is not None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)

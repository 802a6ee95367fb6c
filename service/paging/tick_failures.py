"""What the engine's loop logs of the ticks that fail.

A failed tick is retried about once a second for as long as its cause lasts, so logging
each one would fill the log. A database outage (`Unavailable`) is expected, and its message
says what is wrong: one warning when ticks start failing for it, one info line when a tick
succeeds again, nothing in between. Anything else is a bug and is logged with its traceback,
but the same failure (exception type and message) at most once a minute, with how many times
it failed meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.core.errors import ECHO_LIMIT, Unavailable

# The least time between two tracebacks of the same failure.
REPEAT_EVERY = timedelta(minutes=1)


@dataclass
class _Logged:
    """A failure whose traceback was logged at `at`, and how often it recurred since."""

    at: datetime
    repeats: int = 0


class TickFailures:
    def __init__(
        self, log: logging.Logger, now: Callable[[], datetime], every: timedelta = REPEAT_EVERY
    ) -> None:
        self._log = log
        self._now = now
        self._every = every
        self._outage_since: datetime | None = None  # the first tick the database failed
        self._outage_ticks = 0
        self._logged: dict[tuple[str, str], _Logged] = {}

    def failed(self, exc: Exception, retry_seconds: float) -> None:
        """Notes a failed tick, which is retried in `retry_seconds`."""
        now = self._now()
        if isinstance(exc, Unavailable):
            if self._outage_since is None:
                self._outage_since = now
                self._log.warning(
                    "engine ticks fail: %s; retrying every %gs, logged again when a tick succeeds",
                    exc,
                    retry_seconds,
                )
            self._outage_ticks += 1
            return
        key = (type(exc).__qualname__, str(exc))
        logged = self._logged.get(key)
        if logged is not None and self._recent(logged, now):
            logged.repeats += 1
            return
        self._logged[key] = _Logged(now)
        self._forget(now)
        if logged is not None and logged.repeats:
            self._log.error(
                "engine tick failed (and %d more time(s) the same way since last logged); "
                "retrying in %gs",
                logged.repeats,
                retry_seconds,
                exc_info=exc,
            )
        else:
            self._log.error("engine tick failed; retrying in %gs", retry_seconds, exc_info=exc)

    def succeeded(self) -> None:
        """Notes a tick that worked: the end of an outage, if there was one."""
        now = self._now()
        if self._outage_since is not None:
            self._log.info(
                "engine ticks succeed again, after %d failed in %.0fs",
                self._outage_ticks,
                (now - self._outage_since).total_seconds(),
            )
            self._outage_since = None
            self._outage_ticks = 0
        self._forget(now)

    def _recent(self, logged: _Logged, now: datetime) -> bool:
        return timedelta(0) <= now - logged.at < self._every

    def _forget(self, now: datetime) -> None:
        """Drops the failures logged over a minute ago (so what is kept stays small), saying
        how often each recurred since."""
        for (kind, message), logged in list(self._logged.items()):
            if self._recent(logged, now):
                continue
            del self._logged[(kind, message)]
            if logged.repeats:
                self._log.error(
                    "engine tick failed %d more time(s) with %s: %s since its traceback",
                    logged.repeats,
                    kind,
                    message[:ECHO_LIMIT],
                )

"""What a PostgreSQL job's error means for running it again.

The pool's timeout subclasses `psycopg.OperationalError`, as a lost connection's errors do,
but means something else: the pool found no connection in time. If its latest attempt to
open one failed, it cannot reach the database, and waiting longer only keeps the caller from
hearing UNAVAILABLE; if it succeeded, the pool is only slow (opening connections one at a
time, on a loaded machine) and worth waiting for. A connection lost under a job (the server
restarted, failed over, or closed it while it sat in the pool) says nothing of the next one:
the job runs once more on another.
"""

from __future__ import annotations

import enum
from typing import Any, Self

import psycopg
import psycopg_pool

from service.core.database import RETRY_WHOLE_JOB


class Failure(enum.Enum):
    CONFLICT = "conflict"  # another transaction got in the way: again, on a fresh snapshot
    UNREACHABLE = "unreachable"  # no connection, and the pool fails to open one: UNAVAILABLE
    BUSY = "busy"  # no connection yet, but the pool opens them: wait on (for a while)
    LOST = "lost"  # the job's connection died: once more, on another, if not committing
    FAILED = "failed"  # the database refused otherwise (a cancelled query, a full disk)


def failure(exc: psycopg.Error, *, connection_broken: bool, pool_failing: bool) -> Failure | None:
    """What `exc`, raised while running a job, means; None for errors that are the job's own
    (a constraint it broke, a statement it got wrong), which go to the caller unchanged.
    `connection_broken`: whether the job's connection, if it got one, is broken;
    `pool_failing`: whether the pool's latest attempt to connect failed (`Connects`)."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return Failure.UNREACHABLE if pool_failing else Failure.BUSY
    if isinstance(exc, psycopg_pool.PoolClosed | psycopg_pool.TooManyRequests):
        return Failure.FAILED
    if connection_broken:
        return Failure.LOST
    if isinstance(exc, RETRY_WHOLE_JOB):
        return Failure.CONFLICT
    if isinstance(exc, psycopg.OperationalError):
        return Failure.FAILED
    return None


class Connects:
    """How the pool's latest attempt to open a connection went: `connection_class` gives the
    pool a connection class that notes it here."""

    def __init__(self) -> None:
        # Written by the pool's threads, read by the store's (a bool: written and read whole).
        self.failing = False

    def connection_class(self) -> type[psycopg.Connection[Any]]:
        connects = self

        class Noted(psycopg.Connection[Any]):
            @classmethod
            def connect(cls, *args: Any, **kwargs: Any) -> Self:
                try:
                    conn = super().connect(*args, **kwargs)
                except psycopg.Error:
                    connects.failing = True
                    raise
                connects.failing = False
                return conn

        return Noted

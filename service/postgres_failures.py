"""What a PostgreSQL job's error means for running it again.

The pool's own errors subclass `psycopg.OperationalError`, as a lost connection's do, but mean
the opposite: a pool that found no connection in time has been trying to connect all along,
and asking again waits as long once more, so the caller hears UNAVAILABLE at once. A
connection lost under a job (the server restarted, failed over, or closed it while it sat in
the pool) says nothing of the next one: the job runs once more on another.
"""

from __future__ import annotations

import enum

import psycopg
import psycopg_pool

from service.sql import RETRY_WHOLE_JOB


class Failure(enum.Enum):
    CONFLICT = "conflict"  # another transaction got in the way: again, on a fresh snapshot
    UNREACHABLE = "unreachable"  # no connection in time: UNAVAILABLE at once, never again
    LOST = "lost"  # the job's connection died: once more, on another, if not committing
    FAILED = "failed"  # the database refused otherwise (a cancelled query, a full disk)


def failure(exc: psycopg.Error, *, connection_broken: bool) -> Failure | None:
    """What `exc`, raised while running a job, means; None for errors that are the job's own
    (a constraint it broke, a statement it got wrong), which go to the caller unchanged.
    `connection_broken`: whether the job's connection, if it got one, is broken."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return Failure.UNREACHABLE
    if isinstance(exc, psycopg_pool.PoolClosed | psycopg_pool.TooManyRequests):
        return Failure.FAILED
    if connection_broken:
        return Failure.LOST
    if isinstance(exc, RETRY_WHOLE_JOB):
        return Failure.CONFLICT
    if isinstance(exc, psycopg.OperationalError):
        return Failure.FAILED
    return None

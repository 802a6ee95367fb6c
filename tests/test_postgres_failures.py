"""What a PostgreSQL job's error means: the pool's timeout is no lost connection."""

from __future__ import annotations

import psycopg
import psycopg_pool
import pytest

from service.postgres_failures import Failure, failure


@pytest.mark.parametrize("broken", [False, True])
def test_a_pool_without_a_connection_is_unreachable_however_it_subclasses(broken: bool) -> None:
    timeout = psycopg_pool.PoolTimeout("couldn't get a connection after 1.00 sec")
    assert isinstance(timeout, psycopg.OperationalError)  # as a lost connection's error is
    assert failure(timeout, connection_broken=broken) is Failure.UNREACHABLE


def test_an_error_that_broke_the_connection_is_a_lost_connection() -> None:
    ended = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert failure(ended, connection_broken=True) is Failure.LOST
    closed = psycopg.OperationalError("server closed the connection unexpectedly")
    assert failure(closed, connection_broken=True) is Failure.LOST


def test_conflicts_run_again_and_other_refusals_fail() -> None:
    for conflict in (
        psycopg.errors.SerializationFailure("could not serialize access"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.UniqueViolation("duplicate key value"),
    ):
        assert failure(conflict, connection_broken=False) is Failure.CONFLICT
    cancelled = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    assert failure(cancelled, connection_broken=False) is Failure.FAILED
    assert failure(psycopg_pool.PoolClosed("the pool is closed"), connection_broken=False) is (
        Failure.FAILED
    )


def test_the_jobs_own_errors_are_not_the_databases() -> None:
    for own in (
        psycopg.errors.ForeignKeyViolation("violates foreign key constraint"),
        psycopg.errors.UndefinedTable("relation does not exist"),
    ):
        assert failure(own, connection_broken=False) is None

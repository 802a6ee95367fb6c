"""What a PostgreSQL job's error means: the pool's timeout is no lost connection, and says the
database is unreachable only while the pool fails to connect."""

from __future__ import annotations

import psycopg
import psycopg_pool
import pytest

from service.db.postgres_failures import Connects, Failure, failure
from tests.databases import POSTGRES_URL, require_postgres


@pytest.mark.parametrize("broken", [False, True])
def test_a_pool_that_fails_to_connect_makes_its_timeout_unreachable(broken: bool) -> None:
    timeout = psycopg_pool.PoolTimeout("couldn't get a connection after 1.00 sec")
    assert isinstance(timeout, psycopg.OperationalError)  # as a lost connection's error is
    assert failure(timeout, connection_broken=broken, pool_failing=True) is Failure.UNREACHABLE


def test_a_pool_that_connects_slowly_is_busy_not_unreachable() -> None:
    timeout = psycopg_pool.PoolTimeout("couldn't get a connection after 1.00 sec")
    assert failure(timeout, connection_broken=False, pool_failing=False) is Failure.BUSY


@pytest.mark.parametrize("pool_failing", [False, True])
def test_an_error_that_broke_the_connection_is_a_lost_connection(pool_failing: bool) -> None:
    ended = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    closed = psycopg.OperationalError("server closed the connection unexpectedly")
    for exc in (ended, closed):
        assert failure(exc, connection_broken=True, pool_failing=pool_failing) is Failure.LOST


def test_conflicts_run_again_and_other_refusals_fail() -> None:
    for conflict in (
        psycopg.errors.SerializationFailure("could not serialize access"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.UniqueViolation("duplicate key value"),
    ):
        assert failure(conflict, connection_broken=False, pool_failing=False) is Failure.CONFLICT
    for refused in (
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        psycopg_pool.PoolClosed("the pool is closed"),
    ):
        assert failure(refused, connection_broken=False, pool_failing=False) is Failure.FAILED


def test_the_jobs_own_errors_are_not_the_databases() -> None:
    for own in (
        psycopg.errors.ForeignKeyViolation("violates foreign key constraint"),
        psycopg.errors.UndefinedTable("relation does not exist"),
    ):
        assert failure(own, connection_broken=False, pool_failing=True) is None


def test_connects_notes_how_the_latest_attempt_went() -> None:
    connects = Connects()
    noted = connects.connection_class()
    with pytest.raises(psycopg.OperationalError):
        noted.connect("postgresql://127.0.0.1:1/nothing", connect_timeout=2)
    assert connects.failing
    require_postgres()
    with noted.connect(POSTGRES_URL, connect_timeout=2):
        assert not connects.failing

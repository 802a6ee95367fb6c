"""Whether the PostgreSQL database answers, asked on a connection of the probe's own.

Health checks ask every second. Through the pool, a ping would wait for a connection behind
the calls and, with the database gone, for the pool's whole timeout; on a connection of its
own it answers within `TIMEOUT_SECONDS` whatever the pool is doing. A question still
unanswered from an earlier ping (a database that accepts but never answers) is not asked
again behind itself: the ping waits for that same answer, and fails when it does not come.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from service.core.errors import Unavailable

TIMEOUT_SECONDS = 1.0


class Probe:
    def __init__(self, url: str, where: str, *, connect_timeout: int, application_name: str):
        """`where`: the database as messages name it (without its password)."""
        self._url = url
        self._where = where
        self._connect_timeout = connect_timeout
        self._application_name = application_name
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._asking: asyncio.Task[str] | None = None
        # What the last ping found; read by the store's worker threads, which then wait for a
        # connection only briefly (a bool: written and read whole).
        self.reachable = True

    async def ping(self) -> None:
        """Returns once the database has answered; raises `Unavailable` if it refuses, fails
        or does not answer within `TIMEOUT_SECONDS`."""
        if self._asking is None or self._asking.done():
            self._asking = asyncio.create_task(self._ask(), name="tocsin-pg-ping")
        done, _ = await asyncio.wait({self._asking}, timeout=TIMEOUT_SECONDS)
        failure = self._asking.result() if done else f"no answer within {TIMEOUT_SECONDS:g} s"
        self.reachable = not failure
        if failure:
            raise Unavailable(f"cannot reach {self._where}: {failure}")

    async def _ask(self) -> str:
        """Empty once the database has answered, else why it did not (never raises: a ping that
        stopped waiting may never read the answer). A connection kept from an earlier ping
        that has since been lost (the server restarted, say) says nothing of the database
        now: a fresh one is asked before answering."""
        kept = self._conn is not None
        try:
            await self._select_one()
        except psycopg.Error as exc:
            await self._disconnect()  # the next question connects afresh
            if not kept:
                return " ".join(str(exc).split()) or type(exc).__name__
            return await self._ask()
        return ""

    async def _select_one(self) -> None:
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name=self._application_name,
            )
        await self._conn.execute("SELECT 1")

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def close(self) -> None:
        if self._asking is not None and not self._asking.done():
            self._asking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._asking
        self._asking = None
        await self._disconnect()

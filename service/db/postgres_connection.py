"""A psycopg connection as the store's SQL expects it (`service.core.database.Db`): rows by
position or by column name, `?` placeholders, multi-row inserts, and the change feed's rows
appended at the end of the transaction under the feed's lock."""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.rows import RowMaker

from service.core.database import POSTGRES, Cursor, Dialect, savepoint

CHANNEL = "tocsin_changes"
_WRITES = ("INSERT", "UPDATE", "DELETE")
# The payload names the store that committed: it has woken its own watchers already, and
# skips its own notifications when they come back.
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', %s)"
# Sequence numbers are handed out at insert but become visible at commit: two writers could
# commit out of order, and a watcher that has read past the later number would never see the
# earlier one. Appending to the feed one transaction at a time rules that out. The NOTIFY
# rides along: it is delivered at commit wherever it was sent.
_FEED_LOCK_AND_NOTIFY = f"SELECT pg_advisory_xact_lock(7316028), pg_notify('{CHANNEL}', %s)"


class _Row(tuple[Any, ...]):
    """A row by position or by column name, as SQLite's rows are."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[_Row]:
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)  # the first of a repeated name, as SQLite does
    return type("Row", (_Row,), {"__slots__": (), "_index": index})


def row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[_Row]:
    # The raw result's field names: `cursor.description` would build a Column per field.
    result = cursor.pgresult
    if result is None:
        return _row_class(())
    names = tuple((result.fname(i) or b"").decode() for i in range(result.nfields))
    return _row_class(names)


@functools.lru_cache(maxsize=4096)
def _postgres_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (outside string literals); a literal `%` doubled."""
    out = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


_ROWS_PER_INSERT = 1_000
_VALUES = re.compile(r"^(INSERT INTO .+? VALUES )(\([^()]*\))(.*)$", re.DOTALL)


@functools.lru_cache(maxsize=1024)
def _multi_row_insert(sql: str, rows: int) -> str:
    """`INSERT ... VALUES (...) [ON CONFLICT ...]` for `rows` rows at once."""
    match = _VALUES.match(sql)
    assert match is not None, sql
    head, values, tail = match.groups()
    return _postgres_sql(head + ", ".join([values] * rows) + tail)


class PostgresDb:
    """A psycopg connection as the store's SQL expects it, for one transaction: notes whether
    anything was written, and holds the feed's rows for the end (see `append_feed`)."""

    dialect: ClassVar[Dialect] = POSTGRES

    def __init__(self, conn: psycopg.Connection[Any], origin: str = "") -> None:
        """`origin`: the store's name in the notification its commit sends."""
        self._conn = conn
        self._origin = origin
        self.wrote = False
        self._feed: list[tuple[str, Sequence[Sequence[Any]]]] = []

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        if not self.wrote and sql.lstrip()[:6].upper() in _WRITES:
            self.wrote = True
        return self._conn.execute(_postgres_sql(sql), parameters)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        # Feed rows held back belong to the savepoint they were appended in, as rows would.
        held = len(self._feed)
        try:
            with savepoint(self):
                yield
        except BaseException:
            del self._feed[held:]
            raise

    def append_feed(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        self.wrote = True
        self._feed.append((sql, rows))

    def finish(self) -> None:
        """Before the commit: appends the feed's rows, holding the feed's lock only from here
        to the commit, and tells every replica (at commit) that something changed."""
        if self._feed:
            self._conn.execute(_FEED_LOCK_AND_NOTIFY, (self._origin,))
            for sql, runs in itertools.groupby(self._feed, key=lambda appended: appended[0]):
                self.executemany(sql, [row for _, rows in runs for row in rows])
        elif self.wrote:
            self._conn.execute(_NOTIFY, (self._origin,))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        self.wrote = True
        rows = list(parameters)
        if _VALUES.match(sql) is None or not rows:
            cursor = self._conn.cursor()
            cursor.executemany(_postgres_sql(sql), rows)
            return cursor
        # A few statements of many rows each: psycopg's executemany costs more per row, and
        # one statement may carry at most 65,535 parameters.
        inserted = _Inserted()
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            statement = _multi_row_insert(sql, len(chunk))
            values = [value for row in chunk for value in row]
            inserted.rowcount += self._conn.execute(statement, values).rowcount
        return inserted


class _Inserted:
    """What the store reads of a cursor after inserting many rows: how many went in."""

    def __init__(self) -> None:
        self.rowcount = 0

    def fetchone(self) -> Any:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())

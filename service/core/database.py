"""What the store's SQL needs from a database connection, and where the two dialects differ.

The store's jobs are written once, as functions of a `Db`: SQLite's own connection satisfies
it, and `service.db.postgres` wraps psycopg's. Statements use `?` placeholders and the SQL
both databases share; the few things they spell differently are fragments of the `Dialect`.
"""

from __future__ import annotations

import abc
import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import psycopg

from service.core.errors import FailedPrecondition, NotFound, shown

R = TypeVar("R")


class Row(Protocol):
    """A result row, by column position or by column name."""

    def __getitem__(self, key: Any, /) -> Any: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


@dataclass(frozen=True)
class Dialect:
    # Whether other transactions write at the same time (else one writer does, in turn).
    concurrent_writers: bool
    # `... EXISTS` test that the JSON list in column {column} holds the parameter.
    json_list_holds: str
    # Whether text {haystack} contains the parameter, ignoring case.
    contains_text: str
    # Users whose JSON contact methods hold one with this channel and address (two parameters).
    contact_match: str
    # Appended to a SELECT of due jobs, so that engines on other replicas pass them by; given
    # the table (or alias) whose rows are claimed.
    skip_locked: Callable[[str], str]
    # Locks one name (the parameter) until the transaction ends; "" with one writer.
    name_lock: str
    # Appended to a SELECT whose rows (of the table or alias given) a decision rests on, so
    # that a concurrent change waits, then conflicts.
    lock_rows: Callable[[str], str]
    # Appended to a SELECT of rows that a write is about to refer to (by id, in a document),
    # so that deleting them waits for this transaction and then sees the reference.
    share_rows: Callable[[str], str]


SQLITE = Dialect(
    concurrent_writers=False,
    json_list_holds="EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)",
    contains_text="instr(lower({haystack}), lower(?)) > 0",
    contact_match=(
        "EXISTS (SELECT 1 FROM json_each(u.contact_methods) m "
        "WHERE json_extract(m.value, '$.channel') = ? AND json_extract(m.value, '$.address') = ?)"
    ),
    skip_locked=lambda table: "",  # one writer at a time: nothing is locked by another engine
    name_lock="",
    lock_rows=lambda table: "",
    share_rows=lambda table: "",
)

POSTGRES = Dialect(
    concurrent_writers=True,
    json_list_holds=(
        "EXISTS (SELECT 1 FROM jsonb_array_elements_text({column}::jsonb) AS t(v) WHERE t.v = ?)"
    ),
    contains_text="strpos(lower({haystack}), lower(?)) > 0",
    contact_match=(
        "EXISTS (SELECT 1 FROM jsonb_array_elements(u.contact_methods::jsonb) AS m(v) "
        "WHERE m.v ->> 'channel' = ? AND m.v ->> 'address' = ?)"
    ),
    skip_locked=lambda table: f" FOR UPDATE OF {table} SKIP LOCKED",
    name_lock="SELECT pg_advisory_xact_lock(7316030, hashtext(?))",
    lock_rows=lambda table: f" FOR UPDATE OF {table}",
    share_rows=lambda table: f" FOR KEY SHARE OF {table}",
)


class Db(Protocol):
    """The part of a DB-API connection the store uses, plus its dialect."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...

    def savepoint(self) -> contextlib.AbstractContextManager[None]:
        """A part of the transaction that is undone by itself if it raises (see `savepoint`)."""

    def append_feed(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        """Inserts rows into the change feed (the activity table), with `sql` for one row.
        Its sequence numbers must be in commit order, for watchers that read past a number
        never look back: where transactions commit side by side, the rows wait for the end
        of the transaction and go in just before the commit, under a lock held through it."""


Job = Callable[[Db], R]


class Transactions(abc.ABC):
    """What a backend supplies to the store's SQL: each job run as one transaction, so a
    read-modify-write step inside a write job is atomic, and one that refuses raises and
    keeps nothing of the job."""

    @abc.abstractmethod
    async def _read(self, job: Job[R]) -> R:
        """Runs the job on one consistent snapshot, writing nothing."""

    @abc.abstractmethod
    async def _write(self, job: Job[R]) -> R:
        """Runs the job and commits what it wrote, or nothing of it if it raises."""

    @abc.abstractmethod
    async def _claim(self, job: Job[R]) -> R:
        """A write that must see what others committed a moment ago, not a snapshot from its
        start: an engine taking due work by locking its rows (`Dialect.skip_locked`), or a
        decision taken under a `Dialect.name_lock`."""


@contextlib.contextmanager
def savepoint(conn: Db) -> Iterator[None]:
    """Undoes what the block wrote if it raises (and lets the error through)."""
    conn.execute("SAVEPOINT part")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO part")
        raise
    finally:
        conn.execute("RELEASE part")


# A unique or foreign key constraint refused a write, in either database.
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)


def is_unique_violation(exc: Exception) -> bool:
    """Whether a refused write broke a unique constraint (not, say, a foreign key)."""
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


# Another transaction got in the way: the whole job runs again on a fresh snapshot, so a job
# that catches errors to carry on must let these through.
# A unique violation that a job does not catch itself is one too: another transaction inserted
# the same key after this one's snapshot (two creates of one alias, say).
RETRY_WHOLE_JOB = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.UniqueViolation,
)


def ddl(statement: str, dialect: Dialect) -> str:
    """A migration statement in the dialect's words: the schema is the same for both."""
    if dialect is POSTGRES:
        return statement.replace(
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
    return statement


def row_by_id_or_name(conn: Db, table: str, key: str, ref: str, what: str, field: str = "") -> Row:
    """By id first, then by name (`key` holds it lower-cased): two indexed look-ups beat one
    OR that scans. Refused naming `field` (else `what`) when neither finds a row."""
    row: Row | None = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (ref,)).fetchone()
    if row is None:
        row = conn.execute(f"SELECT * FROM {table} WHERE {key} = ?", (ref.lower(),)).fetchone()
    if row is None:
        raise NotFound(f"{field or what}: no {what} named {shown(ref)}")
    return row


def id_by_name(conn: Db, table: str, key: str, ref: str, what: str) -> str:
    return str(row_by_id_or_name(conn, table, key, ref, what)["id"])


def hold_references(
    conn: Db, table: str, ids: Iterable[str | None], what: str, team_id: str = ""
) -> None:
    """Makes sure the rows a write is about to name (in a document, where no foreign key
    looks) still exist, and, with `team_id`, still belong to that team, in the write's own
    transaction: they were looked up by name in an earlier read, and may have been deleted
    or moved since. With other writers, the rows are held until this transaction ends, so
    that a delete or move of one waits and then sees the reference (those lock their row
    first; see `lock_referenced`)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return
    owner = "team_id" if team_id else "''"  # users belong to no team
    teams = {
        row["id"]: row["owner"]
        for row in conn.execute(
            f"SELECT id, {owner} AS owner FROM {table} "
            f"WHERE id IN ({', '.join('?' * len(wanted))}) "
            f"ORDER BY id{conn.dialect.share_rows(table)}",
            wanted,
        )
    }
    for row_id in wanted:
        if row_id not in teams:
            raise NotFound(f"{what}: the {what} with id {row_id!r} was deleted meanwhile")
        if team_id and teams[row_id] != team_id:
            raise FailedPrecondition(
                f"{what}: the {what} with id {row_id!r} was moved to another team meanwhile"
            )


def lock_referenced(conn: Db, table: str, row_id: str) -> None:
    """Before a delete (or a move to another team) looks for what still refers to the row: a
    write naming it waits until the change ends (and then finds it gone or moved), or the
    change waits for that write to commit; the change runs as a claim, so the look that
    follows sees what that write committed."""
    conn.execute(f"SELECT id FROM {table} WHERE id = ?{conn.dialect.lock_rows(table)}", (row_id,))

"""The SQL of API tokens (see `service.core.database`).

A mixin of `SQLStore`, whose backends supply `_read`, `_write` and `_claim`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from service.core.clock import from_micros, to_micros
from service.core.database import Db, Row, Transactions
from service.core.errors import AlreadyExists, FailedPrecondition, NotFound, shown
from service.tokens.model import TokenInfo


class SQLTokens(Transactions):
    async def create_token(
        self, name: str, secret_hash: str, now: datetime, new_id: str
    ) -> TokenInfo:
        def job(conn: Db) -> TokenInfo:
            # Under a lock on the name, and looking at the latest commits: two replicas
            # creating the same name at once must not both succeed. Names differing only in
            # case are the same name (changes are recorded under it, and read by people);
            # compared here rather than in SQL, whose lower() differs between the backends.
            key = name.casefold()
            if conn.dialect.name_lock:
                conn.execute(conn.dialect.name_lock, (f"api token {key}",))
            for row in conn.execute("SELECT name FROM api_tokens WHERE revoked_at IS NULL"):
                if row["name"].casefold() == key:
                    raise AlreadyExists(
                        f"name: an active token named {row['name']!r} already exists (changes "
                        "made with a token are recorded under its name); choose another name "
                        "or revoke that one"
                    )
            return _insert_token(conn, name, secret_hash, now, new_id)

        return await self._claim(job)

    async def create_first_token(
        self,
        name: str,
        secret_hash: str,
        now: datetime,
        new_id: str,
        keep_secret: Callable[[], None],
    ) -> TokenInfo | None:
        def job(conn: Db) -> TokenInfo | None:
            # Replicas starting together take turns here, and each looks at what the one
            # before it committed (a claim sees the latest commits, not an older snapshot).
            if conn.dialect.name_lock:
                conn.execute(conn.dialect.name_lock, ("first api token",))
            if conn.execute("SELECT 1 FROM api_tokens LIMIT 1").fetchone() is not None:
                return None
            keep_secret()  # only the replica that makes the token writes its secret
            return _insert_token(conn, name, secret_hash, now, new_id)

        return await self._claim(job)

    async def list_tokens(self) -> Sequence[TokenInfo]:
        return await self._read(
            lambda conn: [
                _token(row)
                for row in conn.execute("SELECT * FROM api_tokens ORDER BY created_at, id")
            ]
        )

    async def revoke_token(self, token_id: str, now: datetime) -> TokenInfo:
        def job(conn: Db) -> TokenInfo:
            row = conn.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise NotFound(f"no token with id {shown(token_id)}")
            if row["revoked_at"] is not None:
                return _token(row)
            # Locked: two replicas revoking the last two tokens at once must not both succeed.
            active = conn.execute(
                "SELECT id FROM api_tokens WHERE revoked_at IS NULL"
                + conn.dialect.lock_rows("api_tokens")
            ).fetchall()
            if not [r for r in active if r["id"] != token_id]:
                raise FailedPrecondition(
                    "this is the last active token; create another before revoking it"
                )
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (to_micros(now), token_id)
            )
            return TokenInfo(row["id"], row["name"], from_micros(row["created_at"]), now)

        return await self._write(job)

    async def find_token(self, secret_hash: str) -> TokenInfo | None:
        def job(conn: Db) -> TokenInfo | None:
            row = conn.execute(
                "SELECT * FROM api_tokens WHERE secret_hash = ? AND revoked_at IS NULL",
                (secret_hash,),
            ).fetchone()
            return None if row is None else _token(row)

        return await self._read(job)


def _insert_token(conn: Db, name: str, secret_hash: str, now: datetime, new_id: str) -> TokenInfo:
    conn.execute(
        "INSERT INTO api_tokens (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)",
        (new_id, name, secret_hash, to_micros(now)),
    )
    return TokenInfo(new_id, name, now, None)


def _token(row: Row) -> TokenInfo:
    revoked = row["revoked_at"]
    return TokenInfo(
        row["id"],
        row["name"],
        from_micros(row["created_at"]),
        None if revoked is None else from_micros(revoked),
    )

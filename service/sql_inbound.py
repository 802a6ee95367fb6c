"""The SQL of answers to pages: who owns a number, which page a call was, and which
acknowledge links have been used.

A mixin of `SQLStore`, whose backends supply `_read` and `_write`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service.clock import to_micros
from service.errors import NotFound
from service.paging import PageRecord
from service.sql import Db, Transactions
from service.sql_directory import _user
from service.sql_paging import _page_record
from service.user import Channel, User


class SQLInbound(Transactions):
    async def users_by_contact(self, channel: Channel, address: str) -> Sequence[User]:
        # Contact methods live as JSON on the user's row; people are few, so a scan is cheap.
        return await self._read(
            lambda conn: [
                _user(r)
                for r in conn.execute(
                    f"SELECT * FROM users u WHERE {conn.dialect.contact_match} "
                    "ORDER BY u.username_key",
                    (channel.value, address),
                )
            ]
        )

    async def get_page(self, key: str) -> PageRecord:
        def job(conn: Db) -> PageRecord:
            row = conn.execute(
                "SELECT p.*, u.username FROM pages p LEFT JOIN users u ON u.id = p.user_id "
                "WHERE p.key = ?",
                (key,),
            ).fetchone()
            if row is None:
                raise NotFound("page: no page with that key")
            return _page_record(row)

        return await self._read(job)

    async def link_used(self, digest: str) -> bool:
        return await self._read(
            lambda conn: (
                conn.execute("SELECT 1 FROM used_links WHERE digest = ?", (digest,)).fetchone()
                is not None
            )
        )

    async def record_link_use(
        self, digest: str, alert_id: str, user_id: str, expires_at: datetime, now: datetime
    ) -> bool:
        def job(conn: Db) -> bool:
            # A link past its expiry is refused on that ground alone: its row can go.
            conn.execute("DELETE FROM used_links WHERE expires_at < ?", (to_micros(now),))
            return bool(
                conn.execute(
                    "INSERT INTO used_links (digest, alert_id, user_id, expires_at, used_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                    (digest, alert_id, user_id, to_micros(expires_at), to_micros(now)),
                ).rowcount
            )

        return await self._write(job)

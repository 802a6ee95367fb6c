"""What only the PostgreSQL store has: a schema migrated once for all replicas, writes that
conflict across connections, and a database that is not there."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg
import pytest

from service.alerts import lifecycle
from service.alerts.model import Actor, Alert, AlertRef, NewAlert, RefKind, Transition
from service.core.errors import FailedPrecondition, Unavailable
from service.db.migrations import LATEST_VERSION
from service.db.postgres import APPLICATION_NAME, PostgresStore
from service.tokens.usecases import Tokens, read_token_file
from tests.conftest import serving
from tests.databases import postgres_database, refuse_connections, scratch_database
from tests.fakes import FakeClock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANA = Actor("ana")


async def test_a_replica_refuses_an_unmigrated_older_or_newer_schema() -> None:
    with postgres_database() as url:
        store = PostgresStore(url, FakeClock())
        with pytest.raises(FailedPrecondition, match="no Tocsin schema yet; run `tocsin migrate"):
            await store.open()
        applied = await store.migrate()
        assert len(applied) == LATEST_VERSION and applied[0].startswith("1: ")
        assert await store.migrate() == []  # once is enough; again changes nothing
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version = %s", (LATEST_VERSION,))
        with pytest.raises(
            FailedPrecondition, match=f"older than this Tocsin needs \\({LATEST_VERSION}\\)"
        ):
            await store.open()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO schema_migrations VALUES (%s, 'x', 0), (%s, 'from the future', 0)",
                (LATEST_VERSION, LATEST_VERSION + 1),
            )
        with pytest.raises(FailedPrecondition, match="newer than this Tocsin knows"):
            await store.open()
        with pytest.raises(FailedPrecondition, match="newer than this Tocsin knows"):
            await store.migrate()


async def test_migrating_from_several_processes_at_once_applies_each_migration_once() -> None:
    with postgres_database() as url:
        results = await asyncio.gather(
            *(PostgresStore(url, FakeClock()).migrate() for _ in range(4))
        )
    assert sorted(len(applied) for applied in results) == [0, 0, 0, LATEST_VERSION]


async def test_conflicting_writes_from_many_connections_all_land() -> None:
    with postgres_database() as url:
        store = PostgresStore(url, FakeClock(), pool_size=8)
        await store.migrate()
        await store.open()
        try:
            created = await store.create_alert(NewAlert("Disk full"), Actor("ana"), T0, "a-1")
            ref = AlertRef(RefKind.ID, created.alert.id)

            async def tag(n: int) -> None:
                await store.update_alert(
                    ref, lambda alert: lifecycle.add_tags(alert, (f"t{n}",), T0), Actor("ana"), T0
                )

            # Every step reads the tags and writes them back: a lost update would drop one.
            await asyncio.gather(*(tag(n) for n in range(16)))
            alert = await store.get_alert(ref)
        finally:
            await store.close()
    assert sorted(alert.tags) == sorted(f"t{n}" for n in range(16))


async def test_an_unreachable_database_is_unavailable_with_its_address_and_no_password() -> None:
    store = PostgresStore("postgresql://tocsin:s3cret@127.0.0.1:1/tocsin", FakeClock())
    with pytest.raises(Unavailable) as caught:
        await store.open()
    assert "127.0.0.1:1/tocsin" in str(caught.value)
    assert "s3cret" not in str(caught.value)


async def test_a_server_on_postgresql_reports_its_conflicts(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, FakeClock(), backend="postgresql") as running,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{running.server.http_port}/metrics") as reply,
    ):
        text = await reply.text()
    assert "tocsin_database_conflicts_total 0.0" in text


async def test_a_pool_of_one_connection_serves() -> None:
    with postgres_database() as url:
        store = PostgresStore(url, FakeClock(), pool_size=1)
        await store.migrate()
        await store.open()
        try:
            made = await asyncio.gather(
                *(store.create_token(f"t{n}", f"h{n}", T0, f"id{n}") for n in range(4))
            )
            listed = await store.list_tokens()
        finally:
            await store.close()
    assert sorted(t.id for t in listed) == sorted(t.id for t in made)


async def test_a_commit_wakes_its_own_store_once_and_every_other_store() -> None:
    # A database of its own: notifications reach every listener of a database, whatever its
    # schema, so other tests' commits in a shared one would wake these stores too.
    with scratch_database() as url:
        mine, other = PostgresStore(url, FakeClock()), PostgresStore(url, FakeClock())
        await mine.migrate()
        for store in (mine, other):
            await store.open()
        try:
            await asyncio.sleep(0.5)  # both listening
            before = (mine.change_generation(), other.change_generation())
            await mine.create_token("t", "h", T0, "id")
            async with asyncio.timeout(10):
                await other.wait_for_change(before[1], 10)
            await asyncio.sleep(0.5)  # time for the notification to come back to mine too
            after = (mine.change_generation(), other.change_generation())
        finally:
            for store in (mine, other):
                await store.close()
    assert after == (before[0] + 1, before[1] + 1)


async def test_two_revocations_at_once_never_leave_no_active_token() -> None:
    with postgres_database() as url:
        store = PostgresStore(url, FakeClock())
        await store.migrate()
        await store.open()
        try:
            for n in (1, 2):
                await store.create_token(f"t{n}", f"hash-{n}", T0, f"tok-{n}")
            outcomes = await asyncio.gather(
                *(store.revoke_token(f"tok-{n}", T0) for n in (1, 2)), return_exceptions=True
            )
            active = [t for t in await store.list_tokens() if t.revoked_at is None]
        finally:
            await store.close()
    assert sorted(type(o).__name__ for o in outcomes) == ["FailedPrecondition", "TokenInfo"]
    assert len(active) == 1


async def test_replicas_first_starting_together_make_one_admin_token(tmp_path: Path) -> None:
    with postgres_database() as url:
        stores = [PostgresStore(url, FakeClock()) for _ in range(4)]
        await stores[0].migrate()
        for store in stores:
            await store.open()
        dirs = [tmp_path / "r0", tmp_path / "r1", tmp_path / "shared", tmp_path / "shared"]
        try:
            made = await asyncio.gather(
                *(
                    Tokens(store, FakeClock()).ensure_admin_token(data_dir)
                    for data_dir, store in zip(dirs, stores, strict=True)
                )
            )
            tokens = await stores[0].list_tokens()
            [written] = [path for path in made if path is not None]
            known = await Tokens(stores[0], FakeClock()).authenticate(read_token_file(written))
        finally:
            for store in stores:
                await store.close()
    assert len(tokens) == 1 and known is not None and known.id == tokens[0].id
    # Only the one that made it wrote its file, even into a directory it shares.
    assert await asyncio.to_thread(lambda: list(tmp_path.glob("*/admin-token"))) == [written]


def _tag(tag: str, alert: Alert) -> Transition:
    return lifecycle.add_tags(alert, (tag,), T0)


async def test_connections_the_server_drops_are_replaced_without_failing_a_call() -> None:
    with postgres_database() as url:
        store, other = PostgresStore(url, FakeClock()), PostgresStore(url, FakeClock())
        await store.migrate()
        await store.open()
        try:
            created = await store.create_alert(NewAlert("Disk full"), Actor("ana"), T0, "a-1")
            generation = store.change_generation()
            # As a database restart or failover does: every connection of this store goes.
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (APPLICATION_NAME,),
                )
            ref = AlertRef(RefKind.ID, created.alert.id)
            for n in range(4):  # each call may meet a dead pooled connection first
                await store.update_alert(ref, functools.partial(_tag, f"t{n}"), ANA, T0)
            assert len((await store.get_alert(ref)).tags) == 4
            # Changes made elsewhere are heard again once the listener has reconnected.
            await other.open()
            await other.create_alert(NewAlert("CPU hot"), ANA, T0, "a-2")
            async with asyncio.timeout(10):
                while store.change_generation() == generation:
                    await store.wait_for_change(generation, 1)
        finally:
            await store.close()
            await other.close()


async def test_a_database_that_refuses_connections_is_unavailable_at_once_and_recovers() -> None:
    loop = asyncio.get_running_loop()
    with scratch_database() as url:
        # The default pool: a call used to wait for a connection once per slot, 5 s each.
        store = PostgresStore(url, FakeClock())
        await store.migrate()
        await store.open()
        try:
            # Several connections in the pool, for the outage to end.
            await asyncio.gather(
                *(store.create_token(f"t{n}", f"h{n}", T0, f"{n}") for n in range(8))
            )
            await store.ping()
            refuse_connections(url)
            refused = loop.time()
            for _ in range(3):  # the first meets the pool's dead connections; none waits long
                started = loop.time()
                with pytest.raises(Unavailable, match="cannot reach the database: no connection"):
                    await store.list_tokens()
                assert loop.time() - started < 2
            started = loop.time()
            with pytest.raises(Unavailable, match="not currently accepting connections"):
                await store.ping()
            assert loop.time() - started < 2
            # Known to be down (health asks every second, and so does this), calls do not wait
            # for a connection; the outage lasts long enough for the pool's wait between
            # attempts to reconnect to have doubled to 16 s.
            while loop.time() - refused < 16:
                started = loop.time()
                with pytest.raises(Unavailable, match="cannot reach the database: no connection"):
                    await store.list_tokens()
                assert loop.time() - started < 0.5
                await asyncio.sleep(1)
                with pytest.raises(Unavailable, match="not currently accepting connections"):
                    await store.ping()
            refuse_connections(url, refuse=False)
            async with asyncio.timeout(5):
                while True:
                    with contextlib.suppress(Unavailable):
                        await store.ping()
                        tokens = await store.list_tokens()
                        break
                    await asyncio.sleep(0.2)
        finally:
            await store.close()
    assert len(tokens) == 8


async def test_a_ping_answers_in_a_second_though_the_database_never_does() -> None:
    # A server that takes the connection and says nothing, as one cut off by the network.
    silent: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = PostgresStore(f"postgresql://127.0.0.1:{port}/tocsin", FakeClock())
    loop = asyncio.get_running_loop()
    try:
        for _ in range(3):
            started = loop.time()
            with pytest.raises(Unavailable, match=f"cannot reach postgresql://127.0.0.1:{port}/"):
                await store.ping()
            assert loop.time() - started < 1.5
        # A ping that finds the last question unanswered waits for that one (which gives up
        # connecting after 2 s) instead of asking again behind it.
        assert len(silent) <= 2
    finally:
        await store.close()
        for writer in silent:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_call_waits_for_a_pool_that_is_slow_to_give_a_connection() -> None:
    with postgres_database() as url:
        store = PostgresStore(url, FakeClock(), pool_size=1)
        await store.migrate()
        await store.open()
        try:
            # The pool's one connection taken for 1.5 s, as on a loaded machine a pool may
            # take as long to open one: slow, not unreachable.
            pool = store._pool
            assert pool is not None
            held = await asyncio.to_thread(pool.getconn)
            asyncio.get_running_loop().call_later(1.5, pool.putconn, held)
            tokens = await store.list_tokens()
        finally:
            await store.close()
    assert list(tokens) == []


class _Link:
    """A TCP link to PostgreSQL that can go silent, as a network that drops packets does:
    connections stay open, and nothing crosses until it is restored."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._open = asyncio.Event()
        self._open.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    def cut(self) -> None:
        self._open.clear()

    def restore(self) -> None:
        self._open.set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                await self._open.wait()
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._port)
        for task in (
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        self.restore()
        assert self.server is not None
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def test_calls_made_once_health_finds_the_database_silent_answer_at_once() -> None:
    """A network that drops packets leaves the pool's connections open: a query on one would
    wait for the caller's deadline. Once a ping has gone unanswered, calls are refused at
    once, and they are served again as soon as a ping is answered."""
    loop = asyncio.get_running_loop()
    with postgres_database() as url:
        split = urllib.parse.urlsplit(url)
        link = _Link(split.port or 5432)
        async with link as port:
            through = split._replace(netloc=f"127.0.0.1:{port}").geturl()
            store = PostgresStore(through, FakeClock())
            await store.migrate()
            await store.open()
            try:
                await asyncio.gather(
                    *(store.create_token(f"t{n}", f"h{n}", T0, f"{n}") for n in range(4))
                )
                await store.ping()
                link.cut()
                with pytest.raises(Unavailable, match="no answer within 1 s"):
                    await store.ping()
                for _ in range(3):
                    started = loop.time()
                    with pytest.raises(Unavailable, match="cannot reach the database"):
                        await store.list_tokens()
                    assert loop.time() - started < 0.5
                link.restore()
                async with asyncio.timeout(5):
                    while True:
                        with contextlib.suppress(Unavailable):
                            await store.ping()
                            break
                        await asyncio.sleep(0.2)
                assert len(await store.list_tokens()) == 4
            finally:
                await store.close()

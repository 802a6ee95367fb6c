"""What only the SQLite store has: its writer's handling of database failures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.alerts.model import Actor, Alert, AlertRef, CreateResult, NewAlert, RefKind, Transition
from service.core.errors import Unavailable
from service.db.sqlite import SQLiteStore
from tests.databases import open_store
from tests.fakes import FakeClock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with open_store("sqlite", tmp_path, FakeClock()) as opened:
        assert isinstance(opened, SQLiteStore)
        yield opened


async def test_a_database_error_in_one_write_is_unavailable_and_spares_the_rest(
    store: SQLiteStore,
) -> None:
    first = await store.create_alert(NewAlert("first"), Actor("ana"), T0, "id-1")

    def disk_error(alert: Alert) -> Transition:
        raise sqlite3.OperationalError("disk I/O error")

    outcomes = await asyncio.gather(
        store.update_alert(AlertRef(RefKind.ID, "id-1"), disk_error, Actor("ana"), T0),
        store.create_alert(NewAlert("second"), Actor("ana"), T0, "id-2"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], Unavailable)
    assert "disk I/O error" in str(outcomes[0])
    assert isinstance(outcomes[1], CreateResult)
    assert (await store.get_alert(AlertRef(RefKind.ID, "id-1"))) == first.alert
    # The writer carries on.
    third = await store.create_alert(NewAlert("third"), Actor("ana"), T0, "id-3")
    assert third.alert.tiny_id == 3


async def test_writes_after_close_are_refused(store: SQLiteStore) -> None:
    await store.close()
    with pytest.raises(Unavailable, match="closed|not open"):
        await store.create_alert(NewAlert("late"), Actor("ana"), T0, "id-late")


async def test_the_database_and_its_wal_and_shm_files_are_the_owners_alone(
    tmp_path: Path,
) -> None:
    # Under the usual umask (022), files SQLite creates would be readable by everyone.
    previous = os.umask(0o022)
    try:
        path = tmp_path / "data" / "tocsin.db"
        store = SQLiteStore(path, FakeClock())
        await store.open()
        await store.create_alert(NewAlert("first"), Actor("ana"), T0, "id-1")
        await store.get_alert(AlertRef(RefKind.ID, "id-1"))  # a reader opens the -shm too
        files = [path, path.with_name("tocsin.db-wal"), path.with_name("tocsin.db-shm")]
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
            f.name: 0o600 for f in files
        }
        await store.close()
        # Files an older version left readable by others are tightened at the next start;
        # another connection keeps the -wal and -shm files there meanwhile.
        with contextlib.closing(sqlite3.connect(path)) as other:
            other.execute("SELECT count(*) FROM alerts").fetchall()
            for f in files:
                f.chmod(0o644)
            reopened = SQLiteStore(path, FakeClock())
            await reopened.open()
            assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
                f.name: 0o600 for f in files
            }
            await reopened.close()
    finally:
        os.umask(previous)

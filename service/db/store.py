"""The `Store`: everything the service keeps, the union of each capability's port.

The composition root opens one and hands it to the use cases, each of which names only the
port(s) it needs (`service.alerts.store.AlertStore` and the like); the contract tests run
against the whole of it.
"""

from __future__ import annotations

from typing import Protocol

from service.alerts.store import AlertStore, ChangeFeed
from service.answers.store import AnswerStore
from service.escalation.store import EscalationStore
from service.ingest.store import IngestStore, IntegrationStore
from service.oncall.store import ScheduleStore
from service.paging.store import PagingStore
from service.people.store import PeopleStore
from service.teams.store import TeamStore
from service.tokens.store import TokenStore


class Store(
    AlertStore,
    ChangeFeed,
    TeamStore,
    IntegrationStore,
    IngestStore,
    TokenStore,
    PeopleStore,
    ScheduleStore,
    EscalationStore,
    PagingStore,
    AnswerStore,
    Protocol,
):
    async def open(self) -> None:
        """Connects; refuses a schema newer than this Tocsin knows. SQLite migrates an older
        one as it opens; PostgreSQL, shared by replicas, refuses it (see `migrate`)."""

    async def migrate(self) -> list[str]:
        """Brings the schema up to date; returns the migrations applied ("version: name")."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raises `Unavailable` when the database cannot be reached."""

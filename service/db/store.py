"""The `Store` protocol: everything the service keeps, behind one small interface.

An awaited write has been committed when it returns. Lifecycle steps are passed in as pure
functions and run inside the store's transaction, so a read-modify-write is atomic whatever
the backend.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from service.alerts.model import (
    ActivityEntry,
    Actor,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertRef,
    CreateResult,
    NewAlert,
    Transition,
)
from service.answers.receipts import Answered, LinkUse, Receipt
from service.core.pages import Page
from service.escalation.model import Policy, Routing
from service.ingest.model import (
    IngestAction,
    IngestResult,
    Integration,
    IntegrationType,
    NewIntegration,
    SnsDelivery,
)
from service.oncall.model import Override, Schedule
from service.paging.notifier import SendResult
from service.paging.planning import ClaimedPage, Claims, PageRecord, PageState
from service.people.model import Channel, MemberRole, TeamMember, User
from service.teams.model import Team
from service.tokens.model import TokenInfo

Step = Callable[[Alert], Transition]


class Store(Protocol):
    async def open(self) -> None:
        """Connects; refuses a schema newer than this Tocsin knows. SQLite migrates an older
        one as it opens; PostgreSQL, shared by replicas, refuses it (see `migrate`)."""

    async def migrate(self) -> list[str]:
        """Brings the schema up to date; returns the migrations applied ("version: name")."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raises `Unavailable` when the database cannot be reached."""

    # Alerts
    async def create_alert(
        self, alert: NewAlert, actor: Actor, now: datetime, new_id: str
    ) -> CreateResult:
        """Creates the alert, or deduplicates into the open one with its alias and team."""

    async def update_alert(
        self, ref: AlertRef, step: Step, actor: Actor, now: datetime
    ) -> Transition:
        """Runs `step` on the alert's current state and commits its changes atomically;
        the activity entries are stamped `now`."""

    async def get_alert(self, ref: AlertRef) -> Alert: ...

    async def list_alerts(self, query: AlertQuery) -> Page[Alert]: ...

    async def list_activity(
        self, ref: AlertRef, page_size: int, page_token: str
    ) -> Page[ActivityEntry]: ...

    async def snoozes_due(self, now: datetime, limit: int) -> Sequence[str]:
        """Ids of open alerts whose snooze has run out by `now`."""

    # The change feed behind WatchAlerts
    async def last_seq(self) -> int: ...

    async def events_after(self, seq: int, limit: int, team_id: str) -> Sequence[AlertEvent]:
        """Changes with a sequence number above `seq`, oldest first (one team's, if given)."""

    def change_generation(self) -> int:
        """A number that moves on with every commit; read it before reading the feed."""

    async def wait_for_change(self, since: int, poll_seconds: float) -> None:
        """Returns once the generation has moved past `since`, or after `poll_seconds`."""

    # Teams
    async def create_team(
        self, name: str, description: str, now: datetime, new_id: str
    ) -> Team: ...

    async def list_teams(self) -> Sequence[Team]: ...

    async def get_team(self, team: str) -> Team:
        """By id or by name (case-insensitive)."""

    async def rename_team(self, team: str, new_name: str) -> Team: ...

    async def delete_team(self, team: str) -> None:
        """Refuses the default team and any team that still owns something."""

    # Integrations
    async def create_integration(
        self, integration: NewIntegration, key_hash: str, now: datetime, new_id: str
    ) -> Integration: ...

    async def list_integrations(self, team: str) -> Sequence[Integration]:
        """All integrations, or those a team owns; by name."""

    async def get_integration(self, integration: str) -> Integration:
        """By id or by name (case-insensitive)."""

    async def set_integration_enabled(self, integration: str, enabled: bool) -> Integration: ...

    async def rotate_integration_key(self, integration: str, key_hash: str) -> Integration: ...

    async def update_integration(
        self, integration: str, changes: NewIntegration, fields: frozenset[str]
    ) -> Integration:
        """Sets the `fields` of the integration to those of `changes`; an empty team keeps
        the owner team, an empty assignee team makes the owner team the assignee."""

    async def delete_integration(self, integration: str) -> None: ...

    async def set_integration_rules(self, integration: str, rules_json: str) -> None: ...

    async def get_integration_rules(self, integration: str) -> str:
        """The rules as stored: a JSON list, checked when they were set."""

    async def ingest_sns(
        self,
        delivery: SnsDelivery,
        key_hash: str,
        action: Callable[[IntegrationType], IngestAction] | None,
        actor: Actor,
        now: datetime,
        new_id: str,
    ) -> IngestResult:
        """Checks the integration's key, state, minimum SignatureVersion and topics; then,
        unless `action` is None (a check only, which reports a duplicate), asks it what the
        delivery does in an integration of this type, pins the first
        confirmed topic of an integration without an allow-list, takes the action for its
        assignee team and records the MessageId, all in one transaction. A MessageId
        recorded before changes nothing."""

    # API tokens
    async def create_token(
        self, name: str, secret_hash: str, now: datetime, new_id: str
    ) -> TokenInfo: ...

    async def create_first_token(
        self,
        name: str,
        secret_hash: str,
        now: datetime,
        new_id: str,
        keep_secret: Callable[[], None],
    ) -> TokenInfo | None:
        """Creates the token only if there has never been one; None if there has (another
        replica's first start made it a moment ago, say). `keep_secret` is called, once no
        token is found and before this one is written, to put its secret where its owner
        will find it; if it raises, no token is made."""

    async def list_tokens(self) -> Sequence[TokenInfo]: ...

    async def revoke_token(self, token_id: str, now: datetime) -> TokenInfo:
        """Refuses to revoke the last active token."""

    async def find_token(self, secret_hash: str) -> TokenInfo | None:
        """The active token with this hash, if any."""

    # Users and team members
    async def create_user(self, user: User) -> User:
        """Refuses a username taken in any case."""

    async def get_user(self, user: str) -> User:
        """By id or by username (case-insensitive)."""

    async def list_users(self) -> Sequence[User]: ...

    async def update_user(self, user: str, step: Callable[[User], User]) -> User:
        """Runs `step` on the user as stored and saves what it returns, atomically."""

    async def delete_user(self, user: str, now: datetime) -> None:
        """Refuses a user named in any schedule's rotations or overrides, saying whether
        they are there now (or to come), or only in what has been."""

    async def set_team_member(self, team: str, user: str, role: MemberRole) -> TeamMember: ...

    async def remove_team_member(self, team: str, user: str) -> None: ...

    async def list_team_members(self, team: str) -> Sequence[TeamMember]: ...

    # Schedules
    async def create_schedule(self, schedule: Schedule) -> Schedule: ...

    async def get_schedule(self, schedule: str) -> Schedule:
        """By id or by name (case-insensitive)."""

    async def list_schedules(self, team: str) -> Sequence[Schedule]:
        """All schedules, or one team's; by name."""

    async def update_schedule(
        self, schedule: str, step: Callable[[Schedule], Schedule]
    ) -> Schedule:
        """Runs `step` on the schedule as stored and saves what it returns, atomically."""

    async def delete_schedule(self, schedule: str) -> None:
        """Deletes the schedule and its overrides."""

    async def add_override(self, override: Override) -> Override: ...

    async def end_override(
        self, schedule: str, override: str, step: Callable[[Override], Override | None]
    ) -> Override | None:
        """Runs `step` on the override: None deletes it, a value replaces its end."""

    async def list_overrides(
        self, schedule_ids: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Override]:
        """Overrides of these schedules that overlap [start, end), oldest first."""

    # Escalation policies and team routing
    async def create_policy(self, policy: Policy) -> Policy: ...

    async def get_policy(self, policy: str) -> Policy:
        """By id or by name (case-insensitive)."""

    async def list_policies(self, team: str) -> Sequence[Policy]: ...

    async def update_policy(self, policy: str, step: Callable[[Policy], Policy]) -> Policy: ...

    async def delete_policy(self, policy: str) -> None:
        """Refuses a policy its team's routing uses."""

    async def set_routing(self, routing: Routing) -> Routing: ...

    async def get_routing(self, team: str) -> Routing:
        """The team's routing; an empty one if it has none."""

    # Escalations and the page ledger (see service.db.sql_paging)
    async def escalate_now(self, alert_id: str, now: datetime) -> bool:
        """Makes the alert's next escalation step due now; False if nothing is left."""

    async def run_due_escalations(self, now: datetime, limit: int) -> tuple[int, int]:
        """Takes up to `limit` escalations due by `now` that no other engine is running and
        runs their due steps; returns (escalations run, pages planned). One that fails is
        undone and retried later; it does not stop the others."""

    async def claim_pages(self, now: datetime, limit: int, lease: timedelta) -> Claims:
        """Due pages, marked as being sent with a lease; throttled ones are moved on."""

    async def record_pages(
        self,
        answers: Sequence[tuple[ClaimedPage, SendResult]],
        now: datetime,
        rng: random.Random,
    ) -> list[PageState]:
        """Records the providers' answers in one job (their pages' states, in order), except
        for a page claimed again meanwhile."""

    async def next_due(self) -> datetime | None:
        """When the next escalation step, page or snooze end is due, if any."""

    async def list_pages(self, alert_id: str) -> Sequence[PageRecord]: ...

    # Answers to pages (see service.answers.sql)
    async def users_by_contact(self, channel: Channel, address: str) -> Sequence[User]:
        """The users with a contact method of this channel and address, by username."""

    async def get_page(self, key: str) -> PageRecord:
        """The page with this ledger key; `NotFound` if none."""

    async def link_used(self, digest: str) -> bool:
        """Whether the acknowledge link with this digest has been redeemed."""

    async def redeem_link(
        self, use: LinkUse, step: Step, actor: Actor, now: datetime
    ) -> Transition | None:
        """Records the link's use and runs `step` on its alert, in one transaction; None,
        doing nothing, when the link was used before (by a request racing this one, too)."""

    async def twilio_answer(self, sid: str) -> Answered | None:
        """The answer given to the Twilio request with this id, if one was."""

    async def answer_page(
        self,
        alert_id: str,
        step: Step,
        actor: Actor,
        now: datetime,
        receipt: Receipt | None,
        *,
        escalate: bool = False,
    ) -> Transition | Answered:
        """Runs `step` on the alert (first, with `escalate`, its escalation's next step now,
        else FailedPrecondition) and keeps the receipt's answer, in one transaction; the
        first answer, doing nothing, when the receipt's request was answered before."""

    async def may_answer(self, user_id: str, alert_id: str) -> bool:
        """Whether the user was paged for the alert or is a member of its team."""

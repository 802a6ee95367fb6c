"""Versioned schema migrations. Each runs once, in order, inside one transaction.

Timestamps are integer microseconds since the Unix epoch (UTC); lists and maps are JSON text.
A migration, once released, is never edited: change the schema with a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.core.clock import to_micros
from service.core.database import Db, ddl
from service.core.errors import FailedPrecondition
from service.teams.model import DEFAULT_TEAM


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_NO_POLICY = '{"id": "", "name": "", "team_id": "", "description": "", "rules": [], "repeat": null}'

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "alerts, teams, activity and tokens",
        (
            """CREATE TABLE teams (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                description TEXT NOT NULL DEFAULT '',
                created_at BIGINT NOT NULL
            )""",
            f"""INSERT INTO teams (id, name, name_key, description, created_at)
                VALUES ('{DEFAULT_TEAM}', 'default', 'default',
                        'Owns alerts that name no team.', 0)""",
            # The tiny id is the row's key: sequential, never reused, and the cheapest key to
            # append to.
            """CREATE TABLE alerts (
                tiny_id INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                alias TEXT NOT NULL,
                message TEXT NOT NULL,
                description TEXT NOT NULL,
                tags TEXT NOT NULL,
                details TEXT NOT NULL,
                entity TEXT NOT NULL,
                source TEXT NOT NULL,
                priority INTEGER NOT NULL,
                responders TEXT NOT NULL,
                actions TEXT NOT NULL,
                status TEXT NOT NULL,
                acknowledged BOOLEAN NOT NULL,
                snoozed_until BIGINT,
                count BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                last_occurred_at BIGINT NOT NULL,
                team_id TEXT NOT NULL REFERENCES teams (id),
                integration TEXT NOT NULL,
                acknowledged_by TEXT NOT NULL,
                closed_by TEXT NOT NULL
            )""",
            # At most one open alert per alias and team: the dedup rule, enforced by the database.
            """CREATE UNIQUE INDEX alerts_open_alias ON alerts (team_id, alias)
                WHERE status = 'open'""",
            "CREATE INDEX alerts_alias ON alerts (team_id, alias, created_at)",
            "CREATE INDEX alerts_created_at ON alerts (created_at, id)",
            "CREATE INDEX alerts_updated_at ON alerts (updated_at, id)",
            "CREATE INDEX alerts_last_occurred_at ON alerts (last_occurred_at, id)",
            "CREATE INDEX alerts_snoozed_until ON alerts (snoozed_until) "
            "WHERE snoozed_until IS NOT NULL",
            """CREATE TABLE activity (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                alert_id TEXT NOT NULL REFERENCES alerts (id),
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                note TEXT NOT NULL,
                before TEXT NOT NULL,
                after TEXT NOT NULL
            )""",
            "CREATE INDEX activity_alert ON activity (alert_id, seq)",
            """CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                secret_hash TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT
            )""",
        ),
    ),
    Migration(
        2,
        "integrations",
        (
            """CREATE TABLE integrations (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                team_id TEXT NOT NULL REFERENCES teams (id),
                assignee_team_id TEXT NOT NULL REFERENCES teams (id),
                enabled BOOLEAN NOT NULL,
                topic_arns TEXT NOT NULL,
                pinned_topic_arn TEXT NOT NULL,
                min_signature_version INTEGER NOT NULL,
                key_hash TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            "CREATE INDEX integrations_team ON integrations (team_id)",
            "CREATE INDEX integrations_assignee_team ON integrations (assignee_team_id)",
        ),
    ),
    Migration(
        3,
        "SNS messages received, for exactly-once ingest",
        (
            """CREATE TABLE sns_messages (
                integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
                message_id TEXT NOT NULL,
                -- NULL when the delivery changed no alert (an OK with no alarm open).
                alert_id TEXT REFERENCES alerts (id),
                received_at BIGINT NOT NULL,
                PRIMARY KEY (integration_id, message_id)
            )""",
        ),
    ),
    Migration(
        4,
        "integration rules",
        ("ALTER TABLE integrations ADD COLUMN rules TEXT NOT NULL DEFAULT '[]'",),
    ),
    Migration(
        5,
        "users, team members, schedules and overrides",
        (
            # A user's contact methods and notification rules are few and always read with
            # the user: JSON on its row, changed atomically with it.
            """CREATE TABLE users (
                id TEXT PRIMARY KEY,
                username TEXT NOT NULL,
                username_key TEXT NOT NULL UNIQUE,
                full_name TEXT NOT NULL,
                time_zone TEXT NOT NULL,
                role TEXT NOT NULL,
                contact_methods TEXT NOT NULL,
                notification_rules TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            """CREATE TABLE team_members (
                team_id TEXT NOT NULL REFERENCES teams (id),
                user_id TEXT NOT NULL REFERENCES users (id),
                role TEXT NOT NULL,
                PRIMARY KEY (team_id, user_id)
            )""",
            "CREATE INDEX team_members_user ON team_members (user_id)",
            # Rotations (with their participant history) are one value, computed on whole.
            """CREATE TABLE schedules (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                team_id TEXT NOT NULL REFERENCES teams (id),
                time_zone TEXT NOT NULL,
                description TEXT NOT NULL,
                rotations TEXT NOT NULL,
                ical_secret TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            "CREATE INDEX schedules_team ON schedules (team_id)",
            """CREATE TABLE schedule_overrides (
                id TEXT PRIMARY KEY,
                schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users (id),
                rotation TEXT NOT NULL,
                start_at BIGINT NOT NULL,
                end_at BIGINT NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            "CREATE INDEX schedule_overrides_window ON schedule_overrides (schedule_id, end_at)",
            "CREATE INDEX schedule_overrides_user ON schedule_overrides (user_id)",
        ),
    ),
    Migration(
        6,
        "escalation policies, team routing, escalations and the page ledger",
        (
            """CREATE TABLE escalation_policies (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                team_id TEXT NOT NULL REFERENCES teams (id),
                document TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            "CREATE INDEX escalation_policies_team ON escalation_policies (team_id)",
            """CREATE TABLE team_routing (
                team_id TEXT PRIMARY KEY REFERENCES teams (id),
                document TEXT NOT NULL
            )""",
            # One per alert: the policy as it was when the alert fired, and where it stands.
            """CREATE TABLE escalations (
                alert_id TEXT PRIMARY KEY REFERENCES alerts (id),
                policy TEXT NOT NULL,
                cycle_start BIGINT NOT NULL,
                run INTEGER NOT NULL,
                cycle INTEGER NOT NULL,
                next_rule INTEGER NOT NULL,
                due_at BIGINT,
                state TEXT NOT NULL
            )""",
            "CREATE INDEX escalations_due ON escalations (due_at) WHERE due_at IS NOT NULL",
            # Alerts from before escalations existed have paged nobody, and will not start now.
            f"""INSERT INTO escalations
                (alert_id, policy, cycle_start, run, cycle, next_rule, due_at, state)
                SELECT id, '{_NO_POLICY}', created_at, 0, 0, 0, NULL, 'done' FROM alerts""",
            # The ledger: every page, by its key, from planned to delivered or given up.
            """CREATE TABLE pages (
                key TEXT PRIMARY KEY,
                alert_id TEXT NOT NULL REFERENCES alerts (id),
                user_id TEXT NOT NULL,
                contact_method_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                address TEXT NOT NULL,
                round INTEGER NOT NULL,
                state TEXT NOT NULL,
                due_at BIGINT NOT NULL,
                attempts INTEGER NOT NULL,
                lease_until BIGINT,
                sent_at BIGINT,
                provider_id TEXT NOT NULL,
                detail TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            "CREATE INDEX pages_due ON pages (due_at) "
            "WHERE state IN ('pending', 'retry', 'sending')",
            "CREATE INDEX pages_alert ON pages (alert_id, state)",
            "CREATE INDEX pages_address ON pages (channel, address, sent_at) "
            "WHERE sent_at IS NOT NULL",
        ),
    ),
    Migration(
        7,
        "acknowledge links redeemed, so each works once",
        (
            # The SHA-256 of each redeemed token, kept until it would have expired anyway.
            """CREATE TABLE used_links (
                digest TEXT PRIMARY KEY,
                alert_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                used_at BIGINT NOT NULL
            )""",
            "CREATE INDEX used_links_expires ON used_links (expires_at)",
        ),
    ),
    Migration(
        8,
        "Twilio requests answered, so a replayed one gets the first answer",
        (
            # Keyed by Twilio's MessageSid or CallSid; kept a day, as a link is.
            """CREATE TABLE twilio_answers (
                sid TEXT PRIMARY KEY,
                outcome TEXT NOT NULL,
                answer TEXT NOT NULL,
                answered_at BIGINT NOT NULL
            )""",
            "CREATE INDEX twilio_answers_at ON twilio_answers (answered_at)",
        ),
    ),
    Migration(
        9,
        "the default team created when the database was",
        # Migration 1 made it with no time at hand (1970); the database's first migration
        # was recorded at its real creation, in the same transaction.
        (
            f"""UPDATE teams SET created_at = (
                    SELECT applied_at FROM schema_migrations WHERE version = 1)
                WHERE id = '{DEFAULT_TEAM}' AND created_at = 0
                  AND EXISTS (SELECT 1 FROM schema_migrations WHERE version = 1)""",
        ),
    ),
    Migration(
        10,
        "why a page being sent was cancelled, in a column of its own",
        (
            # Set when the alert is acknowledged, closed or snoozed while the page is with its
            # provider: a failed send is then cancelled, not tried again.
            "ALTER TABLE pages ADD COLUMN cancelled_because TEXT",
            # Until now the flag was a "cancel:" prefix on the detail: pages flagged before the
            # upgrade keep it. A page being sent gets back the empty detail its claim gave it;
            # one already cancelled for it says why, as cancelled pages do.
            """UPDATE pages SET cancelled_because = substr(detail, 8),
                    detail = CASE WHEN state = 'cancelled' THEN substr(detail, 8) ELSE '' END
                WHERE detail LIKE 'cancel:%'""",
        ),
    ),
    Migration(
        11,
        "integrations found by their key",
        # An event that names its integration only by the key in its body (PagerDuty's
        # routing_key) is matched by the key's hash: indexed, so that a stream of events with
        # unknown keys costs a look-up each, not a scan of every integration.
        ("CREATE INDEX integrations_by_key ON integrations (key_hash)",),
    ),
    Migration(
        12,
        "Opsgenie requests taken, for their status",
        (
            # Keyed by the requestId the answer gave; written in the request's own
            # transaction and kept a day, as Twilio's ids are.
            """CREATE TABLE opsgenie_requests (
                request_id TEXT PRIMARY KEY,
                integration_id TEXT NOT NULL,
                action TEXT NOT NULL,
                success BOOLEAN NOT NULL,
                status TEXT NOT NULL,
                alert_id TEXT NOT NULL,
                alias TEXT NOT NULL,
                processed_at BIGINT NOT NULL
            )""",
            "CREATE INDEX opsgenie_requests_at ON opsgenie_requests (processed_at)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def apply(conn: Db, now: datetime, where: str) -> list[str]:
    """Brings the schema of the database behind `conn` (`where`, for messages) up to date,
    in the caller's transaction; returns the migrations applied ("version: name")."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
    )
    current = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0
    refuse_newer(current, where)
    applied: list[str] = []
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        for statement in migration.statements:
            conn.execute(ddl(statement, conn.dialect))
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, to_micros(now)),
        )
        applied.append(f"{migration.version}: {migration.name}")
    return applied  # said by the caller: in the log at start-up, or as `tocsin migrate`'s output


def refuse_newer(version: int, where: str) -> None:
    """A schema from a newer Tocsin cannot be read, or migrated back, by this one."""
    if version > LATEST_VERSION:
        raise FailedPrecondition(
            f"{where} has schema version {version}, newer than this Tocsin knows "
            f"({LATEST_VERSION}); run a newer Tocsin"
        )

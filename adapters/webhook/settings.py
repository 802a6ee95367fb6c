"""Webhooks' settings: the `notifications.webhook` subsection, and the signing secret from
TOCSIN_WEBHOOK_SECRET, either of which turns webhooks on.

Imports nothing of the HTTP client: every command that reads the configuration reads this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.section import Keys, Section
from service.people.webhook_targets import Allowed, WebhookRule, allowed_entry

MIN_WEBHOOK_SECRET = 16
KEYS = Keys(
    ("timeout_seconds", "allow_http", "allow_private"),
    {"secret": "the environment variable TOCSIN_WEBHOOK_SECRET"},
)


@dataclass(frozen=True)
class WebhookSettings:
    secret: str = field(repr=False)
    timeout_seconds: float = 10.0
    allow_http: bool = False  # plain http exposes the signed body; for tests and loopback
    # Networks, addresses and host names pages may reach though they are internal.
    allow_private: tuple[Allowed, ...] = ()

    @property
    def rule(self) -> WebhookRule:
        return WebhookRule(self.allow_http, self.allow_private)


def webhook_settings(section: Section) -> WebhookSettings | None:
    """None when neither the subsection nor the secret is there."""
    secret = section.env.get("TOCSIN_WEBHOOK_SECRET", "")
    if not section.present and not secret:
        return None
    if not secret:
        section.fail("secret", "required to sign webhooks: set TOCSIN_WEBHOOK_SECRET")
    if len(secret) < MIN_WEBHOOK_SECRET:
        section.fail(
            "secret",
            f"TOCSIN_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET} characters",
            "environment variable TOCSIN_WEBHOOK_SECRET",
        )
    return WebhookSettings(
        secret=secret,
        timeout_seconds=section.seconds("timeout_seconds", WebhookSettings.timeout_seconds),
        allow_http=section.flag("allow_http", False),
        allow_private=_allowed(section),
    )


def _allowed(section: Section) -> tuple[Allowed, ...]:
    """`allow_private`: a list in the file; in TOCSIN_WEBHOOK_ALLOW_PRIVATE, separated by
    commas."""
    found = section.raw("allow_private")
    if found is None:
        return ()
    value, source = found
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        section.fail(
            "allow_private", "must be a list of networks (10.0.0.0/8), addresses or hosts", source
        )
    entries = []
    for entry in value:
        try:
            entries.append(allowed_entry(entry))
        except ValueError as exc:
            section.fail("allow_private", str(exc), source)
    return tuple(entries)

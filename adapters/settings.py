"""Provider settings: the `notifications:` section of the config file, and the notifiers built
from it.

Each provider has a subsection (`smtp`, `twilio`, `fcm`, `webhook`); every non-secret key can
be overridden by `TOCSIN_<PROVIDER>_<KEY>` (`TOCSIN_SMTP_HOST`). Secrets come only from the
environment (`TOCSIN_SMTP_PASSWORD`, `TOCSIN_TWILIO_AUTH_TOKEN`, `TOCSIN_WEBHOOK_SECRET`) or,
for FCM, from a credentials file; one written into the file is refused, so it never ends up
in a repository. A provider is used when its subsection is present (or one of its variables is
set); a channel without one pages through the console.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar, runtime_checkable

from adapters.section import Keys, Section
from adapters.twilio import settings as twilio
from adapters.twilio.settings import TwilioSettings, twilio_settings
from service.core.errors import ConfigError
from service.people.model import Channel
from service.people.webhook_targets import Allowed, WebhookRule, allowed_entry

if TYPE_CHECKING:
    from adapters.webhook import WebhookNotifier
    from service.core.clock import Clock
    from service.paging.notifier import Notifier

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
FCM_API = "https://fcm.googleapis.com"
MIN_WEBHOOK_SECRET = 16


@dataclass(frozen=True)
class EmailSettings:
    host: str
    from_address: str
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class FcmSettings:
    project_id: str
    credentials_file: Path  # a service-account JSON file
    base_url: str = FCM_API
    timeout_seconds: float = 15.0


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


@dataclass(frozen=True)
class NotifySettings:
    """Configured providers; None: that provider is not set up."""

    email: EmailSettings | None = None
    twilio: TwilioSettings | None = None
    fcm: FcmSettings | None = None
    webhook: WebhookSettings | None = None

    @property
    def webhook_rule(self) -> WebhookRule:
        """Where webhook contacts may point: the strictest rule without a webhook section."""
        return WebhookRule() if self.webhook is None else self.webhook.rule


# Known keys per provider; the secret ones map to where the secret must come from instead.
_KEYS: dict[str, Keys] = {
    "smtp": Keys(
        ("host", "port", "security", "username", "from_address", "timeout_seconds"),
        {"password": "the environment variable TOCSIN_SMTP_PASSWORD"},
    ),
    "twilio": twilio.KEYS,
    "fcm": Keys(
        ("project_id", "credentials_file", "base_url", "timeout_seconds"),
        {
            key: "credentials_file or the environment variable GOOGLE_APPLICATION_CREDENTIALS"
            for key in ("credentials", "private_key", "service_account")
        },
    ),
    "webhook": Keys(
        ("timeout_seconds", "allow_http", "allow_private"),
        {"secret": "the environment variable TOCSIN_WEBHOOK_SECRET"},
    ),
}


def settings_from(
    mapping: Mapping[str, Any] | None,
    env: Mapping[str, str],
    *,
    source: str = "",
    public_url: str = "",
    sends_pages: bool = True,
) -> NotifySettings:
    """Reads the `notifications:` section (`mapping`, None when absent) and the environment.

    `source` names the file in error messages; `public_url` is the default for Twilio's
    `callback_base_url`, as both are where the HTTP edge is reached from outside. Without
    `sends_pages` (`tocsin shim`, which reads the servers' file but pages nobody) the section
    is still checked key by key, and only Twilio is built, whose auth token verifies its
    callbacks: the SMTP, FCM and webhook secrets are the senders' alone.
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        _fail("notifications", "must be a mapping of provider names to settings", source)
    for name in mapping:
        if name not in _KEYS:
            known = ", ".join(_KEYS)
            _fail(f"notifications.{name}", f"unknown provider; known: {known}", source)
    sections = {
        name: Section(name, keys, mapping.get(name), name in mapping, env, source)
        for name, keys in _KEYS.items()
    }
    if not sends_pages:
        return NotifySettings(twilio=twilio_settings(sections["twilio"], public_url))
    return NotifySettings(
        email=_email(sections["smtp"]),
        twilio=twilio_settings(sections["twilio"], public_url),
        fcm=_fcm(sections["fcm"], env),
        webhook=_webhook(sections["webhook"]),
    )


@dataclass(frozen=True)
class Notifiers:
    """One notifier per channel, and the webhook notifier (None without a signing secret)."""

    by_channel: Mapping[Channel, Notifier]
    webhook: WebhookNotifier | None = None

    async def close(self) -> None:
        """Releases the providers' connection pools and SDK apps."""
        for notifier in self.by_channel.values():
            if isinstance(notifier, _Closable):
                await notifier.close()


def notifiers(
    settings: NotifySettings,
    clock: Clock,
    longest_call: float | None = None,
) -> Notifiers:
    """The configured provider for each channel, else the console. `clock` dates emails and
    webhook signatures (webhooks go over a session of their own, which `close` ends).
    `longest_call` caps every provider's own timeout: the SDKs that block run in threads,
    which go on after the caller stops waiting, so only their own timeout ends a call for
    good."""
    if longest_call is not None:
        settings = NotifySettings(
            email=_capped(settings.email, longest_call),
            twilio=_capped(settings.twilio, longest_call),
            fcm=_capped(settings.fcm, longest_call),
            webhook=_capped(settings.webhook, longest_call),
        )
    # Imported here, not above: the provider SDKs take a third of a second to import, and
    # every CLI command reads the configuration that this module parses.
    from adapters.console import ConsoleNotifier
    from adapters.email import EmailNotifier
    from adapters.fcm import FcmNotifier
    from adapters.twilio.sms import TwilioSmsNotifier
    from adapters.twilio.voice import TwilioVoiceNotifier
    from adapters.webhook import WebhookNotifier

    console = ConsoleNotifier()
    by_channel: dict[Channel, Notifier] = {channel: console for channel in Channel}
    if settings.email is not None:
        by_channel[Channel.EMAIL] = EmailNotifier(settings.email, clock)
    if settings.twilio is not None and settings.twilio.sms_from:
        by_channel[Channel.SMS] = TwilioSmsNotifier(settings.twilio)
    if settings.twilio is not None and settings.twilio.voice_from:
        by_channel[Channel.VOICE] = TwilioVoiceNotifier(settings.twilio)
    if settings.fcm is not None:
        by_channel[Channel.PUSH] = FcmNotifier(settings.fcm)
    webhook = None
    if settings.webhook is not None:
        webhook = WebhookNotifier(settings.webhook, clock)
        by_channel[Channel.WEBHOOK] = webhook
    return Notifiers(by_channel, webhook)


_Timed = TypeVar("_Timed", EmailSettings, TwilioSettings, FcmSettings, WebhookSettings)


def _capped(section: _Timed | None, seconds: float) -> _Timed | None:
    if section is None or section.timeout_seconds <= seconds:
        return section
    return dataclasses.replace(section, timeout_seconds=seconds)


@runtime_checkable
class _Closable(Protocol):
    async def close(self) -> None: ...


def _email(section: Section) -> EmailSettings | None:
    if not section.present:
        return None
    host = section.text("host")
    if not host:
        section.fail("host", "required: the SMTP server's host name")
    security = section.text("security", "starttls").lower()
    if security not in SECURITY_MODES:
        section.fail("security", f"must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
    from_address = section.text("from_address")
    if not from_address:
        section.fail("from_address", "required: the address pages are sent from")
    _, bare = parseaddr(from_address)
    try:
        Address(addr_spec=bare)
    except (ValueError, IndexError):
        section.fail("from_address", f"must be an email address, not {from_address!r}")
    if "@" not in bare:
        section.fail("from_address", f"must be an email address, not {from_address!r}")
    username = section.text("username")
    password = section.env.get("TOCSIN_SMTP_PASSWORD", "")
    if username and not password:
        section.fail("password", "required with a username: set TOCSIN_SMTP_PASSWORD")
    if password and not username:
        section.fail("username", "required when TOCSIN_SMTP_PASSWORD is set")
    return EmailSettings(
        host=host,
        from_address=from_address,
        port=section.port("port", DEFAULT_SMTP_PORTS[security]),
        security=security,
        username=username,
        password=password,
        timeout_seconds=section.seconds("timeout_seconds", EmailSettings.timeout_seconds),
    )


def _fcm(section: Section, env: Mapping[str, str]) -> FcmSettings | None:
    if not section.present:
        return None
    path, source = section.text("credentials_file"), None
    if not path and env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        path = env["GOOGLE_APPLICATION_CREDENTIALS"]
        source = "environment variable GOOGLE_APPLICATION_CREDENTIALS"
    if not path:
        section.fail(
            "credentials_file",
            "required: a service-account JSON file (or set GOOGLE_APPLICATION_CREDENTIALS)",
        )
    account = _service_account(section, Path(path), source)
    project_id = section.text("project_id") or str(account.get("project_id", ""))
    if not project_id:
        section.fail("project_id", "required: the Firebase project (not in the credentials file)")
    return FcmSettings(
        project_id=project_id,
        credentials_file=Path(path),
        base_url=section.url("base_url", FCM_API),
        timeout_seconds=section.seconds("timeout_seconds", FcmSettings.timeout_seconds),
    )


def _service_account(section: Section, path: Path, source: str | None) -> dict[str, Any]:
    """Checks the file now, so a bad one stops start-up rather than the first page."""
    try:
        account = json.loads(path.read_text())
    except OSError as exc:
        section.fail("credentials_file", f"cannot read {path}: {exc.strerror}", source)
    except ValueError:
        section.fail("credentials_file", f"{path} is not a JSON file", source)
    if not isinstance(account, dict) or account.get("type") != "service_account":
        section.fail("credentials_file", f"{path} is not a service-account key file", source)
    for needed in ("private_key", "client_email", "token_uri"):
        if not account.get(needed):
            section.fail("credentials_file", f"{path} has no {needed}", source)
    return account


def _webhook(section: Section) -> WebhookSettings | None:
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


def _fail(key: str, problem: str, source: str) -> NoReturn:
    raise ConfigError(key, problem, source)

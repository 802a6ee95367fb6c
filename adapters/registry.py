"""Every provider in one place: the `notifications:` section of the config file, read through
each channel's own settings, and the notifiers built from it. Nothing else imports them all.

Each provider has a subsection (`smtp`, `twilio`, `fcm`, `webhook`); every non-secret key can
be overridden by `TOCSIN_<PROVIDER>_<KEY>` (`TOCSIN_SMTP_HOST`). Secrets come only from the
environment (`TOCSIN_SMTP_PASSWORD`, `TOCSIN_TWILIO_AUTH_TOKEN`, `TOCSIN_WEBHOOK_SECRET`) or,
for FCM, from a credentials file; one written into the file is refused, so it never ends up
in a repository. A provider is used when its subsection is present (or one of its variables is
set); a channel without one pages through the console.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from adapters.email.settings import KEYS as SMTP_KEYS
from adapters.email.settings import EmailSettings, email_settings
from adapters.fcm.settings import KEYS as FCM_KEYS
from adapters.fcm.settings import FcmSettings, fcm_settings
from adapters.section import Keys, Section
from adapters.twilio.settings import KEYS as TWILIO_KEYS
from adapters.twilio.settings import TwilioSettings, twilio_settings
from adapters.webhook.settings import KEYS as WEBHOOK_KEYS
from adapters.webhook.settings import WebhookSettings, webhook_settings
from service.core.errors import ConfigError
from service.people.model import Channel
from service.people.webhook_targets import WebhookRule

if TYPE_CHECKING:
    from adapters.webhook.notifier import WebhookNotifier
    from service.core.clock import Clock
    from service.paging.notifier import Notifier


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


# Each provider's subsection, and the keys it may hold.
_KEYS: dict[str, Keys] = {
    "smtp": SMTP_KEYS,
    "twilio": TWILIO_KEYS,
    "fcm": FCM_KEYS,
    "webhook": WEBHOOK_KEYS,
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
        raise ConfigError(
            "notifications", "must be a mapping of provider names to settings", source
        )
    for name in mapping:
        if name not in _KEYS:
            known = ", ".join(_KEYS)
            raise ConfigError(f"notifications.{name}", f"unknown provider; known: {known}", source)
    sections = {
        name: Section(name, keys, mapping.get(name), name in mapping, env, source)
        for name, keys in _KEYS.items()
    }
    if not sends_pages:
        return NotifySettings(twilio=twilio_settings(sections["twilio"], public_url))
    return NotifySettings(
        email=email_settings(sections["smtp"]),
        twilio=twilio_settings(sections["twilio"], public_url),
        fcm=fcm_settings(sections["fcm"]),
        webhook=webhook_settings(sections["webhook"]),
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
    from adapters.email.notifier import EmailNotifier
    from adapters.fcm.notifier import FcmNotifier
    from adapters.twilio.sms import TwilioSmsNotifier
    from adapters.twilio.voice import TwilioVoiceNotifier
    from adapters.webhook.notifier import WebhookNotifier

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

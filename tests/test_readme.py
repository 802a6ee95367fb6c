"""What the README promises about limits and formats, checked against the code that sets them,
so that a change to one without the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.email.settings import DEFAULT_SMTP_PORTS, SECURITY_MODES
from adapters.twilio.voice import VOICE_PATH
from adapters.webhook.settings import MIN_WEBHOOK_SECRET
from service.oncall.usecases import OVERRIDE_MAX
from service.people.usecases import DELAY_MAX_MINUTES

README = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())


def test_provider_settings_are_documented_as_the_code_reads_them() -> None:
    assert f"`TOCSIN_WEBHOOK_SECRET` must be at least {MIN_WEBHOOK_SECRET} characters" in README
    modes = re.search(r"SMTP's `security` is (.*?)\. A channel", README)
    assert modes is not None
    for mode in SECURITY_MODES:
        assert f"`{mode}`" in modes[1] and f"port {DEFAULT_SMTP_PORTS[mode]}" in modes[1]
    assert "for FCM, `base_url` carries only the sends to `fcm.googleapis.com`" in README


def test_schedule_rules_are_documented() -> None:
    assert OVERRIDE_MAX.days in (365, 366)
    assert "An override starts at most a year ahead and lasts at most a year" in README
    assert "A schedule-wide override beats a rotation-limited one" in README
    assert "A window includes its start and excludes its end" in README
    assert "`GET /v1/ical/{schedule_id}/{secret}.ics" in README


def test_paging_rules_are_documented() -> None:
    assert f"`POST {VOICE_PATH}?alert=ALERT_ID&key=PAGE_KEY`" in README
    assert f"(whole minutes, 0 to {DELAY_MAX_MINUTES})" in README
    assert "The M minutes count from the last rule (its delay), not from the alert" in README
    assert "With `--close-after-last`, the alert (if still open) is closed M minutes" in README

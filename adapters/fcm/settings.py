"""FCM's settings: the `notifications.fcm` subsection. The credentials are a service-account
file, named here or by GOOGLE_APPLICATION_CREDENTIALS, and checked when the file is read.

Imports nothing of firebase-admin: every command that reads the configuration reads this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.section import Keys, Section

FCM_API = "https://fcm.googleapis.com"
KEYS = Keys(
    ("project_id", "credentials_file", "base_url", "timeout_seconds"),
    {
        key: "credentials_file or the environment variable GOOGLE_APPLICATION_CREDENTIALS"
        for key in ("credentials", "private_key", "service_account")
    },
)


@dataclass(frozen=True)
class FcmSettings:
    project_id: str
    credentials_file: Path  # a service-account JSON file
    base_url: str = FCM_API
    timeout_seconds: float = 15.0


def fcm_settings(section: Section) -> FcmSettings | None:
    """None when the subsection is absent."""
    if not section.present:
        return None
    path, source = section.text("credentials_file"), None
    if not path and section.env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        path = section.env["GOOGLE_APPLICATION_CREDENTIALS"]
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

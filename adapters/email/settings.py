"""Email's settings: the `notifications.smtp` subsection. The password comes only from
TOCSIN_SMTP_PASSWORD.

Imports nothing of the SMTP client: every command that reads the configuration reads this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr

from adapters.section import Keys, Section

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
KEYS = Keys(
    ("host", "port", "security", "username", "from_address", "timeout_seconds"),
    {"password": "the environment variable TOCSIN_SMTP_PASSWORD"},
)


@dataclass(frozen=True)
class EmailSettings:
    host: str
    from_address: str
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 30.0


def email_settings(section: Section) -> EmailSettings | None:
    """None when the subsection is absent."""
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

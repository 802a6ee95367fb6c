"""Email pages over SMTP (aiosmtplib): a plain-text and an HTML part, with a one-click
acknowledge link when the service has a public URL.

The Message-ID is derived from the page's ledger key, so a page sent again after a crash is
recognisably the same message (and mail systems that deduplicate on it drop the copy); the
References header threads every page of one alert together in the recipient's mail client.
"""

from __future__ import annotations

import hashlib
import html
import re
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

import aiosmtplib

from service.core.clock import Clock
from service.paging.notifier import Notification, Outcome, SendResult

if TYPE_CHECKING:
    from adapters.email.settings import EmailSettings

_SUBJECT_MAX = 200


class EmailNotifier:
    def __init__(self, settings: EmailSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock

    async def send(self, page: Notification) -> SendResult:
        s = self._settings
        message = email_message(page, s.from_address, self._clock.now())
        try:
            _, reply = await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password or None,
                use_tls=s.security == "ssl",
                # None would mean "STARTTLS if offered": starttls insists, none never tries.
                start_tls=s.security == "starttls",
                timeout=s.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return _refused(refused.code, f"recipient refused: {refused.message}")
        except aiosmtplib.SMTPResponseException as exc:
            return _refused(exc.code, exc.message)
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
            OSError,
        ) as exc:
            certificate = _certificate_error(exc)
            if certificate is not None:
                # An untrusted certificate stays untrusted until someone changes a setting.
                detail = f"SMTP {s.host}:{s.port}: certificate refused: {certificate}"
                return SendResult(Outcome.PERMANENT, detail=detail)
            # Refused connections, timeouts, disconnects: the server may be back soon.
            return SendResult(Outcome.RETRYABLE, detail=f"SMTP {s.host}:{s.port}: {exc}")
        except aiosmtplib.SMTPException as exc:
            # What is left is the server lacking what the settings ask for (STARTTLS, AUTH):
            # no retry changes that, only the settings can.
            return SendResult(Outcome.PERMANENT, detail=f"SMTP {s.host}:{s.port}: {exc}")
        return SendResult(Outcome.DELIVERED, provider_id=str(message["Message-ID"]), detail=reply)


def _certificate_error(exc: BaseException | None) -> str | None:
    """Why the server's certificate was refused, if that is what `exc` comes down to
    (aiosmtplib wraps it in a connection error on implicit TLS)."""
    while exc is not None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return str(exc.verify_message or exc.reason)
        exc = exc.__cause__
    return None


def _refused(code: int, text: str) -> SendResult:
    """5xx replies are final; 4xx (and anything odd) are the server asking to try later."""
    outcome = Outcome.PERMANENT if 500 <= code < 600 else Outcome.RETRYABLE
    return SendResult(outcome, detail=f"SMTP {code}: {text}")


def email_message(page: Notification, from_address: str, now: datetime) -> EmailMessage:
    """The page as a multipart/alternative message, plain text first."""
    domain = _domain(from_address)
    message = EmailMessage()
    message["Subject"] = subject(page)
    message["From"] = from_address
    message["To"] = page.address
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<page.{_digest(page.key)}@{domain}>"
    message["References"] = f"<alert.{_digest(page.alert_id)}@{domain}>"
    message["X-Tocsin-Alert"] = page.alert_id
    message["X-Tocsin-Priority"] = page.priority
    # Keep vacation responders and Exchange auto-replies from answering an alert.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(_text_body(page))
    message.add_alternative(_html_body(page), subtype="html")
    return message


def subject(page: Notification) -> str:
    """`[P1] #12 Disk full on db-1`, on one line."""
    text = f"[{page.priority}] #{page.tiny_id} {_one_line(page.message)}"
    return text if len(text) <= _SUBJECT_MAX else text[: _SUBJECT_MAX - 1].rstrip() + "…"


def _facts(page: Notification) -> list[tuple[str, str]]:
    facts = [
        ("Priority", page.priority),
        ("Alert", f"#{page.tiny_id}"),
        ("Team", page.team),
        ("Status", page.status),
        ("Source", page.source),
        ("Entity", page.entity),
        ("Tags", ", ".join(page.tags)),
        ("Created", page.created_at.isoformat() if page.created_at else ""),
    ]
    return [(name, value) for name, value in facts if value]


def _text_body(page: Notification) -> str:
    lines = [page.message, ""]
    lines += [f"{name}: {value}" for name, value in _facts(page)]
    if page.description:
        lines += ["", "Description:", page.description]
    if page.details:
        lines += ["", "Details:"]
        lines += [f"  {key}: {value}" for key, value in page.details.items()]
    if page.ack_url:
        lines += ["", f"Acknowledge: {page.ack_url}"]
    lines += ["", f"Alert id: {page.alert_id}"]
    return "\n".join(lines) + "\n"


def _html_body(page: Notification) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left' style='padding-right:1em'>{e(name)}</th><td>{e(value)}</td></tr>"
        for name, value in _facts(page)
    )
    parts = [f"<h2 style='margin:0 0 .5em'>{e(page.message)}</h2>"]
    if page.ack_url:
        parts.append(
            f"<p><a href='{e(page.ack_url)}' style='display:inline-block;padding:.6em 1.2em;"
            "background:#c0392b;color:#fff;text-decoration:none;border-radius:4px'>"
            "Acknowledge</a></p>"
        )
    parts.append(f"<table>{rows}</table>")
    if page.description:
        parts.append(
            f"<h3>Description</h3><pre style='white-space:pre-wrap'>{e(page.description)}</pre>"
        )
    if page.details:
        detail_rows = "".join(
            f"<tr><th align='left' style='padding-right:1em'>{e(k)}</th><td>{e(v)}</td></tr>"
            for k, v in page.details.items()
        )
        parts.append(f"<h3>Details</h3><table>{detail_rows}</table>")
    parts.append(f"<p style='color:#888'>Alert id: {e(page.alert_id)}</p>")
    return "<!DOCTYPE html><html><body>" + "".join(parts) + "</body></html>\n"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _digest(value: str) -> str:
    # Keys hold characters a Message-ID may not; a digest is stable and always valid.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _domain(from_address: str) -> str:
    _, bare = parseaddr(from_address)
    domain = bare.rpartition("@")[2]
    return domain or "tocsin.invalid"

"""Signed links: a page's one-click acknowledge URL carries a token saying what it may do,
to which alert, as whom and until when, signed with the service's link secret.

The token is `payload.signature`, both URL-safe base64 without padding: the payload is a
JSON list (action, alert id, user id, expiry in Unix seconds) and the signature an
HMAC-SHA256 of the encoded payload. Checking is strict: any other shape, a signature that
does not match, another purpose or a passed expiry is refused with the reason. Making and
checking are pure; only `ensure_secret` touches the disk.

The secret is `TOCSIN_LINK_SECRET` when set (replicas must share one, so a link one makes
another accepts), else 32 random bytes kept in the data directory, made on first start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.core.errors import PermissionDenied, StartupError
from service.tokens.usecases import write_private

ACKNOWLEDGE = "acknowledge"
LIFETIME = timedelta(hours=24)
LINK_PATH = "/v1/links"
SECRET_FILE = "link-secret"
SECRET_ENV = "TOCSIN_LINK_SECRET"
SECRET_BYTES = 32
SECRET_ENV_MIN = 32  # characters: a passphrase any shorter is guessable offline
TOKEN_MAX = 1024  # far above any real token; bounds the work a junk one costs
# Signed along with the payload, so a token of another of Tocsin's HMAC uses never passes.
_DOMAIN = b"tocsin-link-v1\x00"
_PART = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Claim:
    """What a token allows: `action` on one alert, as one user, until `expires_at`."""

    action: str
    alert_id: str
    user_id: str
    expires_at: datetime


class LinkRefused(PermissionDenied):
    """The link cannot be used; the message says why, in words for the person holding it."""


def sign(secret: bytes, claim: Claim) -> str:
    expires = int(claim.expires_at.timestamp())
    payload = json.dumps(
        [claim.action, claim.alert_id, claim.user_id, expires], separators=(",", ":")
    )
    encoded = _encode(payload.encode())
    return f"{encoded}.{_signature(secret, encoded)}"


def verify(secret: bytes, token: str, action: str, now: datetime) -> Claim:
    """The token's claim, if it is well formed, signed with `secret`, for `action` and not
    expired by `now`; otherwise `LinkRefused`."""
    damaged = LinkRefused("this link is damaged or was not made by this Tocsin")
    if len(token) > TOKEN_MAX or token.count(".") != 1:
        raise damaged
    encoded, signature = token.split(".")
    if not (_PART.fullmatch(encoded) and _PART.fullmatch(signature)):
        raise damaged
    if not hmac.compare_digest(signature, _signature(secret, encoded)):
        raise damaged
    try:
        fields = json.loads(_decode(encoded))
    except (ValueError, binascii.Error):
        raise damaged from None
    if not (
        isinstance(fields, list)
        and len(fields) == 4
        and all(isinstance(f, str) for f in fields[:3])
        and isinstance(fields[3], int)
        and not isinstance(fields[3], bool)
    ):
        raise damaged
    try:
        expires_at = datetime.fromtimestamp(fields[3], UTC)
    except (OverflowError, ValueError, OSError):
        raise damaged from None
    claim = Claim(fields[0], fields[1], fields[2], expires_at)
    if claim.action != action:
        raise LinkRefused(f"this link is for something else ({claim.action}), not to {action}")
    if now >= claim.expires_at:
        raise LinkRefused("this link has expired")
    return claim


def digest(token: str) -> str:
    """What is kept of a used token: enough to know it again, useless to anyone reading it."""
    return hashlib.sha256(token.encode()).hexdigest()


def url(base_url: str, secret: bytes, alert_id: str, user_id: str, now: datetime) -> str:
    """The acknowledge link of a page to `user_id` about `alert_id`, made `now`."""
    token = sign(secret, Claim(ACKNOWLEDGE, alert_id, user_id, now + LIFETIME))
    return f"{base_url.rstrip('/')}{LINK_PATH}/{token}"


def ensure_secret(data_dir: Path, environ: Mapping[str, str]) -> bytes:
    """The link secret: from the environment, else the data directory's, made if missing."""
    shared = environ.get(SECRET_ENV, "")
    if shared:
        if len(shared.strip()) < SECRET_ENV_MIN:
            raise StartupError(
                f"{SECRET_ENV} must be at least {SECRET_ENV_MIN} characters "
                "(e.g. the output of `openssl rand -base64 32`)"
            )
        return shared.strip().encode()
    path = data_dir / SECRET_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise StartupError(f"cannot read the link secret {path}: {exc.strerror}") from exc
    if not text:
        text = secrets.token_urlsafe(SECRET_BYTES)
        try:
            write_private(path, text + "\n")
        except OSError as exc:
            raise StartupError(f"cannot write the link secret {path}: {exc.strerror}") from exc
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        key = b""
    if len(key) < SECRET_BYTES:
        raise StartupError(
            f"{path} does not hold a link secret of {SECRET_BYTES} bytes; delete it to make "
            "a new one (links already sent stop working)"
        )
    return key


def _signature(secret: bytes, encoded: str) -> str:
    return _encode(hmac.new(secret, _DOMAIN + encoded.encode(), hashlib.sha256).digest())


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""Verifying an SNS message's signature: the exact string SNS signed, the certificate's URL
checked part by part, and RSA with SHA-1 (SignatureVersion 1) or SHA-256 (version 2).

Pure functions: fetching the certificate is the caller's business, and only from the URL that
`signing_cert_url` builds, never from the one in the message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from edge.sns.message import SnsMessage, forged
from service.ingest.model import SnsType

# The fields SNS signs, in the order it signs them; Subject only when the message has one.
_SIGNED_KEYS = {
    SnsType.NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SnsType.SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_KEYS[SnsType.UNSUBSCRIBE_CONFIRMATION] = _SIGNED_KEYS[SnsType.SUBSCRIPTION_CONFIRMATION]
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]+\.pem")


def string_to_sign(message: SnsMessage) -> bytes:
    lines = []
    for key in _SIGNED_KEYS[message.type]:
        value = message.fields.get(key)
        if value is not None:
            lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode()


def signing_cert_url(message: SnsMessage) -> str:
    """The certificate URL, rebuilt from parts checked against the signed topic's region.

    Only https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem passes:
    no user, port, query or fragment, and the host exactly as the TopicArn's region and
    partition make it (so no look-alike, suffix, trailing-dot or other-service host).
    """
    given = message.fields["SigningCertURL"]
    try:
        parts = urlsplit(given)
        port = parts.port
    except ValueError:
        raise forged("SigningCertURL is not a URL") from None
    expected_host = message.topic.sns_host
    if parts.scheme != "https":
        raise forged("SigningCertURL must use https")
    if "@" in parts.netloc or port is not None or parts.netloc != expected_host:
        raise forged(f"SigningCertURL must be on {expected_host} for this topic")
    if "?" in given or "#" in given or parts.query or parts.fragment:
        raise forged("SigningCertURL must have no query or fragment")
    if not _CERT_PATH.fullmatch(parts.path):
        raise forged("SigningCertURL is not an SNS signing certificate path")
    return f"https://{expected_host}{parts.path}"


def check_version(message: SnsMessage, minimum: int) -> None:
    version = message.signature_version
    if version not in _HASHES:
        raise forged(f"SignatureVersion {version[:10]!r} is not supported")
    if int(version) < minimum:
        raise forged(f"SignatureVersion {version} is below the minimum {minimum} accepted here")


def verify(message: SnsMessage, certificate_pem: bytes, now: datetime, minimum: int = 1) -> None:
    """Raises `SnsDeliveryError` (403) unless `certificate_pem`, valid at `now`, signed it."""
    check_version(message, minimum)
    try:
        signature = base64.b64decode(message.fields["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise forged("Signature is not base64") from None
    key = certificate_key(certificate_pem, now)
    try:
        key.verify(
            signature,
            string_to_sign(message),
            padding.PKCS1v15(),
            _HASHES[message.signature_version](),
        )
    except InvalidSignature:
        raise forged("the signature does not match the message") from None


@dataclass(frozen=True)
class _Certificate:
    count: int  # certificates in the file: exactly one is acceptable
    not_before: datetime
    not_after: datetime
    key: rsa.RSAPublicKey | None  # None unless RSA


@functools.lru_cache(maxsize=32)
def _parsed(certificate_pem: bytes) -> _Certificate:
    """Parsing and loading the key are the slow part of verifying, and SNS signs with a
    handful of certificates: remember the last few (a pure function of the bytes, so nothing
    can go stale; validity is still checked against `now` on every use)."""
    certificates = x509.load_pem_x509_certificates(certificate_pem)
    first = certificates[0]
    key = first.public_key()
    return _Certificate(
        count=len(certificates),
        not_before=first.not_valid_before_utc,
        not_after=first.not_valid_after_utc,
        key=key if isinstance(key, rsa.RSAPublicKey) else None,
    )


def certificate_key(certificate_pem: bytes, now: datetime) -> rsa.RSAPublicKey:
    """The RSA key of the one certificate in `certificate_pem`, if it is valid at `now`."""
    try:
        certificate = _parsed(certificate_pem)
    except ValueError:
        raise forged("the signing certificate is not a PEM X.509 certificate") from None
    if certificate.count != 1:
        raise forged("the signing certificate file must hold exactly one certificate")
    if not certificate.not_before <= now <= certificate.not_after:
        raise forged("the signing certificate is not valid now")
    if certificate.key is None:
        raise forged("the signing certificate's key is not RSA")
    return certificate.key

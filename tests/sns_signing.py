"""SNS deliveries as AWS would sign them, signed here with a key and certificate made here."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "aws"  # AWS sample payloads
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"


def certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    valid_from: datetime = NOW - timedelta(days=1),
    valid_until: datetime = NOW + timedelta(days=30),
) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CERT = certificate(KEY)


def expected_string_to_sign(fields: dict[str, str]) -> bytes:
    """Written out from AWS's documentation, independently of the code under test."""
    if fields["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{fields[k]}\n" for k in keys if k in fields).encode()


def signed(
    fields: dict[str, str], version: str = "2", key: rsa.RSAPrivateKey = KEY
) -> dict[str, str]:
    fields = {**fields, "SignatureVersion": version, "SigningCertURL": CERT_URL}
    fields.pop("Signature", None)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(expected_string_to_sign(fields), padding.PKCS1v15(), digest)
    return {**fields, "Signature": base64.b64encode(signature).decode()}


SENT = NOW - timedelta(seconds=29, milliseconds=877)  # 08:59:30.123, with milliseconds as SNS


def fixture(name: str, sent: datetime = SENT) -> dict[str, str]:
    """An AWS sample payload, as if SNS had sent it at `sent` (default: just before NOW)."""
    data: dict[str, str] = json.loads((FIXTURES / name).read_text())
    stamp = sent.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{sent.microsecond // 1000:03d}Z"
    return {**data, "Timestamp": stamp}


def without(fields: dict[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k != key}


def body(fields: Mapping[str, object]) -> bytes:
    return json.dumps(fields).encode()

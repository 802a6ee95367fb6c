"""SNS envelope parsing and signature verification, with AWS's sample payloads signed by a key
made here, and an attack suite: everything forged, tampered or malformed is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from multidict import CIMultiDict

from edge.sns import message as sns_message
from edge.sns import signature as sns_signature
from edge.sns.message import SnsDeliveryError
from service.ingest.model import SnsType
from tests.sns_signing import (
    CERT,
    CERT_URL,
    FIXTURES,
    KEY,
    NOW,
    body,
    certificate,
    expected_string_to_sign,
    fixture,
    signed,
    without,
)

SAMPLES = [
    "01-subscription-confirmation.body.json",
    "02-notification-with-subject.body.json",
    "03-unsubscribe-confirmation.body.json",
]


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("version", ["1", "2"])
def test_aws_samples_signed_here_verify(name: str, version: str) -> None:
    message = sns_message.parse(body(signed(fixture(name), version)))
    assert message.topic.region == "us-west-2"
    assert sns_signature.signing_cert_url(message) == CERT_URL
    sns_signature.verify(message, CERT, NOW)
    sns_message.check_fresh(message, NOW)


def test_the_string_to_sign_matches_the_documented_one() -> None:
    for name in SAMPLES:
        fields = signed(fixture(name))
        message = sns_message.parse(body(fields))
        assert sns_signature.string_to_sign(message) == expected_string_to_sign(fields)


def test_parsed_fields_are_exact() -> None:
    message = sns_message.parse(body(signed(fixture("02-notification-with-subject.body.json"))))
    assert message.type is SnsType.NOTIFICATION
    assert (message.subject, message.message) == ("My First Message", "Hello world!")
    assert message.message_id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert message.timestamp == datetime(2026, 3, 1, 8, 59, 30, 123000, tzinfo=UTC)
    assert message.topic.name == "MyTopic" and message.topic.account == "123456789012"


def _refused(status: int, words: str, action: Callable[[], object]) -> None:
    with pytest.raises(SnsDeliveryError) as caught:
        action()
    assert caught.value.status == status
    assert words in caught.value.reason


def _verify(fields: dict[str, str], certificate: bytes = CERT, minimum: int = 1) -> None:
    message = sns_message.parse(body(fields))
    sns_signature.signing_cert_url(message)
    sns_signature.verify(message, certificate, NOW, minimum)


NOTICE = "02-notification-with-subject.body.json"


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (lambda f: {**f, "Message": "Hello world?"}, "does not match"),
        (lambda f: {**f, "Subject": "Other subject"}, "does not match"),
        (lambda f: without(f, "Subject"), "does not match"),
        (lambda f: {**f, "TopicArn": "arn:aws:sns:us-west-2:123456789012:Other"}, "does not match"),
        (lambda f: {**f, "MessageId": "another-id"}, "does not match"),
        (lambda f: {**f, "Timestamp": "2026-03-01T08:59:31.123Z"}, "does not match"),
        (lambda f: {**f, "Signature": "not base64!"}, "not base64"),
        (lambda f: {**f, "Signature": f["Signature"][:-4]}, "does not match"),
        (lambda f: {**f, "Signature": f["Signature"][:-1]}, "not base64"),
        (lambda f: {**f, "SignatureVersion": "3"}, "not supported"),
    ],
)
def test_tampered_messages_are_forged(
    tamper: Callable[[dict[str, str]], dict[str, str]], words: str
) -> None:
    _refused(403, words, lambda: _verify(tamper(signed(fixture(NOTICE)))))


def test_a_signature_by_another_key_is_forged() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _refused(403, "does not match", lambda: _verify(signed(fixture(NOTICE), key=other)))


def test_a_version_1_signature_is_refused_where_2_is_required() -> None:
    fields = signed(fixture(NOTICE), version="1")
    _verify(fields)
    _refused(403, "below the minimum 2", lambda: _verify(fields, minimum=2))


@pytest.mark.parametrize(
    ("certificate", "words"),
    [
        (certificate(KEY, NOW - timedelta(days=9), NOW - timedelta(days=2)), "not valid now"),
        (certificate(KEY, NOW + timedelta(days=1)), "not valid now"),
        (certificate(ec.generate_private_key(ec.SECP256R1())), "not RSA"),
        (CERT + CERT, "exactly one certificate"),
        (b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", "not a PEM"),
        (b"", "not a PEM"),
    ],
)
def test_unusable_certificates_are_refused(certificate: bytes, words: str) -> None:
    _refused(403, words, lambda: _verify(signed(fixture(NOTICE)), certificate))


GOOD_PATH = "/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"


@pytest.mark.parametrize(
    "url",
    [
        f"http://sns.us-west-2.amazonaws.com{GOOD_PATH}",
        f"https://sns.us-west-2.amazonaws.com.evil.example{GOOD_PATH}",
        f"https://evil-sns.us-west-2.amazonaws.com{GOOD_PATH}",
        f"https://sns.us-west-2.amazonaws.com.{GOOD_PATH}",
        f"https://SNS.us-west-2.amazonaws.com{GOOD_PATH}",
        f"https://user@sns.us-west-2.amazonaws.com{GOOD_PATH}",
        f"https://sns.us-west-2.amazonaws.com:443{GOOD_PATH}",
        f"https://sns.us-west-2.amazonaws.com:8443{GOOD_PATH}",
        f"https://sns.us-west-2.amazonaws.com{GOOD_PATH}?x=1",
        f"https://sns.us-west-2.amazonaws.com{GOOD_PATH}#x",
        f"https://sns.us-west-2.amazonaws.com{GOOD_PATH}?",
        f"https://sns.us-east-1.amazonaws.com{GOOD_PATH}",
        f"https://s3.us-west-2.amazonaws.com{GOOD_PATH}",
        f"https://sns.us-west-2.amazonaws.com.cn{GOOD_PATH}",
        "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-XYZ.pem",
        "https://sns.us-west-2.amazonaws.com/other/SimpleNotificationService-ab.pem",
        "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-ab.pem/..",
        "https://sns.us-west-2.amazonaws.com\\@evil.example/SimpleNotificationService-ab.pem",
        "https://[::1]/SimpleNotificationService-ab.pem",
        "https://sns.us-west-2.amazonaws.com:bad/SimpleNotificationService-ab.pem",
    ],
)
def test_signing_cert_url_tricks_are_refused(url: str) -> None:
    message = sns_message.parse(body({**signed(fixture(NOTICE)), "SigningCertURL": url}))
    _refused(403, "SigningCertURL", lambda: sns_signature.signing_cert_url(message))


def test_other_partitions_use_their_own_hosts() -> None:
    china = {**fixture(NOTICE), "TopicArn": "arn:aws-cn:sns:cn-north-1:123456789012:T"}
    message = sns_message.parse(
        body({**china, "SigningCertURL": f"https://sns.cn-north-1.amazonaws.com.cn{GOOD_PATH}"})
    )
    assert sns_signature.signing_cert_url(message).startswith(
        "https://sns.cn-north-1.amazonaws.com.cn/"
    )


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"This is a test message.", 400, "raw message delivery"),
        (b"[1, 2]", 400, "no Type"),
        (b'{"Message": "hi"}', 400, "no Type"),
        (b'{"Type": null}', 400, "no Type"),
        (b'{"Type": 5}', 400, "Type must be a string"),
        (b"\xff\xfe", 400, "not an SNS JSON message"),
        (b'{"Type": "Other"}', 400, "unknown message Type"),
        (body({**fixture(NOTICE), "Message": 5}), 400, "Message must be a string"),
        (
            body(without(fixture(NOTICE), "MessageId")),
            400,
            "without MessageId",
        ),
        (body({**fixture(NOTICE), "Signature": ""}), 400, "without Signature"),
        (body({**fixture(NOTICE), "Timestamp": "yesterday"}), 400, "Timestamp"),
        (
            body({**fixture(NOTICE), "Timestamp": "2026-02-30T00:00:00.000Z"}),
            400,
            "not a valid time",
        ),
        (body({**fixture(NOTICE), "TopicArn": "arn:aws:s3:::bucket"}), 400, "TopicArn"),
        (b'{"Type": "Notification", "Type": "Notification"}', 400, "repeats a key"),
        # Past Python's 4,300-digit limit on turning text into an int: not JSON it can read.
        (b'{"Type": ' + b"9" * 5000 + b"}", 400, "not an SNS JSON message"),
        (b"{" + b" " * sns_message.MAX_BODY_BYTES + b"}", 413, "larger than"),
    ],
)
def test_malformed_bodies(raw: bytes, status: int, words: str) -> None:
    _refused(status, words, lambda: sns_message.parse(raw))


def test_a_subject_shifted_into_the_message_id_is_refused() -> None:
    """The string to sign would be the same; the MessageId (and so the dedup key) would not."""
    fields = signed(fixture(NOTICE))
    shifted = {k: v for k, v in fields.items() if k != "Subject"}
    shifted["MessageId"] = f"{fields['MessageId']}\nSubject\n{fields['Subject']}"
    assert expected_string_to_sign(shifted) == expected_string_to_sign(fields)
    _refused(400, "MessageId", lambda: sns_message.parse(body(shifted)))


def test_unsigned_extra_fields_such_as_message_attributes_are_ignored() -> None:
    fields = {**signed(fixture(NOTICE)), "MessageAttributes": {"env": {"Type": "String"}}}
    message = sns_message.parse(body(fields))
    sns_signature.verify(message, CERT, NOW)
    assert "MessageAttributes" not in message.fields


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"Type": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests too deeply"),
        (b'{"Type": "Notification", "Message": "\\ud800"}', "not valid Unicode"),
        (body({**fixture(NOTICE), "Message": "x" * (256 * 1024 + 1)}), "larger than SNS"),
        (body({**fixture(NOTICE), "Subject": "two\nlines"}), "line breaks"),
    ],
)
def test_hostile_bodies_are_400_not_crashes(raw: bytes, words: str) -> None:
    _refused(400, words, lambda: sns_message.parse(raw))


def test_headers_must_agree_with_the_body() -> None:
    message = sns_message.parse(body(signed(fixture(NOTICE))))
    headers = json.loads((FIXTURES / "02-notification-with-subject.headers.json").read_text())
    sns_message.check_headers(message, CIMultiDict(headers["headers"]))
    for header, value in [
        ("X-Amz-Sns-Message-Type", "SubscriptionConfirmation"),
        ("x-amz-sns-message-id", "other"),
        ("x-amz-sns-topic-arn", "arn:aws:sns:us-west-2:123456789012:Other"),
    ]:
        with pytest.raises(SnsDeliveryError, match="does not match") as caught:
            sns_message.check_headers(message, CIMultiDict({header: value}))
        assert caught.value.status == 403
    _refused(
        400,
        "raw message delivery",
        lambda: sns_message.check_headers(message, CIMultiDict({"x-amz-sns-rawdelivery": "true"})),
    )


def test_freshness_window() -> None:
    message = sns_message.parse(body(signed(fixture(NOTICE))))  # dated NOW - 30 s
    sns_message.check_fresh(message, NOW + timedelta(minutes=59))
    sns_message.check_fresh(message, NOW - timedelta(minutes=5))
    _refused(403, "too old", lambda: sns_message.check_fresh(message, NOW + timedelta(minutes=61)))
    _refused(403, "future", lambda: sns_message.check_fresh(message, NOW - timedelta(minutes=6)))

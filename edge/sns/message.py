"""Amazon SNS HTTP(S) deliveries: the envelope, read strictly, and the checks that need no key.

Pure functions of the body, the headers and `now`. Whatever will never be valid raises
`SnsDeliveryError` with the HTTP status SNS's retry rules call for (4xx: SNS does not retry).
The raw field values are kept exactly as sent, because the signature covers them as sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.core.validation import TOPIC_ARN
from service.ingest.model import SNS_MESSAGE_MAX, SnsType

# The envelope around the largest Message: JSON may spell each byte as a six-character escape.
MAX_BODY_BYTES = 6 * SNS_MESSAGE_MAX + 16 * 1024
DEFAULT_MAX_AGE = timedelta(hours=1)
DEFAULT_MAX_AHEAD = timedelta(minutes=5)

# MessageIds are UUIDs in practice; anything else that stays one token will do. What matters is
# that no signed field but Message can hold a line break, or one signed string could be read
# as another message (a Subject shifted into the MessageId, say) with a new MessageId.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")


class SnsDeliveryError(Exception):
    """A delivery refused for good: `status` is the HTTP answer, `reason` a short phrase."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def malformed(reason: str) -> SnsDeliveryError:
    return SnsDeliveryError(400, reason)


def forged(reason: str) -> SnsDeliveryError:
    return SnsDeliveryError(403, reason)


# The fields each type must carry, beyond Type and the signature fields.
_NOTIFICATION_FIELDS = ("MessageId", "TopicArn", "Message", "Timestamp")
_SUBSCRIPTION_FIELDS = (*_NOTIFICATION_FIELDS, "Token", "SubscribeURL")
_REQUIRED = {
    SnsType.NOTIFICATION: _NOTIFICATION_FIELDS,
    SnsType.SUBSCRIPTION_CONFIRMATION: _SUBSCRIPTION_FIELDS,
    SnsType.UNSUBSCRIBE_CONFIRMATION: _SUBSCRIPTION_FIELDS,
}
_SIGNATURE_FIELDS = ("SignatureVersion", "Signature", "SigningCertURL")
_ENVELOPE = (
    "Type",
    "MessageId",
    "Token",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SubscribeURL",
    "UnsubscribeURL",
    *_SIGNATURE_FIELDS,
)


_HOST_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


@dataclass(frozen=True)
class TopicArn:
    partition: str
    region: str
    account: str
    name: str
    text: str

    @classmethod
    def parse(cls, text: str) -> TopicArn:
        match = TOPIC_ARN.fullmatch(text)
        if match is None:
            raise malformed("TopicArn is not an SNS topic ARN")
        return cls(match["partition"], match["region"], match["account"], match["name"], text)

    @property
    def sns_host(self) -> str:
        """The host of SNS in the topic's partition and region: where its signing certificates
        and confirmation calls are."""
        return f"sns.{self.region}.{_HOST_SUFFIX[self.partition]}"


@dataclass(frozen=True)
class SnsMessage:
    """One delivery. `fields` holds every string field exactly as it arrived."""

    type: SnsType
    fields: Mapping[str, str]
    topic: TopicArn
    timestamp: datetime

    @property
    def message_id(self) -> str:
        return self.fields["MessageId"]

    @property
    def message(self) -> str:
        return self.fields["Message"]

    @property
    def subject(self) -> str | None:
        return self.fields.get("Subject")

    @property
    def signature_version(self) -> str:
        return self.fields["SignatureVersion"]


def parse(body: bytes) -> SnsMessage:
    """Reads a delivery body: JSON whatever the Content-Type said (SNS sends text/plain)."""
    if len(body) > MAX_BODY_BYTES:
        raise SnsDeliveryError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise malformed("the body nests too deeply to be an SNS message") from None
    except ValueError:  # not UTF-8, not JSON, or a number past Python's 4,300 digits
        raise malformed(
            "the body is not an SNS JSON message; if raw message delivery is on for this "
            "subscription, turn it off"
        ) from None
    if not isinstance(data, dict) or data.get("Type") is None:
        raise malformed("the body is not an SNS message (no Type); raw delivery is not supported")
    # The envelope's own fields are strings; others (MessageAttributes, say) are not signed
    # and are left alone.
    fields: dict[str, str] = {}
    for key in _ENVELOPE:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise malformed(f"{key} must be a string")
        size = _utf8_size(value)
        if size is None:
            raise malformed(f"{key} is not valid Unicode text")
        if key == "Message" and size > SNS_MESSAGE_MAX:
            raise malformed(f"Message is larger than SNS's {SNS_MESSAGE_MAX} bytes")
        if key != "Message" and _CONTROL.search(value):
            raise malformed(f"{key} must not hold line breaks or control characters")
        fields[key] = value
    try:
        kind = SnsType(fields.get("Type", ""))
    except ValueError:
        raise malformed(f"unknown message Type {fields.get('Type', '')[:60]!r}") from None
    for key in (*_REQUIRED[kind], *_SIGNATURE_FIELDS):
        if not fields.get(key):
            raise malformed(f"{kind.value} without {key}")
    if not _MESSAGE_ID.fullmatch(fields["MessageId"]):
        raise malformed("MessageId is not an SNS message id")
    return SnsMessage(kind, fields, TopicArn.parse(fields["TopicArn"]), _timestamp(fields))


def _utf8_size(text: str) -> int | None:
    """Bytes in UTF-8, or None for lone surrogates, which JSON can carry but UTF-8 (and so a
    signature) cannot."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A repeated key would let two readers of one body see two messages."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise malformed("the message repeats a key")
    return dict(pairs)


def _timestamp(fields: Mapping[str, str]) -> datetime:
    text = fields["Timestamp"]
    if not _TIMESTAMP.fullmatch(text):
        raise malformed("Timestamp is not an ISO 8601 UTC time")
    try:
        return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)
    except ValueError:
        raise malformed("Timestamp is not a valid time") from None


def check_headers(message: SnsMessage, headers: Mapping[str, str]) -> None:
    """The x-amz-sns-* headers, when present, must agree with the signed body.

    `headers` must look names up case-insensitively, as aiohttp's request headers do.
    """
    if headers.get("x-amz-sns-rawdelivery", "").lower() == "true":
        raise malformed("raw message delivery is not supported: turn it off on the subscription")
    pairs = (
        ("x-amz-sns-message-type", message.type.value),
        ("x-amz-sns-message-id", message.message_id),
        ("x-amz-sns-topic-arn", message.topic.text),
    )
    for header, signed in pairs:
        sent = headers.get(header)
        if sent is not None and sent != signed:
            raise forged(f"header {header} does not match the message")


def check_fresh(
    message: SnsMessage,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_ahead: timedelta = DEFAULT_MAX_AHEAD,
) -> None:
    """A signed message replayed later, or dated ahead, is refused."""
    if message.timestamp < now - max_age:
        raise forged("the message is too old (replayed?)")
    if message.timestamp > now + max_ahead:
        raise forged("the message is dated in the future")

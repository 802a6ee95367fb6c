"""What an SNS delivery becomes: pure functions from the delivery to the action to take.

The integration's type chooses the reader. An `sns` integration recognises the payload by
its shape, so one that receives a CloudWatch alarm still reads it as one:

- CloudTrail log delivery (`s3Bucket`, `s3ObjectKey`): a notice per new log file.
- CloudWatch alarm (`AlarmName`, `NewStateValue`): ALARM opens an alert, OK closes it,
  INSUFFICIENT_DATA opens one at P4.
- EventBridge event (`detail-type`, `source`, `detail`), including CloudTrail API calls and
  console sign-ins: the event and the CloudTrail fields that matter.
- Anything else: JSON flattened into details by dotted path, or the text as it is.

A `cloudtrail`, `cloudwatch` or `eventbridge` integration reads only its own payloads (a
`cloudtrail` one reads log deliveries and CloudTrail records, bare or carried in an
EventBridge event's `detail`, as CloudTrail events). A delivery its reader does not fit still
becomes an alert, the plain one made of its subject and text, with a note that says why: a
valid delivery is never dropped for its shape.

Every alert gets fields that work with no integration rule configured. Text longer than an
alert field allows is shortened, never refused: the delivery is valid, the alert is a view.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping

from service.alerts.model import NewAlert, Priority
from service.ingest.fitting import fit_details, fitted, flatten, shorten
from service.ingest.model import ActionKind, IngestAction, IntegrationType, SnsDelivery, SnsType

SNS = "Amazon SNS"
_CLOUDTRAIL_KEY = re.compile(
    r"AWSLogs/(?:o-[a-z0-9]+/)?(?P<account>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/"
    r"(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/"
)


def topic_name(topic_arn: str) -> str:
    return topic_arn.rsplit(":", 1)[-1]


Reader = Callable[[SnsDelivery, Mapping[str, object]], IngestAction | None]


def action_for(delivery: SnsDelivery, kind: IntegrationType = IntegrationType.SNS) -> IngestAction:
    """What the delivery does in an integration of type `kind`."""
    return reader(delivery)(kind)


def reader(delivery: SnsDelivery) -> Callable[[IntegrationType], IngestAction]:
    """The delivery's action for any integration type, its message parsed once, here: the
    store asks with the type it finds, inside its transaction, where parsing would hold up
    every other write."""
    payload = _json(delivery.message)
    return lambda kind: _read(delivery, payload, kind)


def _read(delivery: SnsDelivery, payload: object, kind: IntegrationType) -> IngestAction:
    if delivery.type is SnsType.SUBSCRIPTION_CONFIRMATION:
        return IngestAction(_subscription(delivery, "confirmed", Priority.P5))
    if delivery.type is SnsType.UNSUBSCRIBE_CONFIRMATION:
        return IngestAction(_subscription(delivery, "removed", Priority.P3))
    body: Mapping[str, object] = payload if isinstance(payload, dict) else {}
    for read in _READERS[kind]:
        action = read(delivery, body)
        if action is not None:
            return action
    plain = IngestAction(_generic(delivery, payload))
    if kind is IntegrationType.SNS:
        return plain
    return dataclasses.replace(
        plain,
        note=f"not {_KINDS[kind]}: read as a plain SNS message (its subject and text)",
    )


def _log_delivery(delivery: SnsDelivery, body: Mapping[str, object]) -> IngestAction | None:
    if "s3Bucket" in body and "s3ObjectKey" in body:
        return IngestAction(_cloudtrail_delivery(delivery, body))
    return None


def _alarm(delivery: SnsDelivery, body: Mapping[str, object]) -> IngestAction | None:
    if "AlarmName" in body and "NewStateValue" in body:
        return _cloudwatch_alarm(delivery, body)
    return None


def _event(delivery: SnsDelivery, body: Mapping[str, object]) -> IngestAction | None:
    if {"detail-type", "source", "detail"} <= body.keys():
        return IngestAction(_eventbridge(delivery, body))
    return None


def _trail_event(delivery: SnsDelivery, body: Mapping[str, object]) -> IngestAction | None:
    """A CloudTrail record: bare, or the `detail` of an EventBridge event."""
    detail = body.get("detail")
    if isinstance(detail, dict) and _is_record(detail) and "detail-type" in body:
        return IngestAction(_cloudtrail_record(delivery, detail, body))
    if _is_record(body):
        return IngestAction(_cloudtrail_record(delivery, body, {}))
    return None


def _is_record(value: Mapping[str, object]) -> bool:
    return isinstance(value.get("eventName"), str) and isinstance(value.get("eventSource"), str)


_READERS: dict[IntegrationType, tuple[Reader, ...]] = {
    IntegrationType.SNS: (_log_delivery, _alarm, _event),  # recognised by their shape
    IntegrationType.CLOUDTRAIL: (_log_delivery, _trail_event),
    IntegrationType.CLOUDWATCH: (_alarm,),
    IntegrationType.EVENTBRIDGE: (_event,),
}
_KINDS = {
    IntegrationType.CLOUDTRAIL: "a CloudTrail log delivery or event",
    IntegrationType.CLOUDWATCH: "a CloudWatch alarm",
    IntegrationType.EVENTBRIDGE: "an EventBridge event",
}


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # a valid delivery whose text is not (tame) JSON
        return None


def _alert(
    delivery: SnsDelivery,
    message: str,
    alias: str,
    *,
    description: str = "",
    details: Mapping[str, object] = {},
    entity: str = "",
    source: str = SNS,
    tags: tuple[str, ...] = (),
    priority: Priority = Priority.P3,
) -> NewAlert:
    """An alert with every field within its limits, and the SNS envelope in its details."""
    envelope = {"TopicArn": delivery.topic_arn, "MessageId": delivery.message_id}
    if delivery.subject:
        envelope["Subject"] = delivery.subject
    alert = NewAlert(
        message=message.strip() or topic_name(delivery.topic_arn),
        alias=alias,
        description=description,
        tags=tags,
        details=fit_details({**envelope, **details}),  # the envelope first: it always fits
        entity=entity,
        source=source,
        priority=priority,
    )
    return fitted(alert)


def _subscription(delivery: SnsDelivery, what: str, priority: Priority) -> NewAlert:
    topic = topic_name(delivery.topic_arn)
    description = f"The SNS subscription to {delivery.topic_arn} was {what}."
    if what == "removed":
        description += " This integration receives nothing from it until it is subscribed again."
    return _alert(
        delivery,
        f"Subscription to {topic} {what}",
        f"sns-subscription-{what}:{delivery.topic_arn}",
        description=description,
        entity=topic,
        tags=("aws", "sns"),
        priority=priority,
    )


def _cloudtrail_delivery(delivery: SnsDelivery, payload: Mapping[str, object]) -> NewAlert:
    bucket = str(payload["s3Bucket"])
    raw_keys = payload["s3ObjectKey"]
    keys = [str(k) for k in raw_keys] if isinstance(raw_keys, list) else [str(raw_keys)]
    first = keys[0] if keys else ""
    place = _CLOUDTRAIL_KEY.search(first)
    details: dict[str, object] = {
        "s3Bucket": bucket,
        "s3ObjectKey": first,
        "s3ObjectKeys": ", ".join(keys),
    }
    if place:
        details.update(
            accountId=place["account"],
            region=place["region"],
            date=f"{place['year']}-{place['month']}-{place['day']}",
        )
    name = first.rsplit("/", 1)[-1]
    logs = "New CloudTrail log" if len(keys) == 1 else f"New CloudTrail logs ({len(keys)})"
    return _alert(
        delivery,
        f"{logs} in {bucket}: {name}",  # the bucket first: a long file name is what shortens
        f"cloudtrail:{bucket}/{first}",
        description="\n".join(f"s3://{bucket}/{key}" for key in keys),
        details=details,
        entity=bucket,
        source="AWS CloudTrail",
        tags=("aws", "cloudtrail"),
        priority=Priority.P5,
    )


def _cloudwatch_alarm(delivery: SnsDelivery, payload: Mapping[str, object]) -> IngestAction:
    name = str(payload["AlarmName"])
    state = str(payload["NewStateValue"])
    reason = str(payload.get("NewStateReason") or "")
    keys = (
        "AlarmName",
        "AlarmDescription",
        "AWSAccountId",
        "NewStateValue",
        "OldStateValue",
        "NewStateReason",
        "StateChangeTime",
        "Region",
        "AlarmArn",
    )
    details: dict[str, object] = {key: payload.get(key) for key in keys}
    trigger = payload.get("Trigger")
    if isinstance(trigger, dict):
        details.update(flatten(trigger, "Trigger"))
    alert = _alert(
        delivery,
        f"{name} is {state}",
        _alarm_alias(payload, name),
        description="\n\n".join(
            text for text in (reason, str(payload.get("AlarmDescription") or "")) if text
        ),
        details=details,
        entity=name,
        source="Amazon CloudWatch",
        tags=("aws", "cloudwatch", state.lower()),
        priority=Priority.P4 if state == "INSUFFICIENT_DATA" else Priority.P3,
    )
    if state == "OK":
        return IngestAction(
            alert, kind=ActionKind.CLOSE, note=shorten(f"{name} is OK: {reason}", 1_000)
        )
    return IngestAction(alert)


def _alarm_alias(payload: Mapping[str, object], name: str) -> str:
    """The alarm's ARN names it; an older message without one is named by its account,
    region and name, as its ARN would be: one name in two accounts or regions is two
    alarms. (The name goes last: an account is digits and a region has no colon.)"""
    arn = payload.get("AlarmArn")
    if arn:
        return f"cloudwatch:{arn}"
    account, region = payload.get("AWSAccountId") or "", payload.get("Region") or ""
    return f"cloudwatch:{account}:{region}:{name}"


def _identity(trail: Mapping[str, object]) -> Mapping[str, object]:
    identity = trail.get("userIdentity")
    return identity if isinstance(identity, dict) else {}


def _trail_details(trail: Mapping[str, object]) -> dict[str, object]:
    """The fields of a CloudTrail record that matter."""
    identity = _identity(trail)
    extra = trail.get("additionalEventData")
    return {
        "eventName": trail.get("eventName"),
        "eventSource": trail.get("eventSource"),
        "userIdentity.type": identity.get("type"),
        "userIdentity.arn": identity.get("arn"),
        "sourceIPAddress": trail.get("sourceIPAddress"),
        "userAgent": trail.get("userAgent"),
        "errorCode": trail.get("errorCode"),
        "errorMessage": trail.get("errorMessage"),
        "MFAUsed": extra.get("MFAUsed") if isinstance(extra, dict) else None,
        "requestParameters": trail.get("requestParameters"),
    }


def _cloudtrail_record(
    delivery: SnsDelivery, trail: Mapping[str, object], event: Mapping[str, object]
) -> NewAlert:
    """A CloudTrail event, with the EventBridge `event` that carried it (or {})."""
    identity = _identity(trail)
    headline = f"CloudTrail: {trail['eventName']} by {identity.get('type') or 'unknown'}"
    outcome = trail.get("responseElements")
    signed_in = outcome.get("ConsoleLogin") if isinstance(outcome, dict) else None
    if trail.get("errorCode") or signed_in == "Failure":
        headline += f" failed ({trail.get('errorCode') or trail.get('errorMessage') or 'Failure'})"
    details: dict[str, object] = {
        "eventTime": trail.get("eventTime"),
        "awsRegion": trail.get("awsRegion"),
        "recipientAccountId": trail.get("recipientAccountId") or identity.get("accountId"),
        "eventID": trail.get("eventID"),
        "eventType": trail.get("eventType"),
        "userIdentity.userName": identity.get("userName"),
        **_trail_details(trail),
        "detail-type": event.get("detail-type"),
    }
    return _alert(
        delivery,
        headline,
        f"cloudtrail:{trail.get('eventID') or event.get('id') or delivery.message_id}",
        description=json.dumps(event or trail, indent=2, sort_keys=True),
        details=details,
        entity=str(identity.get("arn") or identity.get("userName") or event.get("account") or ""),
        source="AWS CloudTrail",
        tags=("aws", "cloudtrail", str(trail["eventSource"])),
        priority=Priority.P2 if identity.get("type") == "Root" else Priority.P3,
    )


def _eventbridge(delivery: SnsDelivery, event: Mapping[str, object]) -> NewAlert:
    detail = event.get("detail")
    trail = detail if isinstance(detail, dict) else {}
    identity = _identity(trail)
    details: dict[str, object] = {
        "source": event.get("source"),
        "detail-type": event.get("detail-type"),
        "account": event.get("account"),
        "region": event.get("region"),
        "time": event.get("time"),
        **_trail_details(trail),
    }
    kind = str(event["detail-type"])
    headline = kind
    if trail.get("eventName"):
        headline = f"{kind}: {trail['eventName']}"
        if identity.get("type"):
            headline += f" by {identity['type']}"
        if trail.get("errorCode"):
            headline += f" failed ({trail['errorCode']})"
    root = identity.get("type") == "Root"
    return _alert(
        delivery,
        headline,
        f"eventbridge:{event.get('id') or delivery.message_id}",
        description=json.dumps(event, indent=2, sort_keys=True),
        details=details,
        entity=str(identity.get("arn") or event.get("account") or ""),
        source=str(event["source"]),
        tags=("aws", "eventbridge", str(event["source"])),
        priority=Priority.P2 if root else Priority.P3,  # the root user is never routine
    )


def _generic(delivery: SnsDelivery, payload: object) -> NewAlert:
    headline = delivery.subject or delivery.message.strip().split("\n", 1)[0]
    details: dict[str, object] = {}
    if isinstance(payload, dict | list):
        details = dict(flatten(payload, ""))
    return _alert(
        delivery,
        headline,
        f"sns:{delivery.message_id}",
        description=delivery.message,
        details=details,
        entity=topic_name(delivery.topic_arn),
        tags=("aws", "sns"),
    )

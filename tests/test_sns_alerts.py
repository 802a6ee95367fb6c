"""What each kind of SNS payload becomes, on AWS's own sample payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from service.alerts import validation as alert_validation
from service.alerts.model import Priority
from service.core import validation
from service.ingest import sns as sns_alerts
from service.ingest.model import IngestAction, IntegrationType, SnsDelivery, SnsType
from tests.sns_signing import FIXTURES

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def deliver(
    message: str,
    subject: str = "",
    kind: SnsType = SnsType.NOTIFICATION,
    integration: IntegrationType = IntegrationType.SNS,
) -> IngestAction:
    delivery = SnsDelivery(
        integration_id="i-1",
        type=kind,
        message_id="m-1",
        topic_arn=TOPIC,
        subject=subject,
        message=message,
        timestamp=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        signature_version=2,
    )
    action = sns_alerts.action_for(delivery, integration)
    assert alert_validation.new_alert(action.alert) == action.alert  # always within every limit
    return action


def sample(name: str) -> str:
    data = json.loads((FIXTURES / name).read_text())
    if "Message_string_verbatim" in data:
        return str(data["Message_string_verbatim"])
    return json.dumps(data)


def test_cloudtrail_log_delivery() -> None:
    action = deliver(sample("06-cloudtrail-s3-delivery-message.single.json"))
    alert = action.alert
    assert alert.message == (
        "New CloudTrail log in your-bucket-name: "
        "123456789012_CloudTrail_us-west-2_20131213T1920Z_LnPgDQnpkSKEsppV.json.gz"
    )
    assert alert.details["s3Bucket"] == "your-bucket-name"
    assert alert.details["s3ObjectKey"].startswith("AWSLogs/123456789012/CloudTrail/us-east-2/")
    assert (alert.details["accountId"], alert.details["region"]) == ("123456789012", "us-east-2")
    assert alert.details["date"] == "2013-12-13"
    assert alert.alias == f"cloudtrail:your-bucket-name/{alert.details['s3ObjectKey']}"
    assert (alert.priority, alert.source, alert.entity) == (
        Priority.P5,
        "AWS CloudTrail",
        "your-bucket-name",
    )
    many = deliver(sample("06b-cloudtrail-s3-delivery-message.multiple.json")).alert
    assert many.message.startswith("New CloudTrail logs (3) in your-bucket-name: ")
    assert many.details["s3ObjectKeys"].count("AWSLogs/") == 3
    assert many.details["date"] == "2016-08-11"


@pytest.mark.parametrize(
    "name",
    [
        "13-cloudwatch-alarm.message.single-metric.json",
        "13b-cloudwatch-alarm.message.metric-math.json",
    ],
)
def test_cloudwatch_alarm_opens_and_ok_closes(name: str) -> None:
    alarm = json.loads(sample(name))
    opened = deliver(json.dumps(alarm))
    assert opened.kind == "create"
    assert opened.alert.message == "EXAMPLE is ALARM"
    assert opened.alert.alias == f"cloudwatch:{alarm['AlarmArn']}"
    assert opened.alert.details["NewStateValue"] == "ALARM"
    assert opened.alert.description.startswith("Threshold Crossed")
    assert opened.alert.source == "Amazon CloudWatch"
    ok = deliver(json.dumps({**alarm, "NewStateValue": "OK", "NewStateReason": "back"}))
    assert ok.kind == "close" and ok.alert.alias == opened.alert.alias
    assert ok.note == "EXAMPLE is OK: back"
    unknown = deliver(json.dumps({**alarm, "NewStateValue": "INSUFFICIENT_DATA"}))
    assert (unknown.kind, unknown.alert.priority) == ("create", Priority.P4)


def test_an_alarm_without_its_arn_is_named_by_account_region_and_name() -> None:
    alarm = json.loads(sample("13-cloudwatch-alarm.message.single-metric.json"))
    del alarm["AlarmArn"]
    alias = deliver(json.dumps(alarm)).alert.alias
    assert alias == f"cloudwatch:{alarm['AWSAccountId']}:{alarm['Region']}:EXAMPLE"
    elsewhere = {
        deliver(json.dumps({**alarm, "AWSAccountId": "210987654321"})).alert.alias,
        deliver(json.dumps({**alarm, "Region": "EU (Ireland)"})).alert.alias,
    }
    assert len(elsewhere | {alias}) == 3  # the same name in two accounts or regions: two alerts


def test_single_metric_trigger_is_flattened() -> None:
    alert = deliver(sample("13-cloudwatch-alarm.message.single-metric.json")).alert
    assert alert.details["Trigger.MetricName"] == "NetworkOut"
    assert alert.details["Trigger.Dimensions.0.value"] == "TestInstance"


def test_eventbridge_api_call_via_cloudtrail() -> None:
    alert = deliver(sample("09-eventbridge.aws-api-call-via-cloudtrail.s3-createbucket.json")).alert
    assert alert.message == "AWS API Call via CloudTrail: CreateBucket by Root"
    assert alert.details["eventSource"] == "s3.amazonaws.com"
    assert alert.details["userIdentity.arn"] == "arn:aws:iam::123456789012:root"
    assert alert.details["sourceIPAddress"] == "100.100.100.100"
    assert json.loads(alert.details["requestParameters"]) == {"bucketName": "bucket-test-iad"}
    assert alert.alias == "eventbridge:36eb8523-97d0-4518-b33d-ee3579ff19f0"
    assert (alert.source, alert.priority) == ("aws.s3", Priority.P2)  # the root user


def test_eventbridge_console_sign_in() -> None:
    alert = deliver(sample("10-eventbridge.aws-console-sign-in-via-cloudtrail.root.json")).alert
    assert alert.message == "AWS Console Sign In via CloudTrail: ConsoleLogin by Root"
    assert alert.details["MFAUsed"] == "No"
    assert alert.details["userIdentity.type"] == "Root"


def test_eventbridge_errors_and_non_root_callers() -> None:
    event = json.loads(sample("09-eventbridge.aws-api-call-via-cloudtrail.s3-createbucket.json"))
    event["detail"]["userIdentity"] = {"type": "IAMUser", "arn": "arn:aws:iam::1:user/ana"}
    event["detail"]["errorCode"] = "AccessDenied"
    alert = deliver(json.dumps(event)).alert
    assert (
        alert.message
        == "AWS API Call via CloudTrail: CreateBucket by IAMUser failed (AccessDenied)"
    )
    assert (alert.priority, alert.entity) == (Priority.P3, "arn:aws:iam::1:user/ana")


def test_other_json_is_flattened_and_text_kept() -> None:
    alert = deliver(
        '{"service": {"name": "api", "hosts": ["a", "b"]}, "ok": false}', "Deploy"
    ).alert
    assert alert.message == "Deploy"
    assert alert.details["service.hosts.1"] == "b"
    assert alert.details["ok"] == "false"
    text = deliver("Disk full on db-1\nsecond line").alert
    assert (text.message, text.description) == (
        "Disk full on db-1",
        "Disk full on db-1\nsecond line",
    )
    assert text.alias == "sns:m-1"


def test_deep_json_in_a_message_stays_a_notice() -> None:
    deep = deliver("[" * 100_000 + "]" * 100_000).alert  # too deep to parse: kept as text
    assert deep.description.startswith("[[[")
    nested = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}
    assert deliver(json.dumps(nested)).alert.details["a.b.c.d.e.f.g.h"] == '{"i": 1}'


def test_oversized_payloads_are_shortened_not_refused() -> None:
    huge = {f"key{i}": "v" * 500 for i in range(100)}
    alert = deliver(json.dumps(huge), "s" * 500).alert
    assert len(alert.message) == validation.MESSAGE_MAX and alert.message.endswith("…")
    assert sum(len(k) + len(v) for k, v in alert.details.items()) <= validation.DETAILS_TOTAL_MAX
    assert alert.details["MessageId"] == "m-1"  # the envelope is kept


def test_subscription_notices() -> None:
    confirmed = deliver("", kind=SnsType.SUBSCRIPTION_CONFIRMATION).alert
    assert (confirmed.message, confirmed.priority) == (
        "Subscription to alerts confirmed",
        Priority.P5,
    )
    removed = deliver("", kind=SnsType.UNSUBSCRIBE_CONFIRMATION).alert
    assert (removed.message, removed.priority) == ("Subscription to alerts removed", Priority.P3)


CLOUDTRAIL, CLOUDWATCH, EVENTBRIDGE = (
    IntegrationType.CLOUDTRAIL,
    IntegrationType.CLOUDWATCH,
    IntegrationType.EVENTBRIDGE,
)
API_CALL = "09-eventbridge.aws-api-call-via-cloudtrail.s3-createbucket.json"
ALARM = "13-cloudwatch-alarm.message.single-metric.json"


def test_a_cloudtrail_integration_reads_an_eventbridge_event_as_cloudtrail() -> None:
    action = deliver(sample(API_CALL), integration=CLOUDTRAIL)
    alert = action.alert
    assert alert.message == "CloudTrail: CreateBucket by Root"
    assert alert.alias == "cloudtrail:24ba271e-d595-4e66-a7fd-9c16cbf8abae"  # its eventID
    assert (alert.source, alert.priority) == ("AWS CloudTrail", Priority.P2)
    assert alert.tags == ("aws", "cloudtrail", "s3.amazonaws.com")
    assert alert.details["detail-type"] == "AWS API Call via CloudTrail"
    assert alert.details["awsRegion"] == "us-east-1"
    assert alert.details["userIdentity.arn"] == "arn:aws:iam::123456789012:root"
    assert action.note == ""
    # The same event in a detecting integration is still read as EventBridge.
    assert deliver(sample(API_CALL)).alert.source == "aws.s3"


def test_a_cloudtrail_integration_reads_bare_records_and_log_deliveries() -> None:
    failed = deliver(
        sample("08d-cloudtrail-record.consolelogin-iamuser-failure.json"), integration=CLOUDTRAIL
    ).alert
    assert failed.message == "CloudTrail: ConsoleLogin by IAMUser failed (Failed authentication)"
    assert (failed.entity, failed.details["recipientAccountId"]) == ("anaya", "111122223333")
    assert failed.details["MFAUsed"] == "Yes"
    notice = sample("06-cloudtrail-s3-delivery-message.single.json")
    assert deliver(notice, integration=CLOUDTRAIL) == deliver(notice)


@pytest.mark.parametrize(
    ("integration", "payload", "expected"),
    [
        (CLOUDTRAIL, ALARM, "a CloudTrail log delivery or event"),
        (CLOUDWATCH, API_CALL, "a CloudWatch alarm"),
        (EVENTBRIDGE, ALARM, "an EventBridge event"),
        (CLOUDWATCH, "06-cloudtrail-s3-delivery-message.single.json", "a CloudWatch alarm"),
    ],
)
def test_a_typed_integration_keeps_what_its_reader_does_not_fit_as_a_plain_alert(
    integration: IntegrationType, payload: str, expected: str
) -> None:
    action = deliver(sample(payload), "Subject line", integration=integration)
    assert action.kind == "create"
    assert action.alert.message == "Subject line"
    assert action.alert.source == "Amazon SNS" and action.alert.alias == "sns:m-1"
    assert action.note == f"not {expected}: read as a plain SNS message (its subject and text)"


def test_each_typed_integration_reads_its_own_payloads() -> None:
    alarm = deliver(sample(ALARM), integration=CLOUDWATCH)
    assert (alarm.alert.source, alarm.note) == ("Amazon CloudWatch", "")
    event = deliver(sample(API_CALL), integration=EVENTBRIDGE)
    assert (event.alert.source, event.note) == ("aws.s3", "")
    text = deliver("just text", integration=EVENTBRIDGE)
    assert text.alert.message == "just text" and text.note.startswith("not an EventBridge event")
    confirmed = deliver("", kind=SnsType.SUBSCRIPTION_CONFIRMATION, integration=CLOUDWATCH)
    assert (confirmed.alert.message, confirmed.note) == ("Subscription to alerts confirmed", "")

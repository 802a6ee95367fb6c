"""IntegrationService over real gRPC: URLs, keys shown once, enable/disable, rotation."""

from __future__ import annotations

import dataclasses

import pytest

from clients.client import TocsinClient
from service.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service.ingest.model import IntegrationType, NewIntegration
from service.tokens.usecases import hash_secret
from tests.conftest import Running
from tests.databases import everything_stored

TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


async def test_create_shows_the_key_once_and_stores_only_its_hash(
    client: TocsinClient, running: Running
) -> None:
    key = await client.create_integration(
        NewIntegration("aws-prod", IntegrationType.CLOUDTRAIL, topic_arns=(TOPIC,))
    )
    integration = key.info.integration
    assert (integration.name, integration.type) == ("aws-prod", IntegrationType.CLOUDTRAIL)
    assert (integration.owner_team, integration.assignee_team) == ("default", "default")
    assert integration.enabled and integration.topic_arns == (TOPIC,)
    assert integration.min_signature_version == 1
    base = f"http://127.0.0.1:{running.server.http_port}"
    assert key.info.url == f"{base}/v1/sns/{integration.id}"
    assert key.url_with_key == f"{key.info.url}?apiKey={key.api_key}"
    assert key.api_key.startswith("tocsin_ik_") and len(key.api_key) >= 32  # >= 128 random bits
    database = await everything_stored(running.server.store, running.data_dir)
    assert key.api_key.encode() not in database
    assert hash_secret(key.api_key).encode() in database
    listed = await client.list_integrations()
    assert [i.integration.id for i in listed] == [integration.id]
    assert listed[0].url == key.info.url  # listings never carry the key


async def test_teams_types_and_validation(client: TocsinClient) -> None:
    await client.create_team("ops")
    await client.create_team("sec")
    key = await client.create_integration(
        NewIntegration("watch", IntegrationType.CLOUDWATCH, "ops", "sec", min_signature_version=2)
    )
    info = key.info.integration
    assert (info.owner_team, info.assignee_team, info.min_signature_version) == ("ops", "sec", 2)
    assert [i.integration.name for i in await client.list_integrations("ops")] == ["watch"]
    assert await client.list_integrations("sec") == []
    with pytest.raises(AlreadyExists):
        await client.create_integration(NewIntegration("WATCH", IntegrationType.SNS))
    with pytest.raises(InvalidArgument, match=r"topic_arns\[0\]: must be an SNS topic ARN"):
        await client.create_integration(
            NewIntegration("x", IntegrationType.SNS, topic_arns=("arn:aws:s3:::bucket",))
        )
    with pytest.raises(InvalidArgument, match="min_signature_version: must be 1 or 2"):
        await client.create_integration(
            NewIntegration("y", IntegrationType.SNS, min_signature_version=3)
        )
    with pytest.raises(NotFound, match="assignee_team"):
        await client.create_integration(NewIntegration("z", IntegrationType.SNS, "ops", "nope"))
    with pytest.raises(FailedPrecondition, match=r"1 integration\(s\)"):
        await client.delete_team("sec")


async def test_enable_disable_rotate_delete(client: TocsinClient) -> None:
    first = await client.create_integration(NewIntegration("flip", IntegrationType.EVENTBRIDGE))
    assert not (await client.set_integration_enabled("flip", False)).integration.enabled
    assert (await client.get_integration(first.info.integration.id)).integration.enabled is False
    assert (await client.set_integration_enabled("flip", True)).integration.enabled
    rotated = await client.rotate_integration_key("flip")
    assert rotated.api_key != first.api_key
    assert rotated.info.url == first.info.url
    await client.delete_integration("flip")
    with pytest.raises(NotFound, match="no integration named 'flip'"):
        await client.get_integration("flip")


async def test_an_update_changes_only_the_fields_it_names_and_keeps_url_and_key(
    client: TocsinClient, running: Running
) -> None:
    await client.create_team("ops")
    await client.create_team("sec")
    new = NewIntegration("aws", IntegrationType.CLOUDTRAIL, "ops", "sec", (TOPIC,), 2)
    key = await client.create_integration(new)
    renamed = await client.update_integration("aws", NewIntegration("aws-prod", new.type), ["name"])
    assert renamed.url == key.info.url
    assert renamed.integration == dataclasses.replace(
        key.info.integration, name="aws-prod", owner_team_id="", assignee_team_id=""
    )
    other = "arn:aws:sns:us-east-1:123456789012:Other"
    moved = await client.update_integration(
        "aws-prod",
        NewIntegration("", IntegrationType.SNS, topic_arns=(other, TOPIC)),
        ["topic_arns", "assignee_team", "type", "min_signature_version"],
    )
    shown = moved.integration
    assert (shown.topic_arns, shown.type, shown.min_signature_version) == (
        (other, TOPIC),
        IntegrationType.SNS,
        1,
    )
    assert (shown.owner_team, shown.assignee_team) == ("ops", "ops")  # empty: the owner team
    database = await everything_stored(running.server.store, running.data_dir)
    assert hash_secret(key.api_key).encode() in database  # the same key
    assert (await client.get_integration(shown.id)).integration == shown

    with pytest.raises(InvalidArgument, match="update_mask: name the fields to change"):
        await client.update_integration("aws-prod", new, [])
    with pytest.raises(InvalidArgument, match="update_mask: names no field of an integration"):
        await client.update_integration("aws-prod", new, ["url"])
    with pytest.raises(InvalidArgument, match=r"topic_arns\[0\]: must be an SNS topic ARN"):
        await client.update_integration(
            "aws-prod", NewIntegration("", new.type, topic_arns=("x",)), ["topic_arns"]
        )
    await client.create_integration(NewIntegration("taken", IntegrationType.SNS))
    with pytest.raises(AlreadyExists, match="'TAKEN' already exists"):
        await client.update_integration("aws-prod", NewIntegration("TAKEN", new.type), ["name"])
    with pytest.raises(NotFound, match="assignee_team"):
        await client.update_integration(
            "aws-prod", NewIntegration("", new.type, assignee_team="nope"), ["assignee_team"]
        )
    assert (await client.get_integration("aws-prod")).integration == shown


def alias_bomb(levels: int) -> str:
    """Rules whose conditions each name the one before ten times: a few hundred bytes that
    PyYAML alone would expand to 10**levels conditions."""
    lines = ["- {action: ignore, when: &c0 {field: eventName, op: equals, value: x}}"]
    for level in range(1, levels + 1):
        names = ", ".join([f"*c{level - 1}"] * 10)
        lines.append(f"- {{action: ignore, when: &c{level} {{any: [{names}]}}}}")
    return "\n".join(lines) + "\n"


async def test_rules_refuse_aliases_deep_nesting_and_huge_numbers(client: TocsinClient) -> None:
    await client.create_integration(NewIntegration("aws", IntegrationType.CLOUDTRAIL))
    condition = "{field: x, op: is-empty}"
    for _ in range(1_100):
        condition = f"{{any: [{condition}]}}"
    deep = "\n".join(f"{'  ' * i}- any:" for i in range(1, 80))
    cases = [
        (alias_bomb(3), "rules_yaml: must not use YAML anchors or aliases"),
        ("[" * 2000, "rules_yaml: must not nest deeper than 64 levels"),
        (f"- {{action: close, when: {condition}}}", "rules_yaml: must not nest deeper than 64"),
        (f"- action: close\n  when:\n{deep}", "rules_yaml: must not nest deeper than 64"),
        (
            "- {action: create, alert: {message: '{{x | truncate(" + "9" * 5000 + ")}}'}}",
            r"rules\[0\].alert.message: truncate takes a number of characters from 1 to 100,000",
        ),
        (
            "- {action: close, when: {field: n, op: less-than, value: " + "9" * 5000 + "}}",
            "rules_yaml: not valid YAML: line 1, column 58: a number has more than 100 digits",
        ),
        ("- {action: close, when: {field: x, op: equals, value: !!binary aGk=}}", "binary"),
    ]
    for text, refusal in cases:
        with pytest.raises(InvalidArgument, match=refusal):
            await client.set_integration_rules("aws", text)
    assert await client.get_integration_rules("aws") == ""
    # Dates stay as written: a condition compares text.
    dated = "- {action: close, when: {field: day, op: equals, value: 2026-03-01}}\n"
    assert "value: '2026-03-01'" in await client.set_integration_rules("aws", dated)

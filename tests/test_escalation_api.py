"""EscalationService through the real server and client, and its CLI: policies, routing,
EscalateToNext and the page ledger, with a fake notifier behind the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from clients.client import TocsinClient
from protos.tocsin.v1 import escalations_pb2, escalations_pb2_grpc
from service.alerts.model import NewAlert
from service.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from service.escalation.model import Repeat
from service.escalation.usecases import EscalationRuleSpec, PolicySpec, RoutingRuleSpec, RoutingSpec
from service.paging.planning import PageState
from service.people.model import Channel
from tests.conftest import Running, serving
from tests.fakes import FakeClock, FakeNotifier
from tests.test_cli import tocsin


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
async def paging(
    tmp_path: Path, clock: FakeClock, notifier: FakeNotifier
) -> AsyncIterator[Running]:
    async with serving(tmp_path, clock, notifiers=dict.fromkeys(Channel, notifier)) as running:
        yield running


async def test_policies_routing_and_escalate_to_next(
    paging: Running, notifier: FakeNotifier
) -> None:
    async with paging.client() as client:
        await setup(client)
        spec = PolicySpec(
            "ops-policy",
            team="ops",
            rules=(
                EscalationRuleSpec(timedelta(), (("user", "alice"),)),
                EscalationRuleSpec(timedelta(minutes=10), (("user", "bob"),), "not-closed"),
            ),
            repeat=Repeat(timedelta(minutes=5), 2, reset_acknowledgement=True),
        )
        created = await client.create_policy(spec)
        assert created == spec
        with pytest.raises(AlreadyExists):
            await client.create_policy(spec)
        assert [p.name for p in await client.list_policies("ops")] == ["ops-policy"]
        routing = await client.set_routing(
            RoutingSpec(
                "ops",
                "Europe/Berlin",
                (RoutingRuleSpec("p1", "ops-policy", {"field": "priority", "op": "equals",
                                                      "value": "P1"}, ("mon 09:00-fri 17:00",)),),
                default_policy="ops-policy",
            )
        )  # fmt: skip
        assert routing.rules[0].windows == ("mon 09:00-fri 17:00",)
        assert await client.get_routing("ops") == routing
        with pytest.raises(FailedPrecondition, match="routing"):
            await client.delete_policy("ops-policy")

        alert = (await client.create_alert(NewAlert(message="m", owner_team="ops"))).alert
        await paging.server.engine.tick()
        assert notifier.sent_to() == [("alice", "email")]
        await client.escalate_to_next(str(alert.tiny_id))
        await paging.server.engine.tick()  # bob's rule, at once; his SMS comes a minute in
        paging.clock.advance(timedelta(minutes=1))
        await paging.server.engine.tick()
        assert notifier.sent_to()[-1] == ("bob", "sms")
        pages = await client.list_pages(str(alert.tiny_id))
        assert [(p.username, p.channel, p.state, p.alert_id) for p in pages] == [
            ("alice", Channel.EMAIL, PageState.DELIVERED, alert.id),
            ("bob", Channel.SMS, PageState.DELIVERED, alert.id),
        ]
        now = paging.clock.now()  # alice's email went at once, bob's SMS a minute later
        assert [p.sent_at for p in pages] == [now - timedelta(minutes=1), now]


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (EscalationRuleSpec(timedelta(), (("robot", "alice"),)), "rules[0].targets[0].kind"),
        (EscalationRuleSpec(timedelta(), (("user", "nobody"),)), "rules[0].targets[0].name"),
        (EscalationRuleSpec(timedelta(days=2), (("user", "alice"),)), "rules[0].delay"),
        (EscalationRuleSpec(timedelta(), ()), "rules[0].targets"),
        (EscalationRuleSpec(timedelta(), (("user", "alice"),), "sometimes"), "rules[0].condition"),
    ],
)
async def test_bad_policies_are_refused_naming_the_field(
    client: TocsinClient, rule: EscalationRuleSpec, field: str
) -> None:
    await client.create_user("alice")
    with pytest.raises(InvalidArgument) as caught:
        await client.create_policy(PolicySpec("p", rules=(rule,)))
    assert caught.value.field == field


async def test_policy_refusals_say_what_is_wrong(client: TocsinClient) -> None:
    await client.create_user("alice")
    later, sooner = (
        EscalationRuleSpec(d, (("user", "alice"),)) for d in (timedelta(minutes=5), timedelta())
    )
    with pytest.raises(InvalidArgument, match=r"\(0s is before 5m\)") as caught:
        await client.create_policy(PolicySpec("p", rules=(later, sooner)))
    assert caught.value.field == "rules[1].delay"
    for repeat in (Repeat(timedelta(minutes=10), 0), Repeat(timedelta(), 0, True)):
        with pytest.raises(InvalidArgument, match="only when the rules repeat") as caught:
            await client.create_policy(PolicySpec("p", rules=(sooner,), repeat=repeat))
        assert caught.value.field == "repeat.times"
    # Durations are written as they are typed, not as Python prints a timedelta.
    with pytest.raises(InvalidArgument, match=r"\(got 30s\): otherwise") as caught:
        await client.create_policy(
            PolicySpec("p", rules=(sooner,), repeat=Repeat(timedelta(seconds=30), 1))
        )
    assert caught.value.field == "repeat.after"
    closing = await client.create_policy(
        PolicySpec("p", rules=(sooner,), repeat=Repeat(timedelta(), 0, close_after_last=True))
    )
    assert closing.repeat is not None and closing.repeat.close_after_last


async def test_routing_windows_are_counted_before_they_are_read(client: TocsinClient) -> None:
    """Every alert of the team is matched against them: 150,000 froze each create."""
    await client.create_user("alice")
    await client.create_policy(
        PolicySpec("p", rules=(EscalationRuleSpec(timedelta(), (("user", "alice"),)),))
    )
    many = RoutingRuleSpec("r", "p", windows=("mon 09:00-mon 09:01",) * 150_000)
    with pytest.raises(InvalidArgument, match=r"at most 20 windows \(got 150,000\)") as caught:
        await client.set_routing(RoutingSpec("default", rules=(many,)))
    assert caught.value.field == "rules[0].windows"
    enough = RoutingRuleSpec("r", "p", windows=("mon 09:00-fri 17:00",) * 20)
    assert len((await client.set_routing(RoutingSpec("default", rules=(enough,)))).rules) == 1


async def test_an_update_changes_only_the_fields_it_names(client: TocsinClient) -> None:
    await setup(client)
    first = EscalationRuleSpec(timedelta(), (("user", "alice"),))
    spec = PolicySpec(
        "p", team="ops", description="d", rules=(first,), repeat=Repeat(timedelta(minutes=10), 2)
    )
    await client.create_policy(spec)
    renamed = await client.update_policy("p", PolicySpec("night"), ["name"])
    assert renamed == PolicySpec("night", "ops", "d", (first,), Repeat(timedelta(minutes=10), 2))
    second = EscalationRuleSpec(timedelta(minutes=5), (("user", "bob"),), "not-closed")
    ruled = await client.update_policy("night", PolicySpec("", rules=(first, second)), ["rules"])
    assert (ruled.rules, ruled.repeat) == ((first, second), renamed.repeat)
    # One part of the repeat: the others stay.
    more = PolicySpec("", repeat=Repeat(timedelta(), 5, reset_acknowledgement=True))
    repeated = await client.update_policy(
        "night", more, ["repeat.times", "repeat.reset_acknowledgement"]
    )
    assert repeated.repeat == Repeat(timedelta(minutes=10), 5, reset_acknowledgement=True)
    cleared = await client.update_policy("night", PolicySpec(""), ["repeat"])
    assert cleared.repeat is None and cleared.rules == (first, second)
    # The whole result is checked: a wait without repeats is refused, and nothing changes.
    with pytest.raises(InvalidArgument, match="repeat.times: must be 1 or more"):
        await client.update_policy(
            "night", PolicySpec("", repeat=Repeat(timedelta(minutes=5), 0)), ["repeat.after"]
        )
    with pytest.raises(
        InvalidArgument, match="update_mask: names no field of a policy: 'rule' \\(fields: name, "
    ):
        await client.update_policy("night", PolicySpec(""), ["rule"])
    with pytest.raises(InvalidArgument, match="name: "):
        await client.update_policy("night", PolicySpec(""), ["name"])
    assert await client.get_policy("night") == cleared
    # Without a mask, the spec replaces the policy (an empty team keeps its own).
    whole = await client.update_policy("night", PolicySpec("p", rules=(first,)))
    assert whole == PolicySpec("p", "ops", "", (first,), None)


async def setup(client: TocsinClient) -> None:
    await client.create_team("ops")
    await client.create_user("alice")
    await client.add_contact_method("alice", "email", "alice@example.com")
    await client.create_user("bob")
    await client.add_contact_method("bob", "sms", "+14155550102")


async def test_policies_and_routing_from_the_cli(running: Running, tmp_path: Path) -> None:
    async with running.client() as client:
        await setup(client)
    created = await tocsin(
        running, "policies", "create", "ops-policy", "--team", "ops",
        "--rule", "0 user:alice", "--rule", "5m schedule-next:nowhere",
    )  # fmt: skip
    assert created.code == 1 and "no schedule named 'nowhere'" in created.err
    created = await tocsin(
        running, "policies", "create", "ops-policy", "--team", "ops",
        "--rule", "0 user:alice", "--rule", "5m user:bob until-closed",
        "--repeat-after", "10m", "--repeat-times", "2",
    )  # fmt: skip
    assert created.code == 0, created.err
    # Durations as they were typed.
    assert "rule 2: after 5m, page user bob (until closed)" in created.out
    assert "repeat:  after 10m, 2 more time(s)" in created.out
    file = tmp_path / "routing.yaml"
    file.write_text(
        "time_zone: Europe/Berlin\n"
        "rules:\n"
        "  - {name: p1, policy: ops-policy, when: {field: priority, op: equals, value: P1}}\n"
        "default_policy: ops-policy\n"
    )
    routed = await tocsin(running, "routing", "set", "ops", "-f", str(file))
    assert routed.code == 0, routed.err
    assert "rule 1 p1: -> ops-policy when {field: priority, op: equals, value: P1}" in routed.out
    file.write_text("zone: Europe/Berlin\n")
    wrong = await tocsin(running, "routing", "set", "ops", "-f", str(file))
    assert wrong.code == 2 and f"{file}: zone: unknown key" in wrong.err  # found before a call
    made = await tocsin(
        running, "alerts", "create", "--message", "m", "--team", "ops", "--alias", "disk"
    )
    assert made.code == 0
    for named in (["1"], ["--alias", "disk", "--team", "ops"]):  # as every alert command
        pages = await tocsin(running, "alerts", "pages", *named)
        assert pages.code == 0, pages.err
        assert pages.out.split()[:7] == [
            "DUE",
            "SENT",
            "USER",
            "CHANNEL",
            "STATE",
            "TRIES",
            "DETAIL",
        ]
    escalated = await tocsin(running, "alerts", "escalate", "--alias", "disk", "--team", "ops")
    assert escalated.code == 0, escalated.err


async def test_policies_update_from_the_cli_changes_only_what_is_given(running: Running) -> None:
    async with running.client() as client:
        await setup(client)
    created = await tocsin(
        running, "policies", "create", "--name", "p", "--rule", "0 user:alice",
        "--repeat-after", "10m", "--repeat-times", "2", "--reset-acknowledgement",
    )  # fmt: skip
    assert created.code == 0, created.err

    async def shown(*args: str) -> dict[str, object]:
        result = await tocsin(running, "policies", "update", "p", *args, "--json")
        assert result.code == 0, result.err
        data = result.json()
        assert isinstance(data, dict)
        return data

    repeat = {
        "after_seconds": 600,
        "times": 2,
        "reset_acknowledgement": True,
        "close_after_last": False,
    }
    described = await shown("--description", "nights")
    assert (described["description"], described["repeat"]) == ("nights", repeat)
    assert (await shown("--repeat-times", "3"))["repeat"] == {**repeat, "times": 3}
    unreset = await shown("--no-reset-acknowledgement", "--rule", "1m user:bob")
    assert unreset["repeat"] == {**repeat, "times": 3, "reset_acknowledgement": False}
    rules = unreset["rules"]
    assert isinstance(rules, list) and [r["targets"] for r in rules] == [[["user", "bob"]]]
    cleared = await shown("--clear-repeat")
    assert cleared["repeat"] is None and cleared["description"] == "nights"
    nothing = await tocsin(running, "policies", "update", "p")
    assert nothing.code == 2 and nothing.err.startswith("error: nothing to change")
    both = await tocsin(running, "policies", "update", "p", "--clear-repeat", "--repeat-times", "1")
    assert both.code == 2 and "--clear-repeat" in both.err


async def test_values_out_of_range_are_invalid_arguments(running: Running) -> None:
    """What the typed client cannot send: durations no timedelta holds, conditions nested
    past what a decoder can follow."""
    async with running.client() as client:
        await client.create_user("alice")
        await client.create_policy(
            PolicySpec("p", rules=(EscalationRuleSpec(timedelta(), (("user", "alice"),)),))
        )
    huge = Duration(seconds=10**14)
    target = escalations_pb2.Target(kind="user", name="alice")
    deep_condition = '{"any": [' * 1_100 + "{}" + "]}" * 1_100
    async with grpc.aio.insecure_channel(running.target) as channel:
        stub = escalations_pb2_grpc.EscalationServiceStub(channel)
        auth = (("authorization", f"Bearer {running.token}"),)
        cases: list[tuple[Awaitable[object], str]] = [
            (
                stub.CreatePolicy(
                    escalations_pb2.Policy(
                        name="q",
                        rules=[escalations_pb2.EscalationRule(delay=huge, targets=[target])],
                    ),
                    metadata=auth,
                ),
                "rules[0].delay: must be at most 1 day (got 100,000,000,000,000 seconds)",
            ),
            (
                stub.CreatePolicy(
                    escalations_pb2.Policy(
                        name="q",
                        rules=[escalations_pb2.EscalationRule(targets=[target])],
                        repeat=escalations_pb2.Repeat(after=huge, times=1),
                    ),
                    metadata=auth,
                ),
                "repeat.after: must be at most 1 day",
            ),
        ]
        for when_json, refusal in (
            ("[" * 100_000, "rules[0].when_json: must be at most 20,000 characters"),
            ("[" * 2_000, "rules[0].when_json: must not nest deeper than 64 levels"),
            (deep_condition, "rules[0].when_json: must not nest deeper than 64 levels"),
            ('{"field": "x", "op": "less-than", "value": ' + "9" * 5000 + "}", "100 digits"),
        ):
            routing = escalations_pb2.TeamRouting(
                team="default",
                rules=[escalations_pb2.RoutingRule(name="r", policy="p", when_json=when_json)],
            )
            cases.append((stub.SetTeamRouting(routing, metadata=auth), refusal))
        for call, refusal in cases:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, refusal
            assert refusal in (caught.value.details() or "")

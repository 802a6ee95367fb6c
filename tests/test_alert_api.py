"""AlertService over real gRPC, through the typed client, against a running server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable
from datetime import timedelta
from pathlib import Path
from typing import cast

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from clients.client import TocsinClient, parse_ref
from protos.tocsin.v1 import alerts_pb2, alerts_pb2_grpc
from service.alerts.model import (
    AlertEvent,
    AlertFilter,
    AlertQuery,
    AlertRef,
    NewAlert,
    PagingPlan,
    PlannedStep,
    Priority,
    RefKind,
    Responder,
)
from service.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from service.core.validation import DESCRIPTION_MAX
from tests.conftest import Running, serving
from tests.fakes import FakeClock

UNKNOWN_PRIORITY = cast(alerts_pb2.Priority.ValueType, 9)


async def test_create_get_and_dedup(client: TocsinClient, running: Running) -> None:
    created = await client.create_alert(
        NewAlert(message="Disk full", alias="disk", priority=Priority.P2, tags=("disk",)),
        user="ana",
        note="seen in grafana",
    )
    assert not created.deduplicated
    alert = created.alert
    assert alert.tiny_id == 1 and alert.priority is Priority.P2 and alert.count == 1
    assert alert.created_at == running.clock.now()
    assert await client.get_alert(parse_ref("1")) == alert
    assert await client.get_alert(AlertRef(RefKind.ALIAS, "disk")) == alert

    running.clock.advance(timedelta(minutes=2))
    again = await client.create_alert(NewAlert(message="Disk full", alias="disk"))
    assert again.deduplicated and again.alert.id == alert.id and again.alert.count == 2
    assert again.alert.last_occurred_at == running.clock.now()

    log = (await client.activity(parse_ref(alert.id))).items
    assert [(e.action, e.actor, e.note) for e in log] == [
        ("created", "ana", "seen in grafana"),
        ("deduplicated", "admin", ""),  # no user given: the token's name
    ]


async def test_create_answers_whom_it_pages_and_refuses_unknown_responders(
    client: TocsinClient,
) -> None:
    created = await client.create_alert(NewAlert(message="Disk full"))
    assert created.paging == PagingPlan(
        "default on-call", (PlannedStep(timedelta(), ()),), "team default has no members"
    )
    await client.create_user("alice")
    await client.set_team_member("default", "alice")
    await client.create_user("bob")
    await client.add_contact_method("bob", "email", "bob@example.com")
    created = await client.create_alert(
        NewAlert(message="CPU hot", responders=(Responder("user", "bob"),))
    )
    assert created.paging is not None and not created.paging.nobody
    assert {user for step in created.paging.steps for user in step.users} == {"alice", "bob"}
    assert created.paging.unreachable == ("alice",)  # in the team, but nothing reaches her
    alone = await client.create_alert(NewAlert(message="Load high"))
    assert alone.paging is not None and alone.paging.nobody == "alice: no contact methods"
    with pytest.raises(InvalidArgument, match=r"responders\[1\]: no escalation named 'nope'"):
        await client.create_alert(
            NewAlert(
                message="m",
                responders=(Responder("user", "alice"), Responder("escalation", "nope")),
            )
        )


async def test_sixty_four_simultaneous_creates_make_one_alert(client: TocsinClient) -> None:
    results = await asyncio.gather(
        *(client.create_alert(NewAlert(message="storm", alias="storm")) for _ in range(64))
    )
    assert len({r.alert.id for r in results}) == 1
    assert sorted(r.alert.count for r in results) == list(range(1, 65))
    alert = await client.get_alert(AlertRef(RefKind.ALIAS, "storm"))
    assert alert.count == 64
    assert len((await client.activity(parse_ref(alert.id), page_size=1000)).items) == 64


async def test_invalid_input_names_field_and_limit(client: TocsinClient) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await client.create_alert(NewAlert(message="m" * 131))
    assert caught.value.field == "message"
    assert "at most 130 characters (got 131)" in caught.value.rule
    with pytest.raises(InvalidArgument, match="tags"):
        await client.create_alert(NewAlert(message="m", tags=tuple(str(i) for i in range(21))))
    with pytest.raises(InvalidArgument, match="user: must be at most 100"):
        await client.create_alert(NewAlert(message="m"), user="u" * 101)


async def test_raw_requests_with_bad_enums_and_missing_refs(running: Running) -> None:
    """What the typed client cannot send: unknown enum values, empty refs."""
    async with grpc.aio.insecure_channel(running.target) as channel:
        stub = alerts_pb2_grpc.AlertServiceStub(channel)
        auth = (("authorization", f"Bearer {running.token}"),)
        cases: list[tuple[Awaitable[object], str]] = [
            (
                stub.CreateAlert(
                    alerts_pb2.CreateAlertRequest(message="m", priority=UNKNOWN_PRIORITY),
                    metadata=auth,
                ),
                "priority",
            ),
            (stub.GetAlert(alerts_pb2.GetAlertRequest(), metadata=auth), "ref"),
            (
                stub.GetAlert(
                    alerts_pb2.GetAlertRequest(ref=alerts_pb2.AlertRef(id="")), metadata=auth
                ),
                "ref",
            ),
            (
                stub.SnoozeAlert(
                    alerts_pb2.SnoozeAlertRequest(ref=alerts_pb2.AlertRef(tiny_id="1")),
                    metadata=auth,
                ),
                "until",
            ),
            (
                stub.UpdatePriority(
                    alerts_pb2.UpdatePriorityRequest(ref=alerts_pb2.AlertRef(tiny_id="1")),
                    metadata=auth,
                ),
                "priority",
            ),
            (
                stub.ListAlerts(alerts_pb2.ListAlertsRequest(page_size=501), metadata=auth),
                "page_size",
            ),
            (
                stub.ListAlerts(
                    alerts_pb2.ListAlertsRequest(
                        filter=alerts_pb2.AlertFilter(
                            created_after=Timestamp(seconds=10**12)  # past the year 9999
                        )
                    ),
                    metadata=auth,
                ),
                "filter.created_after",
            ),
            (
                stub.SnoozeAlert(
                    alerts_pb2.SnoozeAlertRequest(
                        ref=alerts_pb2.AlertRef(tiny_id="1"), until=Timestamp(seconds=-(10**12))
                    ),
                    metadata=auth,
                ),
                "until",
            ),
        ]
        for call, field in cases:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert (caught.value.details() or "").startswith(field)


async def test_unknown_alert_is_not_found(client: TocsinClient) -> None:
    with pytest.raises(NotFound, match="no alert with id 'missing'"):
        await client.acknowledge(AlertRef(RefKind.ID, "missing"))
    with pytest.raises(NotFound):
        await client.get_alert(parse_ref("404"))


async def test_lifecycle_over_grpc(client: TocsinClient, running: Running) -> None:
    ref = parse_ref((await client.create_alert(NewAlert(message="m"))).alert.id)
    acked = await client.acknowledge(ref, user="ana")
    assert acked.changed and acked.alert.acknowledged and acked.alert.acknowledged_by == "ana"
    assert not (await client.acknowledge(ref)).changed
    assert not (await client.unacknowledge(ref)).alert.acknowledged
    with pytest.raises(FailedPrecondition, match="not acknowledged"):
        await client.unacknowledge(ref)

    until = running.clock.now() + timedelta(hours=1)
    assert (await client.snooze(ref, until)).alert.snoozed_until == until
    with pytest.raises(InvalidArgument, match="7 days"):
        await client.snooze(ref, running.clock.now() + timedelta(days=8))

    tagged = await client.add_tags(ref, ["a", "b"])
    assert tagged.alert.tags == ("a", "b")
    assert (await client.remove_tags(ref, ["a"])).alert.tags == ("b",)
    assert (await client.add_details(ref, {"k": "v", "x": "y"})).alert.details == {
        "k": "v",
        "x": "y",
    }
    assert (await client.remove_details(ref, ["x"])).alert.details == {"k": "v"}
    assert (await client.update_priority(ref, Priority.P1)).alert.priority is Priority.P1
    running.clock.advance(timedelta(minutes=3))
    noted = await client.add_note(ref, "looking")
    assert noted.changed and noted.alert.updated_at == running.clock.now()
    assert (await client.activity(ref)).items[-1].at == running.clock.now()
    with pytest.raises(InvalidArgument, match="note: is required"):
        await client.add_note(ref, "")

    closed = await client.close_alert(ref, note="fixed")
    assert closed.alert.status.value == "closed" and closed.alert.snoozed_until is None
    assert not (await client.close_alert(ref)).changed
    for refused in (client.acknowledge(ref), client.snooze(ref, until)):
        with pytest.raises(FailedPrecondition, match="closed"):
            await refused

    actions = [e.action for e in (await client.activity(ref)).items]
    assert actions == [
        "created",
        "acknowledged",
        "unacknowledged",
        "escalation restarted",  # unacknowledging pages again from the first rule
        "snoozed",
        "tags_added",
        "tags_removed",
        "details_added",
        "details_removed",
        "priority_updated",
        "note_added",
        "closed",
    ]


async def test_snooze_for_a_duration_uses_the_server_clock(
    client: TocsinClient, running: Running
) -> None:
    ref = parse_ref((await client.create_alert(NewAlert(message="m"))).alert.id)
    snoozed = await client.snooze(ref, timedelta(minutes=45))
    assert snoozed.alert.snoozed_until == running.clock.now() + timedelta(minutes=45)
    with pytest.raises(InvalidArgument, match="duration: must end in the future"):
        await client.snooze(ref, timedelta(0))


async def test_acknowledging_ends_a_snooze(client: TocsinClient, running: Running) -> None:
    ref = parse_ref((await client.create_alert(NewAlert(message="m"))).alert.id)
    await client.snooze(ref, running.clock.now() + timedelta(minutes=10))
    assert (await client.acknowledge(ref)).alert.snoozed_until is None


async def test_snooze_end_reopens_unacknowledged(client: TocsinClient, running: Running) -> None:
    ref = parse_ref((await client.create_alert(NewAlert(message="m"))).alert.id)
    await client.acknowledge(ref)
    await client.snooze(ref, running.clock.now() + timedelta(minutes=10))
    running.clock.advance(timedelta(minutes=9))
    assert (await running.server.engine.tick()).snoozes_ended == 0
    assert (await client.get_alert(ref)).acknowledged
    running.clock.advance(timedelta(minutes=1))
    assert (await running.server.engine.tick()).snoozes_ended == 1
    alert = await client.get_alert(ref)
    assert not alert.acknowledged and alert.snoozed_until is None
    assert alert.status.value == "open"
    entries = [(e.action, e.actor) for e in (await client.activity(ref)).items]
    ended = entries.index(("snooze_ended", "system"))
    # Whoever is on call now is paged: the default team has nobody, and the log says so.
    assert entries[ended + 1 : ended + 4] == [
        ("escalation restarted", "tocsin"),
        ("escalated", "tocsin"),
        ("nobody to page", "tocsin"),
    ]
    assert (await running.server.engine.tick()).snoozes_ended == 0


async def test_list_with_filter_sort_and_pages(client: TocsinClient, running: Running) -> None:
    for i in range(7):
        running.clock.advance(timedelta(seconds=1))
        await client.create_alert(NewAlert(message=f"alert {i}", priority=Priority((i % 5) + 1)))
    page = await client.list_alerts(AlertQuery(page_size=3))
    assert [a.message for a in page.items] == ["alert 6", "alert 5", "alert 4"]
    seen = list(page.items)
    while page.next_page_token:
        page = await client.list_alerts(AlertQuery(page_size=3, page_token=page.next_page_token))
        seen.extend(page.items)
    assert [a.message for a in seen] == [f"alert {i}" for i in range(6, -1, -1)]
    urgent = await client.list_alerts(
        AlertQuery(filter=AlertFilter(priorities=frozenset({Priority.P1})), descending=False)
    )
    assert [a.message for a in urgent.items] == ["alert 0", "alert 5"]


async def test_a_page_of_large_alerts_fits_in_a_client_message(client: TocsinClient) -> None:
    # 100 alerts of 45 KB (15,000 three-byte characters) are over the 4 MiB a client takes.
    description = "€" * DESCRIPTION_MAX
    for i in range(100):
        await client.create_alert(NewAlert(message=f"large {i}", description=description))
    page = await client.list_alerts(AlertQuery(page_size=100))
    assert 0 < len(page.items) < 100 and page.next_page_token
    seen = list(page.items)
    while page.next_page_token:
        page = await client.list_alerts(AlertQuery(page_size=100, page_token=page.next_page_token))
        seen.extend(page.items)
    assert sorted(a.message for a in seen) == sorted(f"large {i}" for i in range(100))
    assert all(a.description == description for a in seen)


async def test_watch_streams_changes_and_resumes(client: TocsinClient) -> None:
    events: list[AlertEvent] = []

    async def watch(limit: int, resume: str) -> None:
        async for event in client.watch(resume_cursor=resume):
            events.append(event)
            if len(events) == limit:
                return

    watcher = asyncio.create_task(watch(3, "0"))  # from the very beginning
    alert = (await client.create_alert(NewAlert(message="watched"))).alert
    await client.acknowledge(parse_ref(alert.id))
    await client.close_alert(parse_ref(alert.id))
    await asyncio.wait_for(watcher, 10)
    assert [e.entry.action for e in events] == ["created", "acknowledged", "closed"]
    assert all(e.alert.id == alert.id for e in events)

    # Resuming after the first event replays exactly what followed it.
    first_cursor = str(events[0].entry.seq)
    events.clear()
    await asyncio.wait_for(watch(2, first_cursor), 10)
    assert [e.entry.action for e in events] == ["acknowledged", "closed"]


async def test_watch_streams_are_limited_per_token_and_in_all(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with (
        serving(tmp_path, clock, max_watch_streams=3, max_watch_streams_per_token=2) as running,
        running.client() as admin,
    ):
        _, other_secret = await admin.create_token("other")
        await admin.create_alert(NewAlert(message="watched"))
        async with running.client(other_secret) as other:

            async def opened(client: TocsinClient) -> AsyncGenerator[AlertEvent, None]:
                stream = client.watch(resume_cursor="0")
                await anext(stream)  # the alert's creation: the stream is under way
                return stream

            streams = [await opened(admin), await opened(admin)]
            with pytest.raises(ResourceExhausted, match="2 watch streams open, the limit per"):
                await opened(admin)
            streams.append(await opened(other))  # another token's first: three in all
            with pytest.raises(ResourceExhausted, match="max_watch_streams\\)"):
                await opened(other)
            await streams.pop().aclose()  # the call ends; its slot frees once the server sees
            for _ in range(100):
                if running.server.watch_streams.open < 3:
                    break
                await asyncio.sleep(0.05)
            streams.append(await opened(other))
            for stream in streams:
                await stream.aclose()


async def test_watch_from_now_skips_the_past(client: TocsinClient) -> None:
    before = (await client.create_alert(NewAlert(message="before"))).alert
    stream = client.watch()

    async def next_event() -> AlertEvent:
        return await anext(stream)

    first = asyncio.create_task(next_event())
    while not first.done():  # keep changing things until the new stream sees one
        await client.create_alert(NewAlert(message="after"))
        await asyncio.wait({first}, timeout=0.05)
    event = first.result()
    assert event.alert.message == "after" and event.alert.id != before.id
    await stream.aclose()


async def test_watch_filters_by_team(client: TocsinClient) -> None:
    await client.create_team("ops")
    stream = client.watch(resume_cursor="0", team="ops")
    await client.create_alert(NewAlert(message="default team"))
    ops_alert = (await client.create_alert(NewAlert(message="ops", owner_team="ops"))).alert
    event = await asyncio.wait_for(anext(stream), 10)
    assert event.alert.id == ops_alert.id
    await stream.aclose()
    with pytest.raises(NotFound):
        await anext(client.watch(team="ghost"))


async def test_watch_streams_end_unavailable_when_the_server_stops(
    client: TocsinClient, running: Running
) -> None:
    stream = client.watch(resume_cursor="0")
    await client.create_alert(NewAlert(message="m"))
    first = await asyncio.wait_for(anext(stream), 10)
    stopping = asyncio.create_task(running.server.stop())
    with pytest.raises(Unavailable, match=f"resume the watch after cursor {first.entry.seq}"):
        await asyncio.wait_for(anext(stream), 10)
    await stopping


async def test_watch_rejects_a_bad_cursor(client: TocsinClient) -> None:
    for cursor in ("yesterday", "99999999999999999999", "-1"):
        with pytest.raises(InvalidArgument, match="resume_cursor"):
            async for _ in client.watch(resume_cursor=cursor):
                pass


async def test_every_call_needs_a_valid_token(running: Running) -> None:
    async with running.client(token="tocsin_wrong") as wrong:
        with pytest.raises(Unauthenticated, match="unknown or revoked"):
            await wrong.create_alert(NewAlert(message="m"))
        with pytest.raises(Unauthenticated):
            async for _ in wrong.watch():
                pass
    async with grpc.aio.insecure_channel(running.target) as channel:
        stub = alerts_pb2_grpc.AlertServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListAlerts(alerts_pb2.ListAlertsRequest())
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert "authorization" in (caught.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListAlerts(
                alerts_pb2.ListAlertsRequest(), metadata=(("authorization", "Basic x"),)
            )
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_snooze_durations_past_what_a_time_can_hold(running: Running) -> None:
    async with running.client() as client:
        created = await client.create_alert(NewAlert(message="m"))
    ref = alerts_pb2.AlertRef(id=created.alert.id)
    async with grpc.aio.insecure_channel(running.target) as channel:
        stub = alerts_pb2_grpc.AlertServiceStub(channel)
        auth = (("authorization", f"Bearer {running.token}"),)
        for seconds in (10**14, -(10**14), 10**9):
            request = alerts_pb2.SnoozeAlertRequest(ref=ref, duration=Duration(seconds=seconds))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.SnoozeAlert(request, metadata=auth)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert f"duration: must be at most 7 days (got {seconds:,} seconds)" == (
                caught.value.details()
            )
        # Not a Duration at all: nanos of the other sign, or of a second or more.
        for seconds, nanos in ((60, -5), (-60, 5), (0, 1_000_000_000)):
            request = alerts_pb2.SnoozeAlertRequest(
                ref=ref, duration=Duration(seconds=seconds, nanos=nanos)
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.SnoozeAlert(request, metadata=auth)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert (caught.value.details() or "").startswith("duration: must be a valid Duration")

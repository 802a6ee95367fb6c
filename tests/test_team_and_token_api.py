"""TeamService and TokenService over real gRPC."""

from __future__ import annotations

import asyncio
import logging

import pytest

from clients.client import TocsinClient, parse_ref
from service.alerts.model import NewAlert
from service.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from tests.conftest import Running
from tests.fakes import FakeClock


async def test_default_team_exists_from_the_start(client: TocsinClient, clock: FakeClock) -> None:
    assert [t.name for t in await client.list_teams()] == ["default"]
    default = await client.get_team("default")
    assert default.id == "default"
    assert default.created_at == clock.now()  # made with the database, not in 1970


async def test_team_lifecycle(client: TocsinClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tocsin.audit")
    ops = await client.create_team("ops", "Operations")
    assert (ops.name, ops.description) == ("ops", "Operations")
    assert f"team created by admin: team='ops', team_id='{ops.id}'" in caplog.messages
    with pytest.raises(AlreadyExists, match="'OPS' already exists"):
        await client.create_team("OPS")
    with pytest.raises(InvalidArgument, match="name: may hold only"):
        await client.create_team("two words")
    assert await client.get_team(ops.id) == ops
    renamed = await client.rename_team("ops", "platform")
    assert renamed.id == ops.id and renamed.name == "platform"
    with pytest.raises(NotFound):
        await client.get_team("ops")
    alert = (await client.create_alert(NewAlert(message="m", owner_team="platform"))).alert
    assert alert.owner_team == "platform"
    with pytest.raises(FailedPrecondition, match=r"still has 1 alert\(s\), 0 integration"):
        await client.delete_team("platform")
    empty = await client.create_team("empty")
    await client.delete_team(empty.name)
    assert [t.name for t in await client.list_teams()] == ["default", "platform"]
    with pytest.raises(FailedPrecondition, match="default team cannot be deleted"):
        await client.delete_team("default")


async def test_tokens_create_authenticate_and_revoke(
    client: TocsinClient, running: Running
) -> None:
    info, secret = await client.create_token("ci")
    assert secret.startswith("tocsin_") and len(secret) > 40
    async with running.client(secret) as ci:
        created = await ci.create_alert(NewAlert(message="from ci"))
        log = (await ci.activity(parse_ref(created.alert.id))).items
        assert log[0].actor == "ci"  # the token's name is the default actor
        assert sorted(t.name for t in await ci.list_tokens()) == ["admin", "ci"]
        await client.revoke_token(info.id)
        # The revoking replica forgets the token at once.
        with pytest.raises(Unauthenticated):
            await ci.list_teams()
    revoked = {t.id: t for t in await client.list_tokens()}[info.id]
    assert revoked.revoked_at is not None
    with pytest.raises(NotFound):
        await client.revoke_token("no-such-token")
    with pytest.raises(InvalidArgument, match="name: is required"):
        await client.create_token("")


async def test_the_caller_token_is_the_one_the_call_is_made_with(
    client: TocsinClient, running: Running
) -> None:
    (admin,) = await client.list_tokens()
    assert await client.caller_token() == admin
    info, secret = await client.create_token("ci")
    async with running.client(secret) as ci:
        assert await ci.caller_token() == info


async def test_two_active_tokens_may_not_share_a_name(client: TocsinClient) -> None:
    # At once: the second must see the first even while it is being committed.
    results = await asyncio.gather(
        *(client.create_token("deploy") for _ in range(4)), return_exceptions=True
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AlreadyExists)]
    assert (len(made), len(refused)) == (1, 3), results
    assert "an active token named 'deploy' already exists" in str(refused[0])
    with pytest.raises(AlreadyExists, match="name: an active token named 'admin'"):
        await client.create_token("admin")
    with pytest.raises(AlreadyExists, match="an active token named 'deploy' already"):
        await client.create_token("DEPLOY")  # the same name to anyone reading the log
    # A revoked token's name is free again.
    await client.revoke_token(made[0][0].id)
    again, _ = await client.create_token("deploy")
    active = sorted(t.name for t in await client.list_tokens() if t.revoked_at is None)
    assert active == ["admin", "deploy"]
    assert again.id != made[0][0].id


async def test_the_last_active_token_cannot_be_revoked(client: TocsinClient) -> None:
    (admin,) = await client.list_tokens()
    with pytest.raises(FailedPrecondition, match="last active token"):
        await client.revoke_token(admin.id)

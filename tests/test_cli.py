"""The `tocsin` CLI through its real console script, against a running server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.alerts.model import NewAlert
from tests.conftest import Running, serving
from tests.fakes import FakeClock

TOCSIN = str(Path(sys.executable).with_name("tocsin"))


@pytest.fixture
async def running(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    """One backend is enough: the console script only speaks gRPC, and each run costs a
    process start."""
    async with serving(tmp_path, clock) as server:
        yield server


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


async def tocsin(running: Running, *args: str, env: dict[str, str] | None = None) -> Result:
    environment = {**os.environ, "TOCSIN_SERVER": running.target, **(env or {})}
    environment.setdefault("TOCSIN_DATA_DIR", str(running.data_dir))
    process = await asyncio.create_subprocess_exec(
        TOCSIN,
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def test_create_list_get_and_log(running: Running) -> None:
    created = await tocsin(
        running,
        "alerts", "create", "--message", "Disk full on db-1", "--alias", "disk-db1",
        "--priority", "P2", "--tag", "disk", "--detail", "host=db-1", "--entity", "db-1",
        "--source", "cli", "--responder", "team:default", "--json",
    )  # fmt: skip
    assert created.code == 0, created.err
    data = created.json()
    assert isinstance(data, dict)
    alert = data["alert"]
    assert alert["priority"] == "P2" and alert["details"] == {"host": "db-1"}
    assert data["deduplicated"] is False
    assert data["paging"]["nobody"] == "team default has no members"

    again = await tocsin(
        running, "alerts", "create", "--message", "Disk full", "--alias", "disk-db1"
    )
    assert again.code == 0
    assert "deduplicated into alert #1 (count 2)" in again.out
    assert "paging: nobody anew" in again.out

    listed = await tocsin(running, "alerts", "list")
    assert listed.code == 0
    header, row = listed.out.splitlines()
    assert header.split() == ["TINY", "STATE", "P", "COUNT", "TEAM", "CREATED", "MESSAGE"]
    assert row.split()[:5] == ["1", "open", "P2", "2", "default"]

    shown = await tocsin(running, "alerts", "get", "--alias", "disk-db1")
    assert "Message:       Disk full on db-1" in shown.out
    assert "host = db-1" in shown.out

    log = await tocsin(running, "alerts", "log", "1", "--json")
    assert [e["action"] for e in log.json()] == ["created", "deduplicated"]  # type: ignore[attr-defined]


async def test_create_says_who_will_be_paged_or_that_nobody_will(running: Running) -> None:
    first = await tocsin(running, "alerts", "create", "--message", "m")
    assert first.code == 0, first.err
    assert "paging: nobody will be paged: team default has no members" in first.out
    assert (await tocsin(running, "users", "create", "alice")).code == 0
    assert (await tocsin(running, "teams", "add-member", "default", "alice")).code == 0
    unreachable = await tocsin(running, "alerts", "create", "--message", "n")
    assert "paging: nobody will be paged: alice: no contact methods" in unreachable.out
    contact = ("--channel", "email", "--address", "alice@example.com")
    assert (await tocsin(running, "users", "add-contact", "alice", *contact)).code == 0
    second = await tocsin(running, "alerts", "create", "--message", "n")
    assert "paging: alice now (policy: default on-call)" in second.out
    refused = await tocsin(
        running, "alerts", "create", "--message", "o", "--responder", "user:nosuch"
    )
    assert refused.code != 0
    assert "responders[0]: no user named 'nosuch'" in refused.err


async def test_list_fills_its_limit_from_pages_that_fit_in_a_message(running: Running) -> None:
    # 45 KB each: the server sends these a few MiB at a time, under the client's 4 MiB.
    async with running.client() as client:
        for i in range(100):
            await client.create_alert(NewAlert(message=f"large {i}", description="€" * 15_000))
    listed = await tocsin(running, "alerts", "list", "--limit", "90", "--json")
    assert listed.code == 0, listed.err
    data = listed.json()
    assert isinstance(data, dict)
    assert len(data["alerts"]) == 90 and data["next_page_token"]


async def test_actions_by_tiny_id(running: Running) -> None:
    assert (await tocsin(running, "alerts", "create", "--message", "m")).code == 0
    steps = [
        (["ack", "1", "--note", "on it"], "alert #1: acknowledged"),
        (["ack", "1"], "already acknowledged; nothing changed"),
        (["unack", "1"], "alert #1: unacknowledged"),
        (["snooze", "1", "--for", "30m"], "alert #1: snoozed"),
        (["tag", "1", "--tag", "a", "--tag", "b"], "alert #1: tagged"),
        (["untag", "1", "--tag", "a"], "alert #1: untagged"),
        (["detail", "1", "--set", "k=v", "x=y"], "details updated"),
        (["detail", "1", "--remove", "x"], "details updated"),
        (["priority", "1", "--level", "p1"], "alert #1: priority set"),
        (["note", "1", "--text", "hello"], "alert #1: note added"),
        (["close", "#1", "--user", "ana"], "alert #1: closed"),
    ]
    for args, expected in steps:
        result = await tocsin(running, "alerts", *args)
        assert result.code == 0, (args, result.err)
        assert expected in result.out, (args, result.out)
    got = (await tocsin(running, "alerts", "get", "1", "--json")).json()
    assert isinstance(got, dict) and set(got) == {"alert"}  # as create and ack print it
    alert = got["alert"]
    assert alert["status"] == "closed" and alert["closed_by"] == "ana"
    assert alert["tags"] == ["b"] and alert["details"] == {"k": "v"} and alert["priority"] == "P1"


async def test_errors_are_one_line_and_non_zero(running: Running) -> None:
    missing = await tocsin(running, "alerts", "ack", "999")
    assert missing.code == 1
    assert missing.err == "error: no alert with tiny_id '999'\n"

    too_long = await tocsin(running, "alerts", "create", "--message", "x" * 131)
    assert too_long.code == 1
    assert (
        too_long.err.strip() == "error: invalid message: must be at most 130 characters (got 131)"
    )

    await tocsin(running, "alerts", "create", "--message", "m")
    await tocsin(running, "alerts", "close", "1")
    closed = await tocsin(running, "alerts", "ack", "1")
    assert (closed.code, closed.err.strip()) == (
        1,
        "error: alert 1 is closed, so it cannot be acknowledged",
    )

    bad_priority = await tocsin(running, "alerts", "create", "--message", "m", "--priority", "P9")
    assert bad_priority.code == 2 and "P1..P5" in bad_priority.err
    assert bad_priority.err.startswith("error: ") and bad_priority.err.count("\n") == 1

    no_token = await tocsin(running, "teams", "list", env={"TOCSIN_DATA_DIR": "/nonexistent"})
    assert no_token.code == 2 and no_token.err.startswith("error: no token")

    wrong = await tocsin(running, "teams", "list", "--token", "tocsin_nope")
    assert (wrong.code, wrong.err.strip()) == (1, "error: the token is unknown or revoked")

    down = await tocsin(running, "teams", "list", "--server", "127.0.0.1:1", "--timeout", "2")
    assert down.code == 1 and down.err.startswith("error: the Tocsin service is unavailable")


async def test_teams_and_tokens(running: Running) -> None:
    assert (await tocsin(running, "teams", "create", "ops", "--description", "Ops")).code == 0
    teams = (await tocsin(running, "--json", "teams", "list")).json()  # options go either side
    assert [t["name"] for t in teams] == ["default", "ops"]  # type: ignore[attr-defined]
    got = await tocsin(running, "teams", "get", "ops")
    assert got.out.split()[4:5] == ["ops"]
    assert (await tocsin(running, "teams", "rename", "ops", "platform")).code == 0
    deleted = await tocsin(running, "teams", "delete", "platform")
    assert deleted.out == "deleted team platform\n"

    made = (await tocsin(running, "tokens", "create", "ci", "--json")).json()
    assert isinstance(made, dict)
    secret, token_id = made["token"], made["info"]["id"]
    as_ci = await tocsin(
        running, "alerts", "create", "--message", "m", "--json", env={"TOCSIN_TOKEN": secret}
    )
    assert as_ci.code == 0
    listed = await tocsin(running, "tokens", "list")
    assert "ci" in listed.out and "active" in listed.out
    assert (
        await tocsin(running, "tokens", "revoke", token_id)
    ).out == f"revoked token {token_id}\n"
    refused = await tocsin(running, "teams", "list", env={"TOCSIN_TOKEN": secret})
    assert refused.code == 1
    twin = await tocsin(running, "tokens", "create", "admin")
    assert (twin.code, twin.err) == (
        1,
        "error: name: an active token named 'admin' already exists (changes made with a "
        "token are recorded under its name); choose another name or revoke that one\n",
    )


async def test_revoking_the_token_in_use_needs_force(running: Running) -> None:
    made = (await tocsin(running, "tokens", "create", "ci", "--json")).json()
    assert isinstance(made, dict)
    secret, ci_id = made["token"], made["info"]["id"]
    tokens = (await tocsin(running, "tokens", "list", "--json")).json()
    assert isinstance(tokens, list)
    admin_id = next(t["id"] for t in tokens if t["name"] == "admin")
    from_file = await tocsin(running, "tokens", "revoke", admin_id)
    assert from_file.code == 1
    assert from_file.err == (
        f"error: token {admin_id} (admin) is the one this command runs with (from "
        f"{running.data_dir / 'admin-token'}): once revoked, every command made with it "
        "fails; pass --force to revoke it anyway\n"
    )
    by_env = await tocsin(running, "tokens", "revoke", ci_id, env={"TOCSIN_TOKEN": secret})
    assert by_env.code == 1 and "(from TOCSIN_TOKEN)" in by_env.err
    by_flag = await tocsin(running, "tokens", "revoke", ci_id, "--token", secret)
    assert by_flag.code == 1 and "(from --token)" in by_flag.err
    assert (await tocsin(running, "teams", "list", "--token", secret)).code == 0  # still works
    # Another token is revoked without a question; this one, with --force.
    forced = await tocsin(running, "tokens", "revoke", ci_id, "--force", "--token", secret)
    assert (forced.code, forced.out) == (0, f"revoked token {ci_id}\n")
    assert (await tocsin(running, "teams", "list", "--token", secret)).code == 1


async def test_integrations(running: Running) -> None:
    made = await tocsin(
        running,
        "integrations", "create", "aws-prod", "--type", "cloudtrail",
        "--topic-arn", "arn:aws:sns:us-west-2:123456789012:MyTopic", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    data = made.json()
    assert isinstance(data, dict)
    assert data["url"] == f"{data['url'].split('?')[0]}?apiKey={data['api_key']}"
    # This server has no public_url: its URL is one only this machine reaches, and SNS not.
    assert data["url"].startswith("http://127.0.0.1:")
    assert made.err.startswith("warning: this URL names 127.0.0.1, which Amazon SNS cannot ")
    assert "public_url (TOCSIN_PUBLIC_URL)" in made.err and made.err.count("\n") == 1
    assert data["url"].split("?")[0].endswith(f"/v1/sns/{data['id']}")
    got = (await tocsin(running, "integrations", "get", "aws-prod", "--json")).json()
    assert isinstance(got, dict) and isinstance(shown := got["integration"], dict)
    assert shown["owner_team"] == "default"
    assert "owner_team_id" not in shown and "assignee_team_id" not in shown  # not sent
    listed = await tocsin(running, "integrations", "list")
    assert "aws-prod" in listed.out and "cloudtrail" in listed.out and "apiKey" not in listed.out
    assert (await tocsin(running, "integrations", "disable", "aws-prod")).out == (
        "integration aws-prod: disabled\n"
    )
    await tocsin(running, "teams", "create", "sec")
    updated = await tocsin(
        running, "integrations", "update", "aws-prod", "--assignee-team", "sec",
        "--type", "sns", "--json",
    )  # fmt: skip
    assert updated.code == 0, updated.err
    changed = updated.json()
    assert isinstance(changed, dict) and changed["url"] == data["url"].split("?")[0]
    assert isinstance(after := changed["integration"], dict)
    assert (after["assignee_team"], after["type"], after["topic_arns"]) == (
        "sec", "sns", ["arn:aws:sns:us-west-2:123456789012:MyTopic"],
    )  # fmt: skip
    unchanged = await tocsin(running, "integrations", "update", "aws-prod", "--clear-topic-arns")
    assert unchanged.code == 0 and "URL and API key are unchanged" in unchanged.out
    nothing = await tocsin(running, "integrations", "update", "aws-prod")
    assert nothing.code == 2 and nothing.err.startswith("error: nothing to change")
    rotated = await tocsin(running, "integrations", "rotate-key", "aws-prod")
    assert "shown only now" in rotated.out and "apiKey=tocsin_ik_" in rotated.out
    assert rotated.err.startswith("warning: this URL names 127.0.0.1")
    assert (await tocsin(running, "integrations", "delete", "aws-prod")).code == 0
    gone = await tocsin(running, "integrations", "get", "aws-prod")
    assert (gone.code, gone.err) == (1, "error: no integration named 'aws-prod'\n")


async def test_integration_rules_from_a_file(running: Running, tmp_path: Path) -> None:
    await tocsin(running, "integrations", "create", "aws", "--type", "sns")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- action: create\n- action: close\n  when: {field: a, op: near, value: 1}\n")
    refused = await tocsin(running, "integrations", "set-rules", "aws", "-f", str(bad))
    assert refused.code == 1
    assert refused.err.startswith(f"error: invalid {bad}: rules[1].when.op: must be one of")
    good = tmp_path / "good.yaml"
    good.write_text("- action: create\n  alert: {message: 'deploy: {{message}}', priority: P2}\n")
    assert (await tocsin(running, "integrations", "set-rules", "aws", "-f", str(good))).code == 0
    shown = await tocsin(running, "integrations", "get-rules", "aws")
    assert "deploy: {{message}}" in shown.out
    tried = await tocsin(running, "integrations", "test-rules", "aws", "--message", "v42 is out")
    assert tried.out.splitlines() == [
        "matched: rules[0]",
        "create: [P2] deploy: v42 is out (alias sns:rule-test)",
    ]


async def test_watch_prints_events_as_json_lines(running: Running) -> None:
    environment = {
        **os.environ,
        "TOCSIN_SERVER": running.target,
        "TOCSIN_DATA_DIR": str(running.data_dir),
    }
    watcher = await asyncio.create_subprocess_exec(
        TOCSIN, "alerts", "watch", "--resume", "0", "--json",
        env=environment, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await tocsin(running, "alerts", "create", "--message", "watch me")
        assert watcher.stdout is not None
        line = await asyncio.wait_for(watcher.stdout.readline(), 30)
        event = json.loads(line)
        assert event["entry"]["action"] == "created"
        assert event["alert"]["message"] == "watch me"
        assert event["cursor"] == str(event["entry"]["seq"])
    finally:
        watcher.terminate()
        await watcher.wait()


def test_client_commands_start_without_the_server_side() -> None:
    """The service's own parts (database drivers, migrations, the HTTP stack, providers) are
    imported only by serve, server, shim and migrate, so a client command starts quickly."""
    program = (
        "import sys\n"
        "from app import main\n"
        "main.build_parser().parse_args(['alerts', 'list'])\n"
        "print('\\n'.join(sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(done.stdout.split())
    assert "clients.cli.alerts" in loaded  # the check sees what the CLI loads
    server_side = {
        "psycopg",
        "psycopg_pool",
        "sqlite3",
        "aiohttp",
        "cryptography",
        "service.db.migrations",
        "app.server",
        "service.core.database",
        "adapters.registry",
        "clients.manifest.plan",
        "edge.shim",
    }
    assert loaded & server_side == set()


async def test_ctrl_c_ends_a_command_without_a_traceback(running: Running) -> None:
    environment = {
        **os.environ,
        "TOCSIN_SERVER": running.target,
        "TOCSIN_DATA_DIR": str(running.data_dir),
    }
    watcher = await asyncio.create_subprocess_exec(
        TOCSIN, "alerts", "watch", "--resume", "0",
        env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert watcher.stdout is not None
    await tocsin(running, "alerts", "create", "--message", "watch me")
    line = (await asyncio.wait_for(watcher.stdout.readline(), 30)).decode()
    assert re.search(r"  \[--resume \d+\]$", line), line  # what to type to continue after it
    watcher.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(watcher.communicate(), 30)
    assert (watcher.returncode, err.decode()) == (130, "")


async def test_alert_log_wide_shows_changes_whole(running: Running) -> None:
    assert (await tocsin(running, "alerts", "create", "--message", "m")).code == 0
    value = "v" * 100
    assert (await tocsin(running, "alerts", "detail", "1", "--set", f"k={value}")).code == 0
    cut = await tocsin(running, "alerts", "log", "1")
    assert value not in cut.out and "…" in cut.out
    wide = await tocsin(running, "alerts", "log", "1", "--wide")
    assert wide.code == 0 and f"'k': {value!r}" in wide.out and "…" not in wide.out

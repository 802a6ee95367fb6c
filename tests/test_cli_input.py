"""What the `tocsin` CLI does with what is typed: JSON for every value, files it cannot use,
repeated options, and values it must refuse (exit status 2, naming the option)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app import main as cli
from clients.cli import render
from clients.cli.examples import EXAMPLES
from tests.conftest import Running, serving
from tests.fakes import FakeClock
from tests.test_cli import Result, tocsin


@pytest.fixture
async def running(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with serving(tmp_path, clock) as server:
        yield server


async def schedule(running: Running) -> None:
    assert (await tocsin(running, "users", "create", "ann")).code == 0
    created = await tocsin(
        running, "schedules", "create", "web", "--time-zone", "UTC", "--rotation", "r",
        "--type", "daily", "--start", "2026-03-02T09:00", "--participants", "ann",
    )  # fmt: skip
    assert created.code == 0, created.err


def usage_error(result: Result, *fragments: str) -> None:
    """Refused before any call: one `error:` line, exit status 2."""
    assert result.code == 2, (result.code, result.err)
    assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)


def test_durations_are_json_seconds_under_a_key_that_says_so() -> None:
    data = {"wait": timedelta(minutes=5), "items": [timedelta(seconds=1.5)], "name": "x"}
    assert render.plain(data) == {"wait_seconds": 300, "items": [1.5], "name": "x"}


async def test_policies_as_json(running: Running) -> None:
    assert (await tocsin(running, "users", "create", "alice")).code == 0
    rules = ["--rule", "0 user:alice", "--rule", "90s user:alice until-closed"]
    created = await tocsin(
        running, "--json", "policies", "create", "p", *rules,
        "--repeat-after", "10m", "--repeat-times", "2",
    )  # fmt: skip
    assert created.code == 0, created.err
    policy = created.json()
    assert isinstance(policy, dict)
    assert [r["delay_seconds"] for r in policy["rules"]] == [0, 90]
    assert policy["repeat"]["after_seconds"] == 600 and policy["repeat"]["times"] == 2
    assert (await tocsin(running, "policies", "get", "p", "--json")).json() == policy
    assert (await tocsin(running, "policies", "list", "--json")).json() == [policy]
    updated = await tocsin(
        running, "policies", "update", "p", "--name", "p", "--rule", "2h user:alice", "--json"
    )
    assert updated.code == 0, updated.err
    rule = {**policy["rules"][0], "delay_seconds": 7200}
    assert updated.json() == {**policy, "rules": [rule]}  # the repeat, not given, stays


async def test_policy_repeat_options_are_never_dropped(running: Running) -> None:
    assert (await tocsin(running, "teams", "create", "ops")).code == 0
    assert (await tocsin(running, "users", "create", "alice")).code == 0
    rule = ["--rule", "0 user:alice"]
    made = await tocsin(running, "policies", "create", "p", "--team", "ops", *rule)
    assert made.code == 0, made.err
    # A reset of the acknowledgement with no repeat to reset it for is refused, not dropped.
    reset = await tocsin(
        running, "policies", "update", "p", "--name", "p", *rule, "--reset-acknowledgement"
    )
    assert reset.code == 1 and "repeat.times" in reset.err
    closing = await tocsin(
        running, "--json", "policies", "update", "p", "--name", "p", *rule, "--close-after-last"
    )
    assert closing.code == 0, closing.err
    policy = closing.json()
    assert isinstance(policy, dict) and policy["repeat"]["close_after_last"] is True
    assert policy["team"] == "ops"  # an update naming no team keeps the policy's


async def test_files_that_cannot_be_read_or_written(running: Running, tmp_path: Path) -> None:
    await schedule(running)
    missing = str(tmp_path / "missing.yaml")
    nowhere = str(tmp_path / "no-such-directory" / "out")
    for args in (
        ["routing", "set", "default", "-f", missing],
        ["apply", "-f", missing],
        ["integrations", "set-rules", "aws", "-f", missing],
        ["integrations", "test-rules", "aws", "--message-file", missing],
    ):
        result = await tocsin(running, *args)
        usage_error(result, f"error: {missing}: cannot read it: No such file or directory")
    for args in (["schedules", "export-ical", "web", "-o", nowhere], ["export", "-o", nowhere]):
        result = await tocsin(running, *args)
        usage_error(result, f"error: {nowhere}: cannot write it: No such file or directory")
    assert not (tmp_path / "no-such-directory").exists()


async def test_repeated_options_add_up(running: Running) -> None:
    assert (await tocsin(running, "alerts", "create", "--message", "m")).code == 0
    steps = [
        ["detail", "1", "--set", "owner=alice", "--set", "x=1", "y=2", "z=3"],
        ["detail", "1", "--remove", "y", "--remove", "z"],
        ["tag", "1", "--tags", "a1", "--tags", "a2", "a3"],
    ]
    for args in steps:
        result = await tocsin(running, "alerts", *args)
        assert result.code == 0, (args, result.err)
    got = (await tocsin(running, "alerts", "get", "1", "--json")).json()
    assert isinstance(got, dict)
    alert = got["alert"]
    assert alert["details"] == {"owner": "alice", "x": "1"}
    assert alert["tags"] == ["a1", "a2", "a3"]


async def test_zero_and_negative_numbers_are_refused_not_defaulted(running: Running) -> None:
    await schedule(running)
    custom = await tocsin(
        running, "schedules", "create", "s2", "--time-zone", "UTC", "--rotation", "r",
        "--type", "custom", "--length", "0", "--unit", "days", "--start", "2026-03-02T09:00",
        "--participants", "ann",
    )  # fmt: skip
    usage_error(custom, "argument --length: must be at least 1 (got 0)")
    assert (await tocsin(running, "schedules", "get", "s2")).code == 1
    for days in ("0", "-3"):
        for command in ("timeline", "gaps"):
            result = await tocsin(running, "schedules", command, "web", "--days", days)
            usage_error(result, f"argument --days: must be 1-400 (got {days})")
    for timeout in ("0", "-1"):
        result = await tocsin(running, "teams", "list", "--timeout", timeout)
        usage_error(result, f"argument --timeout: must be more than 0 seconds (got {timeout})")
    for limit in ("0", "-1", "501"):
        result = await tocsin(running, "alerts", "list", "--limit", limit)
        usage_error(result, f"argument --limit: must be 1-500 (got {limit})")
    assert (await tocsin(running, "alerts", "list", "--limit", "500")).code == 0
    repeats = (
        ["users", "set-rule", "ann", "--step", "email", "--repeat-times", "-1"],
        ["users", "set-rule", "ann", "--step", "email", "--repeat-minutes", "-5"],
        ["policies", "create", "p", "--rule", "0 user:ann", "--repeat-times", "-1"],
    )
    for args in repeats:
        usage_error(await tocsin(running, *args), f"argument {args[-2]}: must be 0-")
    # Beyond what the service takes, typed on the command line: found while parsing too.
    too_long = (
        (
            ["users", "set-rule", "ann", "--step", "email:1441"],
            "--step: the minutes must be 0-1440",
        ),
        (["policies", "create", "p", "--rule", "2d user:ann"], "--rule: must be 0s to 1d (got 2d)"),
        (
            ["policies", "create", "p", "--rule", "0 user:ann", "--repeat-after", "25h"],
            "--repeat-after: must be 0s to 1d (got 25h)",
        ),
    )
    for args, said in too_long:
        usage_error(await tocsin(running, *args), f"argument {said}")


async def test_mistakes_found_before_a_call_exit_2(running: Running) -> None:
    await schedule(running)
    usage_error(
        await tocsin(running, "schedules", "oncall", "web", "--at", "yesterday"),
        "error: invalid --at: must be an ISO 8601 time",
    )
    usage_error(
        await tocsin(running, "users", "set-rule", "ann"),
        "error: invalid --step: give at least one step, or --default",
    )
    usage_error(
        await tocsin(
            running, "schedules", "override", "add", "web", "--user", "ann", "--end", "notatime"
        ),
        "error: invalid --end: must be an ISO 8601 time",
    )
    restricted = await tocsin(
        running, "schedules", "create", "s3", "--time-zone", "UTC", "--rotation", "r",
        "--start", "2026-03-02T09:00", "--participants", "ann", "--restriction", "bogus",
    )  # fmt: skip
    usage_error(restricted, "argument --restriction: must look like 09:00-17:00")


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
    for action in subcommands:
        for name, child in action.choices.items():
            yield from _commands(child, (*path, name))


def test_every_option_has_help_and_every_command_an_example_that_parses() -> None:
    commands = list(_commands(cli.build_parser()))
    assert len(commands) == len(EXAMPLES)
    for path, parser in commands:
        for action in parser._actions:
            assert action.help, (path, action.option_strings or action.dest)
        assert parser.epilog is not None and "example:\n  tocsin " in parser.epilog, path
        example = shlex.split(EXAMPLES[" ".join(path)])
        parsed = cli.build_parser().parse_args(example[1:])  # exits 2 if it does not parse
        assert parsed.command == path[0]
        # The global options are described once, in `tocsin --help`, not in each command's.
        assert "--server" not in parser.format_usage(), path
        assert ("--server" in parser.epilog) == (
            path[0] not in ("serve", "server", "migrate", "shim")
        )
    top = cli.build_parser().format_help()
    assert "--server HOST:PORT" in top and "default 127.0.0.1:50051" in top


def test_help_names_allowed_values_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["alerts", "create", "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "TYPE is one of team, user, escalation, schedule" in shown
    assert "P1 (highest) to P5 (default P3)" in shown


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["alrts", "list"], "invalid choice: 'alrts' (did you mean 'alerts'?)"),
        (["alerts", "lsit"], "invalid choice: 'lsit' (did you mean 'list'?)"),
        (["schedules", "overide"], "invalid choice: 'overide' (did you mean 'override'?)"),
    ],
)
def test_a_mistyped_command_gets_the_nearest_one(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert said in err and "choose from" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["alerts", "snooze", "1", "--for", "8d"],
            "argument --for: must be 1s to 7d (got 8d)",
        ),
        (
            ["alerts", "snooze", "1", "--for", "0"],
            "argument --for: must be 1s to 7d (got 0)",
        ),
    ],
)
def test_values_out_of_range_are_usage_mistakes_found_while_parsing(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    with pytest.raises(SystemExit) as done:  # before any token or server is looked for
        cli.main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and said in err and err.count("\n") == 1


async def test_earlier_spellings_still_work(running: Running) -> None:
    assert (await tocsin(running, "users", "create", "ann")).code == 0
    assert (await tocsin(running, "alerts", "create", "--message", "m")).code == 0
    assert (await tocsin(running, "alerts", "tag", "1", "--tags", "a", "b")).code == 0
    made = await tocsin(running, "policies", "create", "--name", "p", "--rule", "0 user:ann")
    assert made.code == 0, made.err
    both = await tocsin(running, "policies", "create", "q", "--name", "r", "--rule", "0 user:ann")
    usage_error(both, "give the policy's name once (NAME or --name, not both)")
    usage_error(
        await tocsin(running, "integrations", "create", "--type", "sns"),
        "give the integration's name (NAME, after the command)",
    )
    made = await tocsin(running, "integrations", "create", "--name", "aws", "--type", "sns")
    assert made.code == 0, made.err
    usage_error(await tocsin(running, "alerts", "untag", "1"), "invalid --tag: give at least one")

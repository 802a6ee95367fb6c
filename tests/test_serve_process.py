"""`tocsin serve`, `server` and `migrate` as real processes: first start, the admin token,
restart, shutdown, bad config, and a replica's start on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg

from service.answers.links import SECRET_ENV
from service.db.migrations import LATEST_VERSION
from tests.databases import postgres_database

TOCSIN = str(Path(sys.executable).with_name("tocsin"))
PUBLIC_URL_ENV = "TOCSIN_PUBLIC_URL"
START_TIMEOUT = 30


def _serving_log(process: subprocess.Popen[str]) -> list[dict[str, object]]:
    """Reads JSON log lines until the server says it is serving."""
    assert process.stderr is not None
    lines: list[dict[str, object]] = []
    for raw in process.stderr:
        entry = json.loads(raw)
        lines.append(entry)
        if str(entry["message"]).startswith("tocsin is serving"):
            return lines
    raise AssertionError(f"server exited before serving: {lines}")


@contextmanager
def serving(
    data_dir: Path,
    *extra: str,
    command: str = "serve",
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], list[dict[str, object]], str]]:
    """`tocsin serve` (or `command`) on free ports, until the block ends; `env` adds to
    this process's environment."""
    process = subprocess.Popen(
        [TOCSIN, command, "--data-dir", str(data_dir), "--grpc-listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--log-format", "json", *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        log = _serving_log(process)
        message = str(log[-1]["message"])
        target = message.split("gRPC on ")[1].split(",")[0]
        yield process, log, target
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def cli(target: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOCSIN_SERVER": target}
    return subprocess.run(
        [TOCSIN, "--data-dir", str(data_dir), *args],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_first_start_restart_and_graceful_shutdown(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(data_dir) as (process, log, target):
        token_file = data_dir / "admin-token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        said = [str(entry["message"]) for entry in log]
        assert any(str(token_file) in line for line in said)
        assert not any(token in line for line in said)  # the secret never reaches the log
        made = cli(target, data_dir, "alerts", "create", "--message", "survives restarts")
        assert made.returncode == 0, made.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert process.stderr is not None
        rest = [json.loads(line)["message"] for line in process.stderr]
        assert "tocsin stopped" in rest

    with serving(data_dir) as (process, log, target):
        assert token_file.read_text().strip() == token  # no second admin token
        shown = cli(target, data_dir, "alerts", "get", "1", "--json")
        assert json.loads(shown.stdout)["alert"]["message"] == "survives restarts"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


def test_bad_configuration_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text("colour: blue\n")
    result = subprocess.run(
        [TOCSIN, "serve", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "configuration key 'colour'" in result.stderr
    assert "unknown key" in result.stderr


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [TOCSIN, "serve", "--data-dir", str(tmp_path), "--grpc-listen", "127.0.0.1:0",
             "--http-listen", f"127.0.0.1:{port}", "--log-format", "json"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"error: cannot listen for HTTP on 127.0.0.1:{port}"
    )


def test_a_data_dir_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [TOCSIN, "serve", "--data-dir", str(blocker / "data"), "--log-format", "json"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error:") and "Not a directory" in last


def test_migrate_on_sqlite_makes_the_schema_and_then_says_it_is_up_to_date(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "new"
    first = subprocess.run(
        [TOCSIN, "migrate", "--data-dir", str(data_dir), "--log-format", "json"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700  # as serve would have made it
    assert "applied migration 1: alerts, teams, activity and tokens" in first.stdout
    assert "applied migration" not in first.stderr  # said once, as the output
    again = subprocess.run(
        [TOCSIN, "migrate", "--data-dir", str(data_dir), "--log-format", "json"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert again.stdout.strip().splitlines() == [
        f"the schema is up to date (version {LATEST_VERSION})"
    ]
    # The servers' file, with a sender whose secret only the servers' environment holds.
    config = tmp_path / "servers.yaml"
    config.write_text("notifications:\n  webhook: {timeout_seconds: 5}\n")
    env = {k: v for k, v in os.environ.items() if k != "TOCSIN_WEBHOOK_SECRET"}
    shared = subprocess.run(
        [TOCSIN, "migrate", "--config", str(config), "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=30, check=False, env=env,
    )  # fmt: skip
    assert shared.returncode == 0, shared.stderr


def test_a_replica_refuses_an_unmigrated_database_a_missing_link_secret_and_public_url(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (SECRET_ENV, PUBLIC_URL_ENV)}
    env[PUBLIC_URL_ENV] = "https://alerts.example.com"
    with postgres_database() as url:
        command = [TOCSIN, "server", "--database", url, "--data-dir", str(tmp_path),
                   "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                   "--log-format", "json"]  # fmt: skip
        unmigrated = subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=False,
            env={**env, SECRET_ENV: "s" * 40},
        )  # fmt: skip
        assert unmigrated.returncode == 1
        assert "no Tocsin schema yet; run `tocsin migrate" in unmigrated.stderr
        migrated = subprocess.run(
            [TOCSIN, "migrate", "--database", url], capture_output=True, text=True, timeout=60
        )
        assert migrated.returncode == 0, migrated.stderr
        no_secret = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
        assert no_secret.returncode == 1
        assert f"set {SECRET_ENV}" in no_secret.stderr.splitlines()[-1]
        # Without public_url, acknowledge links in pages would name this replica's own port,
        # which serves no links: refused, for `serve` on PostgreSQL too.
        no_url_env = {k: v for k, v in env.items() if k != PUBLIC_URL_ENV}
        for name in ("server", "serve"):
            no_url = subprocess.run(
                [TOCSIN, name, *command[2:]], capture_output=True, text=True, timeout=30,
                env={**no_url_env, SECRET_ENV: "s" * 40},
            )  # fmt: skip
            assert no_url.returncode == 1
            assert "set public_url (or TOCSIN_PUBLIC_URL)" in no_url.stderr.splitlines()[-1]
        # Refused before making the shared admin token, whose secret only it would have held.
        assert not (tmp_path / "admin-token").exists()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone() == (0,)


def test_tocsin_server_serves_health_and_metrics_but_not_the_public_edge(tmp_path: Path) -> None:
    with postgres_database() as url:
        assert subprocess.run([TOCSIN, "migrate", "--database", url], timeout=60).returncode == 0
        env = {SECRET_ENV: "s" * 40, PUBLIC_URL_ENV: "https://alerts.example.com"}
        with serving(tmp_path, "--database", url, command="server", env=env) as (
            _,
            log,
            _,
        ):
            http = str(log[-1]["message"]).split("HTTP on ")[1].split(",")[0]
            statuses = {
                path: _status(f"http://{http}{path}", post)
                for path, post in (("/healthz", False), ("/metrics", False),
                                   ("/v1/sns/some-integration", True))
            }  # fmt: skip
    assert statuses == {"/healthz": 200, "/metrics": 200, "/v1/sns/some-integration": 404}


def _status(url: str, post: bool) -> int:
    request = urllib.request.Request(url, data=b"{}" if post else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_serve_warns_when_public_url_is_unset(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(data_dir) as (_, log, target):
        (warning,) = [e for e in log if str(e["message"]).startswith("public_url is not set")]
        assert warning["level"] == "warning"
        assert "use http://127.0.0.1:" in str(warning["message"])
        made = cli(target, data_dir, "integrations", "create", "--name", "a", "--type", "sns")
        assert made.returncode == 0 and made.stderr.startswith("warning: this URL names")
    public = {"TOCSIN_PUBLIC_URL": "https://alerts.example.com"}
    with serving(data_dir, env=public) as (_, log, target):
        assert not [e for e in log if "public_url" in str(e["message"])]
        made = cli(target, data_dir, "integrations", "rotate-key", "a")
        assert (made.returncode, made.stderr) == (0, "")
        assert "https://alerts.example.com/v1/sns/" in made.stdout

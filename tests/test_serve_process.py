"""`tocsin serve` as a real process: first start, the admin token, restart, shutdown, bad config."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOCSIN = str(Path(sys.executable).with_name("tocsin"))
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
    data_dir: Path, *extra: str
) -> Iterator[tuple[subprocess.Popen[str], list[dict[str, object]], str]]:
    process = subprocess.Popen(
        [TOCSIN, "serve", "--data-dir", str(data_dir), "--grpc-listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--log-format", "json", *extra],
        stderr=subprocess.PIPE,
        text=True,
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
        assert json.loads(shown.stdout)["message"] == "survives restarts"
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

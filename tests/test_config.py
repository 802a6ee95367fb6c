from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Config, load
from service.core.errors import ConfigError


def test_defaults() -> None:
    assert load(None, {}, {}) == Config()


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text("data_dir: /srv/tocsin\ngrpc_listen: 0.0.0.0:6000\nlog_level: debug\n")
    env = {"TOCSIN_GRPC_LISTEN": "127.0.0.1:7000", "TOCSIN_HTTP_LISTEN": "[::1]:9000"}
    config = load(path, env, {"grpc_listen": "127.0.0.1:8000", "log_format": None})
    assert config.data_dir == Path("/srv/tocsin")
    assert config.grpc_listen == "127.0.0.1:8000"  # the flag wins
    assert config.http_listen == "[::1]:9000"  # the environment beats the default
    assert config.log_level == "debug"
    assert config.database_path == Path("/srv/tocsin/tocsin.db")


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("http_listen: 127.0.0.1:1234\n")
    assert load(None, {"TOCSIN_CONFIG": str(path)}, {}).http_listen == "127.0.0.1:1234"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("colour: blue\n", "colour", "unknown key"),
        ("grpc_listen: nowhere\n", "grpc_listen", "HOST:PORT"),
        ("http_listen: 'x:99999'\n", "http_listen", "0 to 65535"),
        ("log_format: xml\n", "log_format", "auto, json, text"),
        ("log_level: loud\n", "log_level", "debug, info"),
        ("data_dir: 5\n", "data_dir", "must be a string"),
        ("database_url: mysql://db/tocsin\n", "database_url", "postgresql:// URL"),
        ("database_url: 'postgresql://db:abc/t'\n", "database_url", "port must be 1 to 65535"),
        ("database_url: 'postgresql://db'\n", "database_url", "must name its database"),
        ("database_url: 'postgresql://db/t?bogus=1'\n", "database_url", "not a PostgreSQL"),
        ("database_pool_size: 0\n", "database_pool_size", "1 to 200"),
        ("idle_timeout_seconds: 0\n", "idle_timeout_seconds", "seconds, 1 to 86400"),
        ("idle_timeout_seconds: 1.5\n", "idle_timeout_seconds", "whole number"),
        ("max_watch_streams: -1\n", "max_watch_streams", "streams, 1 to 100000"),
        ("max_watch_streams_per_token: 'many'\n", "max_watch_streams_per_token", "streams"),
        (f"max_watch_streams: {'9' * 5000}\n", "config", "not valid YAML"),
        ("max_health_watch_streams: 0\n", "max_health_watch_streams", "streams, 1 to 100000"),
        ("- a list\n", "config", "mapping"),
        ("key: [unclosed\n", "config", "not valid YAML"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path, {}, {})
    assert caught.value.key == key
    assert words in str(caught.value)


def test_connection_and_stream_limits_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("idle_timeout_seconds: 30\nmax_watch_streams: 40\n")
    env = {
        "TOCSIN_MAX_WATCH_STREAMS": "50",
        "TOCSIN_MAX_WATCH_STREAMS_PER_TOKEN": "5",
        "TOCSIN_MAX_HEALTH_WATCH_STREAMS": "7",
    }
    config = load(path, env, {})
    assert config.idle_timeout_seconds == 30
    assert (config.max_watch_streams, config.max_watch_streams_per_token) == (50, 5)
    assert config.max_health_watch_streams == 7


def test_integration_urls_use_the_public_url_else_the_listener() -> None:
    assert load(None, {}, {}).integration_base_url(9999) == "http://127.0.0.1:8080"
    wildcard = load(None, {}, {"http_listen": "0.0.0.0:0"})
    assert wildcard.integration_base_url(4242) == "http://127.0.0.1:4242"
    public = load(None, {"TOCSIN_PUBLIC_URL": "https://alerts.example.com/"}, {})
    assert public.integration_base_url(4242) == "https://alerts.example.com"
    for bad in ("alerts.example.com", "ftp://x", "https://x/?q=1", "https://u@x"):
        with pytest.raises(ConfigError, match="public_url"):
            load(None, {"TOCSIN_PUBLIC_URL": bad}, {})


def test_sns_section(tmp_path: Path) -> None:
    url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc123.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    path = tmp_path / "c.yaml"
    path.write_text(f"sns:\n  pinned_certificates:\n    {url}: {garbage}\n")
    with pytest.raises(ConfigError, match="is not a PEM certificate"):
        load(path, {}, {})
    path.write_text(f"sns:\n  pinned_certificates:\n    https://example.com/x.pem: {garbage}\n")
    with pytest.raises(ConfigError, match="not an SNS signing certificate URL"):
        load(path, {}, {})
    path.write_text("sns:\n  max_age_seconds: -1\n")
    with pytest.raises(ConfigError, match=r"sns\.max_age_seconds"):
        load(path, {}, {})
    path.write_text("sns:\n  colour: blue\n")
    with pytest.raises(ConfigError, match=r"sns\.colour"):
        load(path, {}, {})
    endpoint = load(None, {"AWS_ENDPOINT_URL_SNS": "http://localhost:4566/"}, {})
    assert endpoint.sns.endpoint_url == "http://localhost:4566"


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="TOCSIN_HTTP_LISTEN"):
        load(None, {"TOCSIN_HTTP_LISTEN": "8080"}, {})


def test_without_a_file_an_error_names_no_file() -> None:
    # A provider set up by its variables alone: the missing key came from nowhere.
    with pytest.raises(ConfigError) as raised:
        load(None, {"TOCSIN_TWILIO_SMS_FROM": "+15550100"}, {})
    assert str(raised.value) == (
        "configuration key 'notifications.twilio.account_sid': "
        "required: the account SID, AC followed by 32 characters"
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "absent.yaml", {}, {})


def test_database_url_from_the_environment_and_the_flag() -> None:
    url = "postgresql://tocsin@db.internal/tocsin"
    assert load(None, {"TOCSIN_DATABASE_URL": url}, {}).database_url == url
    assert load(None, {}, {"database_url": "postgres://x/y"}).database_url == "postgres://x/y"
    assert load(None, {}, {}).database_url == ""  # SQLite in the data directory
    assert load(None, {"TOCSIN_DATABASE_POOL_SIZE": "4"}, {}).database_pool_size == 4


SHARED = (
    "notifications:\n"
    "  smtp: {host: smtp.example.com, username: tocsin, from_address: tocsin@example.com}\n"
    "  twilio: {account_sid: AC0123456789abcdef0123456789abcdef, sms_from: '+15550001111'}\n"
    "  fcm: {project_id: p, credentials_file: /nonexistent/fcm.json}\n"
    "  webhook: {timeout_seconds: 10}\n"
)


def test_the_shim_reads_the_servers_file_without_the_senders_secrets(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(SHARED)
    twilio = {"TOCSIN_TWILIO_AUTH_TOKEN": "t" * 32}
    # The servers need every provider's secret; the shim, which pages nobody, none of the
    # senders' (only Twilio's auth token, which verifies Twilio's callbacks to it).
    with pytest.raises(ConfigError, match="TOCSIN_SMTP_PASSWORD"):
        load(path, twilio, {})
    shim = load(path, twilio, {}, sends_pages=False).notifications
    assert (shim.email, shim.fcm, shim.webhook) == (None, None, None)
    assert shim.twilio is not None and shim.twilio.auth_token == "t" * 32
    with pytest.raises(ConfigError, match="TOCSIN_TWILIO_AUTH_TOKEN"):
        load(path, {}, {}, sends_pages=False)
    # The file is still checked key by key.
    path.write_text(SHARED + "  pager: {}\n")
    with pytest.raises(ConfigError, match="notifications.pager"):
        load(path, twilio, {}, sends_pages=False)

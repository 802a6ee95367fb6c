"""Configuration: one YAML file, each key overridable by a `TOCSIN_*` variable, then by a flag.

Precedence, lowest first: defaults, the file, the environment, command-line flags. Any bad
value stops start-up with a `ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from adapters.registry import NotifySettings, settings_from
from edge.sns.config import SnsConfig
from service.core.errors import ConfigError
from service.paging.planning import LEASE

LOG_FORMATS = ("auto", "json", "text")
LOG_LEVELS = ("debug", "info", "warning", "error")


SNS_KEYS = tuple(f.name for f in dataclasses.fields(SnsConfig))
_PINNABLE = re.compile(
    r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/SimpleNotificationService-[0-9a-f]+\.pem"
)


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path(".tocsin")
    # Empty: SQLite in the data directory. A postgresql:// URL: that database, which several
    # replicas may share.
    database_url: str = ""
    # Connections each replica keeps to PostgreSQL (plus one that listens for changes).
    database_pool_size: int = 16
    grpc_listen: str = "127.0.0.1:50051"
    http_listen: str = "127.0.0.1:8080"
    # Where SNS reaches the HTTP edge, as integration URLs show it (behind a proxy, its URL).
    public_url: str = ""
    log_format: str = "auto"
    log_level: str = "info"
    # How long a page being sent is left to its sender: if the process dies mid-send, another
    # engine (or this one, restarted) sends it again when the lease runs out.
    page_lease_seconds: int = int(LEASE.total_seconds())
    # A connection to either port with no call for this long is closed, and so is one whose
    # request does not arrive within it (a request body on the HTTP edge, say).
    idle_timeout_seconds: int = 120
    # WatchAlerts streams open at once: in all, and per token. Each costs a database read per
    # change and per poll, which every other call waits behind.
    max_watch_streams: int = 100
    max_watch_streams_per_token: int = 10
    # Health's Watch streams open at once, in all: health needs no token, so anyone who
    # reaches the port may open them.
    max_health_watch_streams: int = 100
    sns: SnsConfig = field(default_factory=SnsConfig)
    notifications: NotifySettings = field(default_factory=NotifySettings)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "tocsin.db"

    def integration_base_url(self, bound_http_port: int) -> str:
        """`public_url`, else this machine's HTTP listener (fine for local use only)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{reachable(self.http_listen, bound_http_port)}"


SECTIONS = ("sns", "notifications")
KEYS = tuple(f.name for f in dataclasses.fields(Config) if f.name not in SECTIONS)


def env_name(key: str) -> str:
    return "TOCSIN_" + key.upper()


def load(
    path: Path | None,
    environ: Mapping[str, str],
    flags: Mapping[str, str | None],
    *,
    sends_pages: bool = True,
) -> Config:
    """Builds the configuration from a file (optional), the environment and flags. Without
    `sends_pages` (the shim) the providers that only send pages are checked but not built,
    so their secrets are not needed."""
    raw: dict[str, tuple[Any, str]] = {}
    if path is None and environ.get("TOCSIN_CONFIG"):
        path = Path(environ["TOCSIN_CONFIG"])
    file_values: dict[str, Any] = {}
    # Where the file's values came from, in error messages; nothing without a file.
    file_source = "" if path is None else str(path)
    if path is not None:
        file_values = _read_file(path)
        for key, value in file_values.items():
            if key not in SECTIONS:
                raw[key] = (value, str(path))
    for key in KEYS:
        if env_name(key) in environ:
            raw[key] = (environ[env_name(key)], f"environment variable {env_name(key)}")
    for key, value in flags.items():
        if value is not None:
            raw[key] = (value, f"--{key.replace('_', '-')}")
    values: dict[str, Any] = {}
    for key, (value, source) in raw.items():
        values[key] = _parse(key, value, source)
    notifications = settings_from(
        file_values.get("notifications"),
        environ,
        source=file_source,
        public_url=values.get("public_url", ""),
        sends_pages=sends_pages,
    )
    return Config(
        **values,
        sns=_sns(file_values.get("sns", {}), environ, file_source),
        notifications=notifications,
    )


def _sns(section: Any, environ: Mapping[str, str], source: str) -> SnsConfig:
    if not isinstance(section, dict):
        raise ConfigError("sns", "must be a mapping", source)
    for key in section:
        if key not in SNS_KEYS:
            raise ConfigError(f"sns.{key}", f"unknown key; known: {', '.join(SNS_KEYS)}", source)
    endpoint = section.get("endpoint_url", "")
    for variable in ("AWS_ENDPOINT_URL_SNS", "TOCSIN_SNS_ENDPOINT_URL"):  # the later one wins
        if environ.get(variable):
            endpoint, source = environ[variable], f"environment variable {variable}"
    if endpoint:
        _http_url("sns.endpoint_url", endpoint, source)
    ages = {}
    for key in ("max_age_seconds", "max_ahead_seconds"):
        value = section.get(key, getattr(SnsConfig, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"sns.{key}", "must be a whole number of seconds", source)
        ages[key] = value
    return SnsConfig(
        endpoint_url=str(endpoint).rstrip("/"),
        pinned_certificates=_pinned(section.get("pinned_certificates", {}), source),
        **ages,
    )


def _pinned(value: Any, source: str) -> dict[str, bytes]:
    key = "sns.pinned_certificates"
    if not isinstance(value, dict):
        raise ConfigError(key, "must map certificate URLs to PEM files", source)
    pinned = {}
    for url, file in value.items():
        if not isinstance(url, str) or not _PINNABLE.fullmatch(url):
            raise ConfigError(key, f"{url!r} is not an SNS signing certificate URL", source)
        try:
            pem = Path(str(file)).read_bytes()
        except OSError as exc:
            raise ConfigError(key, f"cannot read {file}: {exc.strerror}", source) from exc
        # Imported here: the CLI's client commands read this module for addresses alone.
        from cryptography import x509

        try:
            x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise ConfigError(key, f"{file} is not a PEM certificate", source) from None
        pinned[url] = pem
    return pinned


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int past 4,300 digits
        raise ConfigError("config", f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config", f"{path} must hold a mapping of keys to values")
    for key in data:
        if key not in (*KEYS, *SECTIONS):
            known = ", ".join((*KEYS, *SECTIONS))
            raise ConfigError(str(key), f"unknown key; known keys are {known}", str(path))
    return data


# The keys that hold a whole number: what of, and the least and most allowed.
_WHOLE_NUMBERS = {
    "database_pool_size": ("connections", 1, 200),
    "page_lease_seconds": ("seconds", 1, 3600),
    "idle_timeout_seconds": ("seconds", 1, 86400),
    "max_watch_streams": ("streams", 1, 100_000),
    "max_watch_streams_per_token": ("streams", 1, 100_000),
    "max_health_watch_streams": ("streams", 1, 100_000),
}


def _parse(key: str, value: Any, source: str) -> Any:
    if key in _WHOLE_NUMBERS:
        unit, least, most = _WHOLE_NUMBERS[key]
        text = str(value).strip()
        whole = text.isascii() and text.isdigit() and len(text) <= 9
        if isinstance(value, bool) or not whole or not least <= int(text) <= most:
            raise ConfigError(key, f"must be a whole number of {unit}, {least} to {most}", source)
        return int(text)
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string, not {type(value).__name__}", source)
    if key == "database_url":
        return _database_url(key, value, source)
    if key == "data_dir":
        if not value.strip():
            raise ConfigError(key, "must not be empty", source)
        return Path(value)
    if key in ("grpc_listen", "http_listen"):
        return listen_address(key, value, source)
    if key == "public_url":
        return _http_url(key, value, source)
    if key == "log_format" and value not in LOG_FORMATS:
        raise ConfigError(key, f"must be one of {', '.join(LOG_FORMATS)}", source)
    if key == "log_level" and value.lower() not in LOG_LEVELS:
        raise ConfigError(key, f"must be one of {', '.join(LOG_LEVELS)}", source)
    return value.lower() if key == "log_level" else value


def _database_url(key: str, value: str, source: str) -> str:
    if not value.strip():
        return ""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            key, "must be a postgresql:// URL, or empty for SQLite in the data directory", source
        )
    # Here, not at first connection, so that a mistake names this key. Imported here: only a
    # PostgreSQL deployment needs psycopg loaded to read its configuration.
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        options = conninfo_to_dict(value.strip())
    except ProgrammingError as exc:
        raise ConfigError(key, f"is not a PostgreSQL connection URL: {exc}", source) from None
    if not options.get("dbname"):
        raise ConfigError(key, "must name its database, e.g. postgresql://HOST/tocsin", source)
    for port in str(options.get("port", "")).split(","):
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(key, f"port must be 1 to 65535, not {port!r}", source)
    return value.strip()


def _http_url(key: str, value: str, source: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(key, f"must be an http(s) URL, not {value!r}", source)
    if parts.query or parts.fragment or parts.username:
        raise ConfigError(key, "must have no user, query or fragment", source)
    return value


def listen_address(key: str, value: str, source: str = "") -> str:
    """Checks HOST:PORT (IPv6 hosts in brackets); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(key, f"must be HOST:PORT, not {value!r}", source)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(key, f"port must be a number from 0 to 65535, not {port!r}", source)
    return value


def reachable(address: str, bound_port: int) -> str:
    """HOST:PORT this machine dials for a listen address: a wildcard host becomes the
    loopback of its family, port 0 the port actually bound; IPv6 goes in brackets."""
    host, port = split_address(address)
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "*": "127.0.0.1", "::": "::1"}.get(host, host)
    port = port or bound_port
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)

"""The reader of one provider's subsection of `notifications:`, which every channel's settings
are read through: each value from the file, overridden by its `TOCSIN_<PROVIDER>_<KEY>`
variable, and checked as a string, seconds, a port, a flag, a URL or a phone number. A bad
value raises a `ConfigError` naming the key and where the value came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

from service.core.errors import ConfigError


@dataclass(frozen=True)
class Keys:
    """What a provider's subsection may hold: its keys, and its secrets, each mapped to where
    the secret must come from instead (it is refused in the file, so it never ends up in a
    repository)."""

    known: tuple[str, ...]
    secrets: Mapping[str, str]


class Section:
    """One provider's settings: the file's values, each overridden by its TOCSIN_ variable."""

    def __init__(
        self,
        name: str,
        keys: Keys,
        values: Any,
        in_file: bool,
        env: Mapping[str, str],
        source: str,
    ) -> None:
        """`values` is the subsection as the file holds it (None when absent), `in_file`
        whether the file names it at all; `source` names the file in error messages."""
        self.name = name
        self.env = env
        self._source = source
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            _fail(f"notifications.{name}", "must be a mapping of keys to values", source)
        for key in values:
            if key in keys.secrets:
                _fail(
                    self.key(key),
                    f"is a secret and is not read from the file; use {keys.secrets[key]}",
                    source,
                )
            if key not in keys.known:
                known = ", ".join(keys.known)
                _fail(self.key(key), f"unknown key; known: {known}", source)
        self._values: Mapping[str, Any] = values
        self.present = in_file or any(self.variable(key) in env for key in keys.known)

    def key(self, key: str) -> str:
        return f"notifications.{self.name}.{key}"

    def variable(self, key: str) -> str:
        return f"TOCSIN_{self.name.upper()}_{key.upper()}"

    def raw(self, key: str) -> tuple[Any, str] | None:
        """The value and where it came from; the environment beats the file."""
        if self.variable(key) in self.env:
            return self.env[self.variable(key)], f"environment variable {self.variable(key)}"
        if key in self._values and self._values[key] is not None:
            return self._values[key], self._source
        return None

    def fail(self, key: str, problem: str, source: str | None = None) -> NoReturn:
        _fail(self.key(key), problem, self._source if source is None else source)

    def text(self, key: str, default: str = "") -> str:
        found = self.raw(key)
        if found is None:
            return default
        value, source = found
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {type(value).__name__}", source)
        return value.strip()

    def seconds(self, key: str, default: float) -> float:
        found = self.raw(key)
        if found is None:
            return default
        value, source = found
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                self.fail(key, f"must be a number of seconds, not {value!r}", source)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
            self.fail(key, "must be a number of seconds from 0 to 600, above 0", source)
        return float(value)

    def port(self, key: str, default: int) -> int:
        found = self.raw(key)
        if found is None:
            return default
        value, source = found
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 65535:
            self.fail(key, f"must be a port number from 1 to 65535, not {value!r}", source)
        return value

    def flag(self, key: str, default: bool) -> bool:
        found = self.raw(key)
        if found is None:
            return default
        value, source = found
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            value = _BOOLEANS[value.strip().lower()]
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {value!r}", source)
        return value

    def url(self, key: str, default: str = "") -> str:
        value = self.text(key, default)
        if not value:
            return value
        found = self.raw(key)
        source = found[1] if found else self._source
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail(key, f"must be an http(s) URL, not {value!r}", source)
        if parts.query or parts.fragment or parts.username or parts.password:
            self.fail(key, "must have no user, password, query or fragment", source)
        return value.rstrip("/")

    def phone(self, key: str) -> str:
        value = self.text(key)
        if value and not (value.startswith("+") and value[1:].isdigit() and 8 <= len(value) <= 16):
            found = self.raw(key)
            self.fail(
                key,
                f"must be an E.164 number such as +15550100, not {value!r}",
                found[1] if found else None,
            )
        return value


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _fail(key: str, problem: str, source: str) -> NoReturn:
    raise ConfigError(key, problem, source)

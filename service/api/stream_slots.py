"""How many long-lived streams are open, in all and per token, held under their limits.

Each WatchAlerts stream reads the database on every change and every poll, on the same event
loop as every other call: 200 of them made CreateAlert ten times slower. So a stream takes a
slot for as long as it is open, and one past either limit is refused with RESOURCE_EXHAUSTED.
Health's Watch streams, which need no token, are limited in all only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from service.core.errors import ResourceExhausted


class StreamSlots:
    def __init__(
        self,
        total: int,
        per_token: int | None = None,
        *,
        kind: str = "watch",
        key: str = "max_watch_streams",
    ) -> None:
        """At most `total` streams, and `per_token` for each token (None: no limit per token).
        Refusals call them `kind` streams and name the configuration `key` of the limit
        (and `key`_per_token)."""
        self._total = total
        self._per_token = per_token
        self._kind = kind
        self._key = key
        self._open = 0
        self._by_token: dict[str, int] = {}

    @property
    def open(self) -> int:
        return self._open

    @contextlib.contextmanager
    def taken(self, token_id: str = "") -> Iterator[None]:
        """Holds a slot for the caller's token while the stream runs; raises
        `ResourceExhausted` when none is free. No lock: the event loop runs one call at once."""
        if self._open >= self._total:
            raise ResourceExhausted(
                f"the server has {self._total} {self._kind} streams open, its limit "
                f"({self._key}); try again later"
            )
        held = self._by_token.get(token_id, 0)
        if self._per_token is not None and held >= self._per_token:
            raise ResourceExhausted(
                f"this token has {held} {self._kind} streams open, the limit per token "
                f"({self._key}_per_token); close one first"
            )
        self._open += 1
        self._by_token[token_id] = held + 1
        try:
            yield
        finally:
            self._open -= 1
            left = self._by_token[token_id] - 1
            if left:
                self._by_token[token_id] = left
            else:
                del self._by_token[token_id]

"""How many long-lived streams are open, in all and per token, held under their limits.

Each WatchAlerts stream reads the database on every change and every poll, on the same event
loop as every other call: 200 of them made CreateAlert ten times slower. So a stream takes a
slot for as long as it is open, and one past either limit is refused with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from service.errors import ResourceExhausted


class StreamSlots:
    def __init__(self, total: int, per_token: int) -> None:
        self._total = total
        self._per_token = per_token
        self._open = 0
        self._by_token: dict[str, int] = {}

    @property
    def open(self) -> int:
        return self._open

    @contextlib.contextmanager
    def taken(self, token_id: str) -> Iterator[None]:
        """Holds a slot for the caller's token while the stream runs; raises
        `ResourceExhausted` when none is free. No lock: the event loop runs one call at once."""
        if self._open >= self._total:
            raise ResourceExhausted(
                f"the server has {self._total} watch streams open, its limit "
                "(max_watch_streams); try again later"
            )
        held = self._by_token.get(token_id, 0)
        if held >= self._per_token:
            raise ResourceExhausted(
                f"this token has {held} watch streams open, the limit per token "
                "(max_watch_streams_per_token); close one first"
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

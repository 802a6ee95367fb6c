"""The signal behind the change feed: watchers and the engine wait on it, not on a poll alone."""

from __future__ import annotations

import asyncio
import contextlib


class ChangeSignal:
    """Wakes watchers after each commit; they re-read the feed to learn what changed."""

    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def fire(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, since: int, poll_seconds: float) -> None:
        if self.generation != since:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), poll_seconds)

"""API tokens: random secrets of which only a SHA-256 hash is stored.

The secrets carry 256 random bits, so a fast hash is the right one: there is nothing to
brute-force. Verified tokens are cached for a few seconds because every RPC is checked;
a revocation takes effect at once on the replica that made it and within the cache's
lifetime on the others.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from service.core import validation
from service.core.clock import Clock
from service.core.ids import new_uuid
from service.tokens.model import TokenInfo
from service.tokens.store import TokenStore

log = logging.getLogger(__name__)

SECRET_PREFIX = "tocsin_"
CACHE_TTL = timedelta(seconds=5)
CACHE_MAX = 10_000
ADMIN_TOKEN_FILE = "admin-token"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(
        self,
        store: TokenStore,
        clock: Clock,
        new_id: Callable[[], str] = new_uuid,
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id
        self._cache: dict[str, tuple[TokenInfo, datetime]] = {}

    async def create(self, name: str) -> tuple[TokenInfo, str]:
        """Returns the token and its secret, which is never available again."""
        validation.token_name(name)
        secret = new_secret()
        info = await self._store.create_token(
            name, hash_secret(secret), self._clock.now(), self._new_id()
        )
        return info, secret

    async def list(self) -> Sequence[TokenInfo]:
        return await self._store.list_tokens()

    async def revoke(self, token_id: str) -> TokenInfo:
        validation.text("id", token_id, 100, required=True)
        info = await self._store.revoke_token(token_id, self._clock.now())
        self._cache = {h: entry for h, entry in self._cache.items() if entry[0].id != token_id}
        return info

    async def authenticate(self, secret: str) -> TokenInfo | None:
        """The active token whose secret this is, or None."""
        if not secret.startswith(SECRET_PREFIX):
            return None
        digest = hash_secret(secret)
        now = self._clock.now()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        info = await self._store.find_token(digest)
        if info is None:
            self._cache.pop(digest, None)
            return None
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (info, now + CACHE_TTL)
        return info

    async def ensure_admin_token(self, data_dir: Path) -> Path | None:
        """On first start, creates the admin token and writes its secret to a 0600 file.

        The file is written before the token is committed: if the commit fails, the next
        start writes a new one; if the write fails, no token exists that nobody knows. When
        replicas start together on one new database, one of them makes the token and writes
        its file; the others write nothing (so a data directory they share is safe too).
        """
        if await self._store.list_tokens():
            return None
        path = data_dir / ADMIN_TOKEN_FILE
        secret = new_secret()
        made = await self._store.create_first_token(
            "admin",
            hash_secret(secret),
            self._clock.now(),
            self._new_id(),
            lambda: write_private(path, secret + "\n"),
        )
        return None if made is None else path


def write_private(path: Path, content: str) -> None:
    """Writes atomically, readable by the owner only from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)
    # The rename is durable only once the directory is: otherwise a crash could keep the
    # token's hash in the database and lose the only copy of its secret.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_token_file(path: Path) -> str:
    return path.read_text().strip()

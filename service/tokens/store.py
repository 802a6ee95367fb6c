"""The API tokens' port: kept by the hash of their secret, never the secret."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.tokens.model import TokenInfo


class TokenStore(Protocol):
    async def create_token(
        self, name: str, secret_hash: str, now: datetime, new_id: str
    ) -> TokenInfo: ...

    async def create_first_token(
        self,
        name: str,
        secret_hash: str,
        now: datetime,
        new_id: str,
        keep_secret: Callable[[], None],
    ) -> TokenInfo | None:
        """Creates the token only if there has never been one; None if there has (another
        replica's first start made it a moment ago, say). `keep_secret` is called, once no
        token is found and before this one is written, to put its secret where its owner
        will find it; if it raises, no token is made."""

    async def list_tokens(self) -> Sequence[TokenInfo]: ...

    async def revoke_token(self, token_id: str, now: datetime) -> TokenInfo:
        """Refuses to revoke the last active token."""

    async def find_token(self, secret_hash: str) -> TokenInfo | None:
        """The active token with this hash, if any."""

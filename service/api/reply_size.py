"""Pages that fit in one gRPC message, whatever their items hold.

A gRPC client refuses a message over its receive limit, 4 MiB unless it says otherwise, and
alerts may be large (a 15,000-character description, 8,000 characters of details): 500 of them
can be tens of MiB. So a list answers at most `page_size` items and at most `MAX_REPLY_BYTES`,
and its `next_page_token` continues after the last item it holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from service.core.pages import Page

# Room under 4 MiB for the rest of the reply and gRPC's framing.
MAX_REPLY_BYTES = 3 * 1024 * 1024
# A repeated field's tag and length prefix, at most, for items this size.
_ITEM_OVERHEAD = 6

T = TypeVar("T")
M = TypeVar("M", bound=Message)


async def fitted(
    fetch: Callable[[int], Awaitable[Page[T]]],
    encode: Callable[[T], M],
    page_size: int,
    budget: int = MAX_REPLY_BYTES,
) -> tuple[list[M], str]:
    """The encoded items of the first page of `page_size` items that fits in `budget` bytes,
    and its next page token. A page that does not fit is fetched again, as many items as fit,
    so that the store issues the token after the last one sent."""
    size = page_size
    while True:
        page = await fetch(size)
        encoded: list[M] = []
        total = 0
        for item in page.items:
            message = encode(item)
            total += message.ByteSize() + _ITEM_OVERHEAD
            if total > budget and encoded:  # one item always goes, however large
                break
            encoded.append(message)
        if len(encoded) == len(page.items):
            return encoded, page.next_page_token
        size = len(encoded)

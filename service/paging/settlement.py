"""What a provider's answer settles for a page: its state in the ledger, when it is due again,
and the entry for its alert's activity. Pure.

Delivered is done. A failure that may pass is tried again after a back-off, up to
`MAX_ATTEMPTS` attempts; any other failure, or the last attempt's, is final. A page whose
alert was acknowledged, closed or snoozed while it was with its provider is cancelled if the
send failed (it is not tried again), and stays delivered if it went.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from service.paging import planning as paging
from service.paging.notifier import Outcome, SendResult
from service.paging.planning import ClaimedPage, PageState


@dataclass(frozen=True)
class Settlement:
    state: PageState
    due: datetime | None  # when it is due again; None leaves its due time as it was
    action: str  # the activity entry's
    details: dict[str, object]


def settle(
    claimed: ClaimedPage,
    result: SendResult,
    cancelled_because: str | None,
    now: datetime,
    rng: random.Random,
) -> Settlement:
    """The page `claimed` after `result`; `cancelled_because`: why its alert stopped paging
    while it was being sent ("acknowledged", "closed", "snoozed"), None if it did not."""
    who: dict[str, object] = {"user": claimed.username, "channel": claimed.channel.value}
    if result.outcome is Outcome.DELIVERED:
        details = {**who, "provider id": result.provider_id}
        return Settlement(PageState.DELIVERED, None, "paged", details)
    if result.outcome is Outcome.RETRYABLE and claimed.attempt < paging.MAX_ATTEMPTS:
        # Drawn even when the page is then cancelled, so a seeded run draws the same jitter.
        wait = paging.retry_delay(claimed.attempt, rng)
        details = {**who, "why": result.detail, "in seconds": round(wait.total_seconds())}
        settled = Settlement(PageState.RETRY, now + wait, "page retrying", details)
    else:
        details = {**who, "why": result.detail, "attempts": claimed.attempt}
        settled = Settlement(PageState.FAILED, None, "page failed", details)
    if cancelled_because is not None:
        # A failed send is not tried again for an alert nobody should be paged for now.
        return Settlement(
            PageState.CANCELLED, None, "page cancelled", {**who, "why": cancelled_because}
        )
    return settled

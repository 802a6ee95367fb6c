"""What a provider's answer settles for a page: delivered, retried after a back-off, failed
for good, or cancelled because its alert stopped paging while it was being sent. Pure."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from service.paging.notifier import Outcome, SendResult
from service.paging.planning import MAX_ATTEMPTS, ClaimedPage, PageState, retry_delay
from service.paging.settlement import Settlement, settle
from service.people.model import Channel
from tests.fakes import stored_alert

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALERT = stored_alert(T0)
WHO = {"user": "alice", "channel": "sms"}
TIMEOUT = SendResult(Outcome.RETRYABLE, detail="timed out")
BAD_NUMBER = SendResult(Outcome.PERMANENT, detail="bad number")


def page(attempt: int = 1) -> ClaimedPage:
    return ClaimedPage("k", ALERT, "u-alice", "alice", Channel.SMS, "+15550001111", 0, attempt)


def test_a_delivered_page_is_done() -> None:
    settled = settle(page(), SendResult(Outcome.DELIVERED, "SM1"), None, T0, random.Random(1))
    assert settled == Settlement(PageState.DELIVERED, None, "paged", {**WHO, "provider id": "SM1"})


def test_a_failure_that_may_pass_is_retried_after_a_back_off() -> None:
    wait = retry_delay(2, random.Random(7))
    settled = settle(page(2), TIMEOUT, None, T0, random.Random(7))
    assert settled == Settlement(
        PageState.RETRY,
        T0 + wait,
        "page retrying",
        {**WHO, "why": "timed out", "in seconds": round(wait.total_seconds())},
    )
    assert timedelta(seconds=16) <= wait <= timedelta(seconds=24)


@pytest.mark.parametrize(
    ("result", "attempt"), [(TIMEOUT, MAX_ATTEMPTS), (BAD_NUMBER, 1), (BAD_NUMBER, MAX_ATTEMPTS)]
)
def test_a_permanent_failure_or_the_last_attempt_fails_for_good(
    result: SendResult, attempt: int
) -> None:
    settled = settle(page(attempt), result, None, T0, random.Random(1))
    details = {**WHO, "why": result.detail, "attempts": attempt}
    assert settled == Settlement(PageState.FAILED, None, "page failed", details)


@pytest.mark.parametrize("result", [TIMEOUT, BAD_NUMBER])
def test_a_send_that_fails_after_the_alert_stopped_paging_is_cancelled(
    result: SendResult,
) -> None:
    rng = random.Random(3)
    settled = settle(page(), result, "acknowledged", T0, rng)
    assert settled == Settlement(
        PageState.CANCELLED, None, "page cancelled", {**WHO, "why": "acknowledged"}
    )
    # The back-off is drawn as for a retry all the same: the next draw is the second one.
    drawn = random.Random(3)
    if result is TIMEOUT:
        drawn.random()
    assert rng.random() == drawn.random()


def test_a_page_that_went_stays_delivered_though_its_alert_stopped_paging() -> None:
    result = SendResult(Outcome.DELIVERED, "SM1")
    settled = settle(page(), result, "closed", T0, random.Random(1))
    assert (settled.state, settled.action) == (PageState.DELIVERED, "paged")

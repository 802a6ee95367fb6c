"""The throttles: when a send to a number may go, and what one claim of due pages decides for
each page it takes (send now, hold back until a time, or already held). Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from service.paging import throttle
from service.paging.throttle import ClaimHolds, Decision, Send, Verdict
from service.people.model import Channel

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
PHONE = "+15550001111"


def test_throttles_hold_sms_and_calls_per_number() -> None:
    assert throttle.throttled_until(Channel.SMS, [], T0) is None
    assert throttle.throttled_until(
        Channel.SMS, [T0 - 30 * timedelta(seconds=1)], T0
    ) == T0 + 30 * timedelta(seconds=1)
    calls = [T0 - n * 10 * MIN for n in range(1, 5)]
    assert throttle.throttled_until(Channel.VOICE, calls, T0) == T0 - 40 * MIN + timedelta(hours=1)
    assert throttle.throttled_until(Channel.EMAIL, calls * 10, T0) is None


class Reads:
    """Recent sends to hand a claim, counting how often it asks for them."""

    def __init__(self, *sends: Send) -> None:
        self.sends = sends
        self.count = 0

    def __call__(self) -> Sequence[Send]:
        self.count += 1
        return self.sends


def never() -> Callable[[], Sequence[Send]]:
    def read() -> Sequence[Send]:
        raise AssertionError("an unthrottled channel's recent sends are never read")

    return read


def test_an_unthrottled_channel_always_sends_without_reading_its_sends() -> None:
    holds = ClaimHolds(T0)
    for n in range(5):
        decision = holds.decide(f"p{n}", Channel.EMAIL, "ana@example.com", never())
        assert decision == Decision(Verdict.SEND, T0)


def test_a_second_sms_in_one_claim_holds_the_number_and_later_pages_wait_with_it() -> None:
    holds = ClaimHolds(T0)
    reads = Reads()
    assert holds.decide("p1", Channel.SMS, PHONE, reads) == Decision(Verdict.SEND, T0)
    # What the claim sent counts: the next SMS waits a minute from it.
    assert holds.decide("p2", Channel.SMS, PHONE, reads) == Decision(Verdict.HOLD, T0 + MIN)
    assert holds.decide("p3", Channel.SMS, PHONE, reads) == Decision(Verdict.HELD, T0 + MIN)
    assert reads.count == 1  # read once per claim, then kept up to date
    # Another number, or a call to the same one, is throttled on its own.
    other = Reads()
    assert holds.decide("p4", Channel.SMS, "+15550002222", other) == Decision(Verdict.SEND, T0)
    assert holds.decide("p5", Channel.VOICE, PHONE, Reads()) == Decision(Verdict.SEND, T0)


def test_a_recent_send_holds_the_number_until_its_window_ends() -> None:
    holds = ClaimHolds(T0)
    sent = Reads(("earlier", T0 - 20 * timedelta(seconds=1)))
    until = T0 + 40 * timedelta(seconds=1)
    assert holds.decide("p1", Channel.SMS, PHONE, sent) == Decision(Verdict.HOLD, until)
    assert holds.decide("p2", Channel.SMS, PHONE, Reads()) == Decision(Verdict.HELD, until)


def test_a_page_sent_again_after_its_sender_died_does_not_count_itself() -> None:
    holds = ClaimHolds(T0)
    itself = Reads(("p1", T0 - 10 * timedelta(seconds=1)))
    assert holds.decide("p1", Channel.SMS, PHONE, itself) == Decision(Verdict.SEND, T0)
    assert holds.decide("p2", Channel.SMS, PHONE, itself) == Decision(Verdict.HOLD, T0 + MIN)


def test_calls_go_four_an_hour_counting_those_of_the_claim() -> None:
    holds = ClaimHolds(T0)
    calls = Reads(*((f"c{n}", T0 - n * 10 * MIN) for n in (1, 2, 3)))
    assert holds.decide("p1", Channel.VOICE, PHONE, calls) == Decision(Verdict.SEND, T0)
    oldest_ends = T0 - 30 * MIN + timedelta(hours=1)
    assert holds.decide("p2", Channel.VOICE, PHONE, calls) == Decision(Verdict.HOLD, oldest_ends)
    assert calls.count == 1

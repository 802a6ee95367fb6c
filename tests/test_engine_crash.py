"""Crash safety with real processes: `tocsin serve` is killed (SIGKILL) while a page is with
the provider, then started again on the same data. Nothing is lost and nothing is sent twice,
except the one page in flight at the kill: it goes again, under the same ledger key, once its
lease runs out (Twilio's API takes no idempotency key, so the provider sees it twice; the
README says so)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from clients.client import TocsinClient
from service.alerts.model import NewAlert
from service.paging.planning import PageState
from service.people.model import NotificationRule, NotificationStep
from tests.provider_servers import TwilioServer
from tests.test_serve_process import serving

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-for-crash-tests"
NUMBERS = ("+14155550301", "+14155550302", "+14155550303")
# Short, so the page in flight at the kill goes again soon; a provider call may take half
# of it, which a loaded machine must not reach.
LEASE_SECONDS = 4


class HoldingTwilio(TwilioServer):
    """Twilio that never answers the first message it is sent: its sender stays between
    'sent' and 'recorded' until it is killed."""

    def __init__(self) -> None:
        super().__init__(SID, TOKEN)
        self.held = asyncio.Event()
        self._release = asyncio.Event()
        self.requests: list[str] = []  # the To of every message request, as received
        self._changed = asyncio.Event()

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests.append(str(form.get("To", "")))
        self._notify()
        if not self.held.is_set():
            self.held.set()
            await self._release.wait()
        answer = await super()._create(request)
        self._notify()
        return answer

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Returns once `condition` holds, checking it whenever a request comes or goes."""
        async with asyncio.timeout(30):
            while not condition():
                await self._changed.wait()

    async def close(self) -> None:
        self._release.set()
        await super().close()


async def delivered(client: TocsinClient, tiny_id: int) -> int:
    return sum(p.state is PageState.DELIVERED for p in await client.list_pages(str(tiny_id)))


async def test_a_page_in_flight_at_a_kill_is_sent_again_and_no_other_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_TWILIO_AUTH_TOKEN", TOKEN)
    async with HoldingTwilio() as twilio:
        config = tmp_path / "tocsin.yaml"
        config.write_text(
            f"page_lease_seconds: {LEASE_SECONDS}\n"
            "notifications:\n"
            f"  twilio: {{account_sid: {SID}, sms_from: '+15550001111',\n"
            f"           base_url: '{twilio.url}'}}\n"
        )
        data = tmp_path / "data"
        with serving(data, "--config", str(config)) as (process, _, target):
            token = (data / "admin-token").read_text().strip()
            async with TocsinClient(target, token) as client:
                for index, number in enumerate(NUMBERS):
                    name = f"sre{index}"
                    await client.create_user(name)
                    await client.add_contact_method(name, "sms", number)
                    await client.set_notification_rule(
                        name, "new_alert", NotificationRule((NotificationStep("sms", 0),))
                    )
                    await client.set_team_member("default", name)
                # No policy: the default team's members are paged at once.
                alert = (await client.create_alert(NewAlert(message="Disk full"))).alert
                await asyncio.wait_for(twilio.held.wait(), 30)
                await twilio.until(lambda: len(twilio.requests) == len(NUMBERS))
                await twilio.until(lambda: len(twilio.messages()) == len(NUMBERS) - 1)
                # The other two are recorded as delivered: only the held one is in flight.
                async with asyncio.timeout(30):
                    # The ledger is in the other process: asking it again is how to watch it.
                    while await delivered(client, alert.tiny_id) < len(NUMBERS) - 1:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        held = twilio.requests[0]
        with serving(data, "--config", str(config)) as (_, _, target):
            # The lease of the page that was in flight runs out; it is sent again.
            await twilio.until(lambda: len(twilio.requests) == len(NUMBERS) + 1)
            async with TocsinClient(target, token) as client:
                await twilio.until(lambda: len(twilio.messages()) == len(NUMBERS))
                pages = await client.list_pages(str(alert.tiny_id))
                await asyncio.sleep(LEASE_SECONDS + 1)  # longer than a lease: nothing else goes
        assert Counter(twilio.requests) == Counter({**dict.fromkeys(NUMBERS, 1), held: 2})
        assert [p.state for p in pages] == [PageState.DELIVERED] * len(NUMBERS)
        attempts = {p.address: p.attempts for p in pages}
        assert attempts == {**dict.fromkeys(NUMBERS, 1), held: 2}

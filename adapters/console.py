"""The console channel: pages written to the log, for development and unconfigured channels.

A channel without a provider still shows who would have been paged and with what, so a new
installation can be tried end to end before any SMTP server or Twilio account exists.
"""

from __future__ import annotations

import logging

from service.paging.notifier import Notification, Outcome, SendResult

log = logging.getLogger("tocsin.pages")


class ConsoleNotifier:
    async def send(self, page: Notification) -> SendResult:
        log.info(
            "page via %s to %s (%s): #%d %s",
            page.channel.value,
            page.address,
            page.username,
            page.tiny_id,
            page.message,
            extra={
                "channel": page.channel.value,
                "address": page.address,
                "user": page.username,
                "tiny_id": page.tiny_id,
                "alert_id": page.alert_id,
                "alert_message": page.message,  # `message` is the log line itself
                "priority": page.priority,
                "page_key": page.key,
            },
        )
        return SendResult(Outcome.DELIVERED, provider_id=page.key, detail="written to the log")

"""Any JSON object posted to a webhook integration, read as an action: pure.

The object is flattened into details by dotted path, as SNS's generic notifications are. Without
rules it opens an alert whose message is its `message`, `title` or `summary` field, the first
that is text, else "Webhook from <integration name>"; an integration's rules decide otherwise
(their match and set name the details), which is what makes any body an alert.
"""

from __future__ import annotations

from collections.abc import Callable

from service.alerts.model import NewAlert
from service.ingest import events, fitting
from service.ingest.model import IngestAction

BODY_MAX = 256 * 1024
MESSAGE_FIELDS = ("message", "title", "summary")


def read(body: bytes) -> Callable[[str], IngestAction]:
    """What `body` does in the integration of a given name; raises
    `events.InvalidEventError` when it is not a JSON object."""
    data = events.document(body, BODY_MAX)
    headline = next(
        (text for key in MESSAGE_FIELDS if isinstance(text := data.get(key), str) and text.strip()),
        "",
    )
    details = fitting.fit_details(dict(fitting.flatten(data, "")))

    def action(integration: str) -> IngestAction:
        message = headline or f"Webhook from {integration}"
        return IngestAction(fitting.fitted(NewAlert(message=message, details=details)))

    return action

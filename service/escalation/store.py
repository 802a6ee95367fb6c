"""The escalation port: policies, each team's routing, and moving an escalation on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.escalation.model import Policy, Routing


class EscalationStore(Protocol):
    async def create_policy(self, policy: Policy) -> Policy: ...

    async def get_policy(self, policy: str) -> Policy:
        """By id or by name (case-insensitive)."""

    async def list_policies(self, team: str) -> Sequence[Policy]: ...

    async def update_policy(self, policy: str, step: Callable[[Policy], Policy]) -> Policy: ...

    async def delete_policy(self, policy: str) -> None:
        """Refuses a policy its team's routing uses."""

    async def set_routing(self, routing: Routing) -> Routing: ...

    async def get_routing(self, team: str) -> Routing:
        """The team's routing; an empty one if it has none."""

    async def escalate_now(self, alert_id: str, now: datetime) -> bool:
        """Makes the alert's next escalation step due now; False if nothing is left."""

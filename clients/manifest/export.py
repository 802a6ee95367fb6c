"""Exporting config as code: everything on the server, written as a manifest that applying
to the same server changes nothing with. Integration keys are left out: the server keeps
only their hashes."""

from __future__ import annotations

import yaml

from clients.client import TocsinClient
from clients.manifest import integrations, policies, routing, schedules, teams, users
from clients.manifest.state import State, fetch
from service.escalation.usecases import RoutingSpec


def document(state: State) -> dict[str, object]:
    """The state in the file's format: applying it to the same server changes nothing."""
    return {
        "teams": [teams.document(t, state.members.get(key, ())) for key, t in state.teams.items()],
        "users": [users.document(u) for u in state.users.values()],
        "schedules": [
            schedules.document(s, state.overrides.get(key, ()))
            for key, s in state.schedules.items()
        ],
        "policies": [policies.document(p) for p in state.policies.values()],
        "routing": [
            routing.document(r) for r in state.routing.values() if r != RoutingSpec(r.team)
        ],  # a team without routing has none to write
        "integrations": [integrations.document(i) for i in state.integrations.values()],
    }


async def export(client: TocsinClient) -> str:
    """Everything on the server as a file for `apply`."""
    text = yaml.safe_dump(
        document(await fetch(client)),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,  # block style, with lists of plain values on one line
        width=100,
    )
    return (
        "# Tocsin teams, users, schedules, policies, routing, integrations (without their keys):"
        " `tocsin apply -f FILE` to match.\n" + text
    )

"""Teams between protobuf messages and domain values, both ways: the servicer and the
Python client share it."""

from __future__ import annotations

from protos.tocsin.v1 import teams_pb2
from service.api.time_codec import instant, timestamp
from service.teams.model import Team


def team_to_pb(team: Team) -> teams_pb2.Team:
    return teams_pb2.Team(
        id=team.id,
        name=team.name,
        description=team.description,
        created_at=timestamp(team.created_at),
    )


def team_from_pb(message: teams_pb2.Team) -> Team:
    return Team(message.id, message.name, message.description, instant(message.created_at))

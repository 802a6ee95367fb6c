"""TeamService over gRPC. Changes to teams are logged with the token that made them: they
have no activity log of their own."""

from __future__ import annotations

from protos.tocsin.v1 import teams_pb2, teams_pb2_grpc
from service.api import team_codec
from service.api.guard import Context, audit
from service.api.people_codec import member_to_pb
from service.teams.usecases import Teams


class TeamServicer(teams_pb2_grpc.TeamServiceServicer):
    def __init__(self, teams: Teams) -> None:
        self._teams = teams

    async def CreateTeam(
        self, request: teams_pb2.CreateTeamRequest, context: Context
    ) -> teams_pb2.Team:
        team = await self._teams.create(request.name, request.description)
        audit("team created", team=team.name, team_id=team.id)
        return team_codec.team_to_pb(team)

    async def ListTeams(
        self, request: teams_pb2.ListTeamsRequest, context: Context
    ) -> teams_pb2.ListTeamsResponse:
        teams = await self._teams.list()
        return teams_pb2.ListTeamsResponse(teams=[team_codec.team_to_pb(team) for team in teams])

    async def GetTeam(self, request: teams_pb2.GetTeamRequest, context: Context) -> teams_pb2.Team:
        return team_codec.team_to_pb(await self._teams.get(request.team))

    async def RenameTeam(
        self, request: teams_pb2.RenameTeamRequest, context: Context
    ) -> teams_pb2.Team:
        team = await self._teams.rename(request.team, request.new_name)
        audit("team renamed", team=team.name, team_id=team.id, was=request.team)
        return team_codec.team_to_pb(team)

    async def DeleteTeam(
        self, request: teams_pb2.DeleteTeamRequest, context: Context
    ) -> teams_pb2.DeleteTeamResponse:
        await self._teams.delete(request.team)
        audit("team deleted", team=request.team)
        return teams_pb2.DeleteTeamResponse()

    async def SetTeamMember(
        self, request: teams_pb2.SetTeamMemberRequest, context: Context
    ) -> teams_pb2.TeamMember:
        member = await self._teams.set_member(request.team, request.user, request.role)
        audit("team member set", team=request.team, user=member.username, role=member.role.value)
        return member_to_pb(member)

    async def RemoveTeamMember(
        self, request: teams_pb2.RemoveTeamMemberRequest, context: Context
    ) -> teams_pb2.RemoveTeamMemberResponse:
        await self._teams.remove_member(request.team, request.user)
        audit("team member removed", team=request.team, user=request.user)
        return teams_pb2.RemoveTeamMemberResponse()

    async def ListTeamMembers(
        self, request: teams_pb2.ListTeamMembersRequest, context: Context
    ) -> teams_pb2.ListTeamMembersResponse:
        members = await self._teams.members(request.team)
        return teams_pb2.ListTeamMembersResponse(members=[member_to_pb(m) for m in members])

"""UserService over gRPC. Changes are logged with the token that made them."""

from __future__ import annotations

from protos.tocsin.v1 import users_pb2, users_pb2_grpc
from service.api.guard import Context, audit
from service.api.people_codec import rule_from_pb, user_to_pb
from service.people.usecases import Users


class UserServicer(users_pb2_grpc.UserServiceServicer):
    def __init__(self, users: Users) -> None:
        self._users = users

    async def CreateUser(
        self, request: users_pb2.CreateUserRequest, context: Context
    ) -> users_pb2.User:
        user = await self._users.create(
            request.username, request.full_name, request.time_zone, request.role
        )
        audit("user created", user=user.username, user_id=user.id)
        return user_to_pb(user)

    async def GetUser(self, request: users_pb2.GetUserRequest, context: Context) -> users_pb2.User:
        return user_to_pb(await self._users.get(request.user))

    async def ListUsers(
        self, request: users_pb2.ListUsersRequest, context: Context
    ) -> users_pb2.ListUsersResponse:
        return users_pb2.ListUsersResponse(users=[user_to_pb(u) for u in await self._users.list()])

    async def UpdateUser(
        self, request: users_pb2.UpdateUserRequest, context: Context
    ) -> users_pb2.User:
        user = await self._users.update(
            request.user,
            full_name=request.full_name if request.HasField("full_name") else None,
            time_zone=request.time_zone if request.HasField("time_zone") else None,
            user_role=request.role if request.HasField("role") else None,
        )
        audit("user updated", user=user.username)
        return user_to_pb(user)

    async def DeleteUser(
        self, request: users_pb2.DeleteUserRequest, context: Context
    ) -> users_pb2.DeleteUserResponse:
        await self._users.delete(request.user)
        audit("user deleted", user=request.user)
        return users_pb2.DeleteUserResponse()

    async def AddContactMethod(
        self, request: users_pb2.AddContactMethodRequest, context: Context
    ) -> users_pb2.User:
        user = await self._users.add_contact_method(
            request.user, request.channel, request.address, request.name
        )
        audit("contact method added", user=user.username, channel=request.channel)
        return user_to_pb(user)

    async def RemoveContactMethod(
        self, request: users_pb2.RemoveContactMethodRequest, context: Context
    ) -> users_pb2.User:
        user = await self._users.remove_contact_method(request.user, request.contact_method)
        audit("contact method removed", user=user.username, method=request.contact_method)
        return user_to_pb(user)

    async def SetNotificationRule(
        self, request: users_pb2.SetNotificationRuleRequest, context: Context
    ) -> users_pb2.User:
        rule = rule_from_pb(request.rule) if request.HasField("rule") else None
        user = await self._users.set_notification_rule(request.user, request.kind, rule)
        audit("notification rule set", user=user.username, kind=request.kind)
        return user_to_pb(user)

"""TokenService over gRPC. Token changes are logged with the token that made them."""

from __future__ import annotations

from protos.tocsin.v1 import tokens_pb2, tokens_pb2_grpc
from service.api import token_codec
from service.api.guard import Context, audit, caller
from service.tokens.usecases import Tokens


class TokenServicer(tokens_pb2_grpc.TokenServiceServicer):
    def __init__(self, tokens: Tokens) -> None:
        self._tokens = tokens

    async def CreateToken(
        self, request: tokens_pb2.CreateTokenRequest, context: Context
    ) -> tokens_pb2.CreateTokenResponse:
        info, secret = await self._tokens.create(request.name)
        audit("token created", token=info.name, token_id=info.id)
        return tokens_pb2.CreateTokenResponse(info=token_codec.token_to_pb(info), token=secret)

    async def ListTokens(
        self, request: tokens_pb2.ListTokensRequest, context: Context
    ) -> tokens_pb2.ListTokensResponse:
        tokens = await self._tokens.list()
        return tokens_pb2.ListTokensResponse(tokens=[token_codec.token_to_pb(t) for t in tokens])

    async def RevokeToken(
        self, request: tokens_pb2.RevokeTokenRequest, context: Context
    ) -> tokens_pb2.TokenInfo:
        info = await self._tokens.revoke(request.id)
        audit("token revoked", token=info.name, token_id=info.id)
        return token_codec.token_to_pb(info)

    async def GetCallerToken(
        self, request: tokens_pb2.GetCallerTokenRequest, context: Context
    ) -> tokens_pb2.TokenInfo:
        return token_codec.token_to_pb(caller())

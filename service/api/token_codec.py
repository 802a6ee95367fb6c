"""API tokens (their public part) between protobuf messages and domain values, both ways:
the servicer and the Python client share it."""

from __future__ import annotations

from protos.tocsin.v1 import tokens_pb2
from service.api.time_codec import instant, optional_instant, timestamp
from service.tokens.model import TokenInfo


def token_to_pb(token: TokenInfo) -> tokens_pb2.TokenInfo:
    message = tokens_pb2.TokenInfo(
        id=token.id, name=token.name, created_at=timestamp(token.created_at)
    )
    if token.revoked_at is not None:
        message.revoked_at.CopyFrom(timestamp(token.revoked_at))
    return message


def token_from_pb(message: tokens_pb2.TokenInfo) -> TokenInfo:
    return TokenInfo(
        message.id,
        message.name,
        instant(message.created_at),
        optional_instant(message, "revoked_at"),
    )

"""How the HTTP edge hands the service what people answer to pages: over gRPC for
`tocsin shim`, in-process inside `tocsin serve`. Refusals arrive as domain errors either way.
"""

from __future__ import annotations

from typing import Protocol

import grpc

from clients.calls import Calls
from protos.tocsin.v1 import inbound_pb2, inbound_pb2_grpc
from service.answers.usecases import Answers, LinkAlert, VoiceAnswer, VoiceOutcome

CALL_TIMEOUT_SECONDS = 10.0


class AnswersPort(Protocol):
    async def redeem_link(self, token: str, confirm: bool) -> LinkAlert:
        """Raises `PermissionDenied` for a link that cannot be used, saying why."""

    async def sms_reply(self, from_number: str, body: str, message_sid: str) -> str: ...

    async def voice_digits(self, page_key: str, digits: str, call_sid: str) -> VoiceAnswer: ...


class GrpcAnswers(Calls):
    """The service elsewhere, over gRPC: what `tocsin shim` uses."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        super().__init__(channel, token, CALL_TIMEOUT_SECONDS)
        self._stub = inbound_pb2_grpc.InboundServiceStub(channel)

    async def redeem_link(self, token: str, confirm: bool) -> LinkAlert:
        reply = await self._call(
            self._stub.RedeemLink, inbound_pb2.RedeemLinkRequest(token=token, confirm=confirm)
        )
        return LinkAlert(
            reply.action,
            reply.alert_id,
            int(reply.tiny_id or 0),
            reply.message,
            reply.user,
            reply.acknowledged_by,
            reply.closed,
            reply.done,
        )

    async def sms_reply(self, from_number: str, body: str, message_sid: str) -> str:
        request = inbound_pb2.HandleSmsReplyRequest(
            from_number=from_number, body=body, message_sid=message_sid
        )
        return (await self._call(self._stub.HandleSmsReply, request)).reply

    async def voice_digits(self, page_key: str, digits: str, call_sid: str) -> VoiceAnswer:
        request = inbound_pb2.HandleVoiceDigitsRequest(
            page_key=page_key, digits=digits, call_sid=call_sid
        )
        reply = await self._call(self._stub.HandleVoiceDigits, request)
        return VoiceAnswer(
            VoiceOutcome(reply.outcome),
            reply.say,
            reply.page_key,
            reply.alert_id,
            int(reply.tiny_id or 0),
            reply.message,
            reply.priority,
            reply.team,
            reply.user,
            reply.address,
        )


class LocalAnswers:
    """The service in this same process, as `tocsin serve` runs it."""

    def __init__(self, answers: Answers) -> None:
        self._answers = answers

    async def redeem_link(self, token: str, confirm: bool) -> LinkAlert:
        return await self._answers.redeem_link(token, confirm)

    async def sms_reply(self, from_number: str, body: str, message_sid: str) -> str:
        return await self._answers.sms_reply(from_number, body, message_sid)

    async def voice_digits(self, page_key: str, digits: str, call_sid: str) -> VoiceAnswer:
        return await self._answers.voice_digits(page_key, digits, call_sid)

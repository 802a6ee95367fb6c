"""InboundService over gRPC: what `tocsin shim` calls with the answers people send to pages,
once it has checked a Twilio signature (links carry their own)."""

from __future__ import annotations

from protos.tocsin.v1 import inbound_pb2, inbound_pb2_grpc
from service.answers.usecases import Answers
from service.api.guard import Context


class AnswerServicer(inbound_pb2_grpc.InboundServiceServicer):
    def __init__(self, answers: Answers) -> None:
        self._answers = answers

    async def RedeemLink(
        self, request: inbound_pb2.RedeemLinkRequest, context: Context
    ) -> inbound_pb2.RedeemLinkResponse:
        link = await self._answers.redeem_link(request.token, request.confirm)
        return inbound_pb2.RedeemLinkResponse(
            action=link.action,
            alert_id=link.alert_id,
            tiny_id=str(link.tiny_id),
            message=link.message,
            user=link.username,
            acknowledged_by=link.acknowledged_by,
            closed=link.closed,
            done=link.done,
        )

    async def HandleSmsReply(
        self, request: inbound_pb2.HandleSmsReplyRequest, context: Context
    ) -> inbound_pb2.HandleSmsReplyResponse:
        reply = await self._answers.sms_reply(
            request.from_number, request.body, request.message_sid
        )
        return inbound_pb2.HandleSmsReplyResponse(reply=reply)

    async def HandleVoiceDigits(
        self, request: inbound_pb2.HandleVoiceDigitsRequest, context: Context
    ) -> inbound_pb2.HandleVoiceDigitsResponse:
        answer = await self._answers.voice_digits(
            request.page_key, request.digits, request.call_sid
        )
        return inbound_pb2.HandleVoiceDigitsResponse(
            outcome=answer.outcome.value,
            say=answer.say,
            page_key=answer.page_key,
            alert_id=answer.alert_id,
            tiny_id=str(answer.tiny_id),
            message=answer.message,
            priority=answer.priority,
            team=answer.team,
            user=answer.username,
            address=answer.address,
        )

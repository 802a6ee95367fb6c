"""IngestService over gRPC: what the HTTP edge calls once a delivery's signature holds, or
with a monitoring tool's event as it was sent."""

from __future__ import annotations

from protos.tocsin.v1 import ingest_pb2, ingest_pb2_grpc
from service.api import integration_codec, time_codec
from service.api.guard import Context
from service.ingest.usecases import Ingest


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    async def AcceptSubscription(
        self, request: ingest_pb2.SnsDelivery, context: Context
    ) -> ingest_pb2.AcceptSubscriptionResponse:
        duplicate = await self._ingest.accept_subscription(
            *integration_codec.delivery_from_pb(request)
        )
        return ingest_pb2.AcceptSubscriptionResponse(duplicate=duplicate)

    async def IngestSns(
        self, request: ingest_pb2.SnsDelivery, context: Context
    ) -> ingest_pb2.IngestSnsResponse:
        result = await self._ingest.ingest(*integration_codec.delivery_from_pb(request))
        reply = ingest_pb2.IngestSnsResponse(
            duplicate=result.duplicate, deduplicated=result.deduplicated
        )
        if result.alert is not None:
            reply.alert_id = result.alert.id
            reply.tiny_id = str(result.alert.tiny_id)
        return reply

    async def IngestEvent(
        self, request: ingest_pb2.IngestEventRequest, context: Context
    ) -> ingest_pb2.IngestEventResponse:
        result = await self._ingest.ingest_event(
            request.source, request.body, request.integration_id, request.api_key
        )
        reply = ingest_pb2.IngestEventResponse(
            errors=result.errors, dedup_key=result.dedup_key, deduplicated=result.deduplicated
        )
        if result.alert is not None:
            reply.alert_id = result.alert.id
            reply.tiny_id = str(result.alert.tiny_id)
        return reply

    async def GetRequestStatus(
        self, request: ingest_pb2.GetRequestStatusRequest, context: Context
    ) -> ingest_pb2.RequestStatus:
        record = await self._ingest.request_status(
            request.source, request.request_id, request.api_key
        )
        return ingest_pb2.RequestStatus(
            request_id=record.request_id,
            integration_id=record.integration_id,
            action=record.action,
            success=record.success,
            status=record.status,
            alert_id=record.alert_id,
            alias=record.alias,
            processed_at=time_codec.timestamp(record.processed_at),
        )

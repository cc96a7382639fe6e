"""``/v1/deliveries``, ``/v1/schedule`` and ``/v1/queue``: one delivery, the schedule, the queue."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from pellacia.api import models
from pellacia.api.deps import ReadKey, Services, WriteKey, services
from pellacia.api.keys import ApiKey
from pellacia.api.problems import COMMON_RESPONSES
from pellacia.delivery import service
from pellacia.delivery.errors import NotFound
from pellacia.scheduling import service as queue_service
from pellacia.store import deliveries as delivery_store
from pellacia.store import posts as post_store

router = APIRouter(prefix="/v1", responses=COMMON_RESPONSES)
Svc = Annotated[Services, Depends(services)]


@router.get("/deliveries/{delivery_id}", response_model=models.Delivery, tags=["deliveries"])
async def get_delivery(delivery_id: uuid.UUID, svc: Svc, _: ApiKey = ReadKey) -> dict[str, Any]:
    """State, attempts, wait reason and remote URL of one delivery."""
    async with svc.pool.acquire() as conn:
        row = await delivery_store.get(conn, delivery_id)
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        row["history"] = await delivery_store.attempts(conn, delivery_id)
    return row


@router.post("/deliveries/{delivery_id}/retry", response_model=models.RetryOut, tags=["deliveries"])
async def retry_delivery(delivery_id: uuid.UUID, svc: Svc, _: ApiKey = WriteKey) -> dict[str, Any]:
    """Send a failed or manual delivery again now (its upload resumes)."""
    async with svc.pool.acquire() as conn:
        previous = await queue_service.retry(conn, delivery_id, svc.clock.now())
    return {"id": delivery_id, "previous_state": previous, "state": "ready"}


@router.post(
    "/deliveries/{delivery_id}/cancel", response_model=models.CancelOut, tags=["deliveries"]
)
async def cancel_delivery(delivery_id: uuid.UUID, svc: Svc, _: ApiKey = WriteKey) -> dict[str, Any]:
    """Cancel one delivery not yet published."""
    r = await service.cancel_delivery(svc.pool, delivery_id)
    return {"delivery_id": r.delivery_id, "platform": r.platform, "outcome": r.outcome}


@router.get("/schedule", response_model=list[models.ScheduledRow], tags=["schedule"])
async def list_schedule(
    svc: Svc,
    include_done: Annotated[bool, Query(alias="all", description="finished ones too")] = False,
    _: ApiKey = ReadKey,
) -> list[dict[str, Any]]:
    """Scheduled and queued deliveries, soonest first (create one with POST /v1/posts + `at`)."""
    async with svc.pool.acquire() as conn:
        return await post_store.scheduled(conn, include_done=include_done)


@router.get("/queue", response_model=models.QueueStatusOut, tags=["queue"])
async def queue_status(svc: Svc, _: ApiKey = ReadKey) -> dict[str, Any]:
    """Counts per platform and state, next due time, account windows, waits, budgets."""
    async with svc.pool.acquire() as conn:
        status = await queue_service.queue_status(conn, svc.clock.now())
    return status.to_json()

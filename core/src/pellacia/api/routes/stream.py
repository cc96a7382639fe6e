"""``/v1/events/stream``: the events outbox as Server-Sent Events, for live dashboards."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from pellacia.api.deps import ReadKey, Services, services
from pellacia.api.keys import ApiKey
from pellacia.api.problems import COMMON_RESPONSES
from pellacia.api.webhooks import event_type, matches, parse_filters
from pellacia.store import api_views
from pellacia.store.pool import database_health, is_unavailable
from pellacia.store.webhooks import LOOKBACK

router = APIRouter(prefix="/v1/events", tags=["events"], responses=COMMON_RESPONSES)
Svc = Annotated[Services, Depends(services)]
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


def _frame(event: dict[str, Any]) -> str:
    kind = event_type(event["kind"], event["payload"])
    data = {
        "type": kind,
        "timestamp": event["created_at"].isoformat(),
        "data": {
            "event_id": event["id"],
            "post_id": str(event["post_id"]) if event["post_id"] else None,
            "delivery_id": str(event["delivery_id"]) if event["delivery_id"] else None,
            **event["payload"],
        },
    }
    return f"id: {event['id']}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


async def _frames(svc: Services, after: int, filters: list[str]) -> AsyncIterator[str]:
    idle = 0.0
    floor = after  # never anything older than where the client starts
    sent: set[int] = set()
    yield "retry: 2000\n\n"
    while True:
        try:
            # re-read a window behind the last id sent: an event whose id was
            # taken before another's may commit after it (as the webhooks do)
            async with svc.pool.acquire() as conn:
                events = await api_views.events_after(
                    conn, max(floor, after - LOOKBACK), LOOKBACK + 500
                )
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # keep the stream (and its keep-alives) open: a browser's EventSource
            # does not come back after a 503, and the events wait in the outbox
            database_health().lost(exc, where="event stream")
            events = []
        fresh = [e for e in events if e["id"] not in sent]
        for event in fresh:
            sent.add(event["id"])
            after = max(after, event["id"])
            if matches(filters, event_type(event["kind"], event["payload"])):
                yield _frame(event)
        sent = {i for i in sent if i > after - LOOKBACK}
        if fresh:
            idle = 0.0
            continue
        await asyncio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS
        if idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an event stream"}},
)
async def stream(
    svc: Svc,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, description="resume after this id")
    ] = None,
    after: Annotated[int | None, Query(ge=0, description="start after this event id")] = None,
    events: Annotated[str | None, Query(max_length=500, description="types, a,b")] = None,
    _: ApiKey = ReadKey,
) -> StreamingResponse:
    """Every outbox event from now on (or after `Last-Event-ID`), as `text/event-stream`:
    `id` is the event id, `event` its type, `data` the same JSON a webhook gets."""
    filters = parse_filters(events)
    start = last_event_id if last_event_id is not None else after
    if start is None:
        async with svc.pool.acquire() as conn:
            start = await api_views.last_event_id(conn)
    return StreamingResponse(
        _frames(svc, start, filters),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

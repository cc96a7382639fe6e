"""``/v1/webhooks``: register, list, remove and ping endpoints (admin scope)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from pellacia.api import webhooks
from pellacia.api.deps import AdminKey, Services, services
from pellacia.api.keys import ApiKey
from pellacia.api.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=COMMON_RESPONSES)
Svc = Annotated[Services, Depends(services)]


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, description="types or 'delivery.*'; [] = all")


class WebhookCreated(BaseModel):
    id: uuid.UUID
    url: str
    secret: str = Field(description="whsec_...: verify signatures with it; shown only now")


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    created_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    backlog: int


class PingOut(BaseModel):
    status: int | None
    error: str | None


@router.post("", status_code=201, response_model=WebhookCreated)
async def add(body: WebhookIn, svc: Svc, _: ApiKey = AdminKey) -> dict[str, Any]:
    """Register an endpoint (targets on private addresses refused unless configured)."""
    from pellacia.vault import vault_for

    vault = vault_for(svc.settings)
    async with svc.pool.acquire() as conn:
        hook_id, secret = await webhooks.add(
            conn, body.url, body.events, svc.settings.webhooks, vault=vault
        )
    return {"id": hook_id, "url": body.url, "secret": secret}


@router.get("", response_model=list[WebhookOut])
async def listing(svc: Svc, _: ApiKey = AdminKey) -> list[dict[str, Any]]:
    """Every endpoint with its filter, backlog and health."""
    async with svc.pool.acquire() as conn:
        return await webhooks.listing(conn)


@router.delete("/{hook_id}", status_code=204, response_class=Response)
async def remove(hook_id: uuid.UUID, svc: Svc, _: ApiKey = AdminKey) -> Response:
    """Remove an endpoint and its unsent messages."""
    async with svc.pool.acquire() as conn:
        await webhooks.remove(conn, hook_id)
    return Response(status_code=204)


@router.post("/{hook_id}/test", response_model=PingOut)
async def ping(hook_id: uuid.UUID, svc: Svc, _: ApiKey = AdminKey) -> dict[str, Any]:
    """Send a signed ping now."""
    from pellacia.vault import vault_for

    vault = vault_for(svc.settings)
    async with svc.pool.acquire() as conn:
        status, error = await webhooks.send_test(
            conn, hook_id, svc.settings.webhooks, datetime.now(UTC), vault=vault
        )
    return {"status": status, "error": error}

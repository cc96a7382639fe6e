"""``/v1/accounts`` (token health) and ``/v1/plugins``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from pellacia.api import models
from pellacia.api.deps import ReadKey, Services, services
from pellacia.api.keys import ApiKey
from pellacia.api.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1", responses=COMMON_RESPONSES)
Svc = Annotated[Services, Depends(services)]


@router.get("/accounts", response_model=list[models.AccountOut], tags=["accounts"])
async def accounts(svc: Svc, _: ApiKey = ReadKey) -> list[dict[str, Any]]:
    """Stored credentials and their token health (never the tokens), as `auth list` shows."""
    from pellacia.vault import open_vault

    secret = svc.settings.secret_key
    vault = open_vault(svc.settings.data_dir, secret.get_secret_value() if secret else None)
    now = svc.clock.now()
    async with svc.pool.acquire() as conn:
        infos = await vault.list(conn)
    return [{**i.to_json(), "status": i.status(now)} for i in infos]


@router.get("/plugins", response_model=list[models.PluginOut], tags=["plugins"])
async def plugins(svc: Svc, _: ApiKey = ReadKey) -> list[dict[str, Any]]:
    """Installed plugins, what each provides, and any that failed to load."""
    return [info.to_json() for info in svc.registry.plugins]

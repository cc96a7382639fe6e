"""``/v1/accounts`` (token health), ``/v1/plugins`` and ``/v1/routes``."""

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


@router.get("/routes", response_model=list[models.RouteOut], tags=["routes"])
async def routes(svc: Svc, _: ApiKey = ReadKey) -> list[dict[str, Any]]:
    """The routes deliveries can take (direct, VPNs, proxies) and their attempts'
    outcomes over the last 24 hours."""
    from datetime import timedelta

    from pellacia.store import api_views

    async with svc.pool.acquire() as conn:
        outcomes = await api_views.route_outcomes(conn, svc.clock.now() - timedelta(hours=24))
    names = sorted(set(svc.registry.routes) | set(outcomes))
    return [
        {
            "name": name,
            "kind": getattr(svc.registry.routes.get(name), "kind", None),
            "installed": name in svc.registry.routes,
            "last_24h": outcomes.get(name, {}),
        }
        for name in names
    ]

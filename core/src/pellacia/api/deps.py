"""What every route needs: the shared services and an API key with the right scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from pellacia.api import keys
from pellacia.api.limits import RateLimiter, retry_after
from pellacia.api.problems import ApiError
from pellacia.clock import Clock

if TYPE_CHECKING:
    import asyncpg

    from pellacia.config import Settings
    from pellacia.plugins import Registry

HEADER = "X-API-Key"
scheme = APIKeyHeader(name=HEADER, auto_error=False, description="An API key (api-key create)")


@dataclass
class Services:
    """The process's shared state: the same services the CLI calls."""

    pool: asyncpg.Pool
    settings: Settings
    registry: Registry
    clock: Clock
    limiter: RateLimiter


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def authorize(request: Request, presented: str | None, scope: str) -> keys.ApiKey:
    """The live API key ``presented``, allowing ``scope``, within its rate limit."""
    svc = services(request)
    if not presented:
        raise ApiError(401, "API key required", f"send an API key in the {HEADER} header")
    async with svc.pool.acquire() as conn:
        key = await keys.verify(conn, presented, svc.clock.now())
    if key is None:
        raise ApiError(401, "Unknown API key", "the API key is unknown or revoked")
    wait = svc.limiter.take(key.id)
    if wait > 0:
        raise ApiError(
            429,
            "Rate limited",
            f"too many requests for API key {key.name!r}; retry in {wait:.1f} s",
            headers={"Retry-After": retry_after(wait)},
        )
    if not key.allows(scope):
        raise ApiError(
            403, "Scope missing", f"this API key lacks the {scope!r} scope for this request"
        )
    return key


def require(scope: str) -> Callable[..., Awaitable[keys.ApiKey]]:
    """A dependency: a live API key allowing ``scope``."""

    async def dependency(request: Request, presented: str | None = Depends(scheme)) -> keys.ApiKey:
        return await authorize(request, presented, scope)

    return dependency


ReadKey: Any = Depends(require("read"))
WriteKey: Any = Depends(require("write"))
AdminKey: Any = Depends(require("admin"))

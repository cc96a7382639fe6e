"""``/healthz`` (the process), ``/readyz`` (the database), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pellacia.api import models
from pellacia.api.deps import Services, require, services
from pellacia.api.problems import COMMON_RESPONSES
from pellacia.config import ApiSettings
from pellacia.log import redact_text
from pellacia.store import api_views
from pellacia.store.pool import database_health, is_unavailable

#: seconds /readyz waits for the database before it answers 503
READY_TIMEOUT = 3.0

Svc = Annotated[Services, Depends(services)]


class Metrics:
    """The process's Prometheus registry: request counters here, the rest read at scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "pellacia_api_requests", "API requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "pellacia_api_request_seconds", "API request time", ["route"], registry=r
        )
        self.depth = Gauge(
            "pellacia_deliveries",
            "Deliveries by platform and state",
            ["platform", "state"],
            registry=r,
        )
        self.attempts = Gauge(
            "pellacia_attempts",
            "Attempts by platform, layer and outcome",
            ["platform", "layer", "outcome"],
            registry=r,
        )
        self.attempt_seconds = Gauge(
            "pellacia_attempt_seconds_sum",
            "Time spent in attempts",
            ["platform", "layer", "outcome"],
            registry=r,
        )
        self.upload_bytes = Gauge(
            "pellacia_upload_bytes",
            "Bytes uploaded by attempts",
            ["platform", "layer"],
            registry=r,
        )
        self.events = Gauge(
            "pellacia_events",
            "Events written to the outbox by kind (alert: alerts sent)",
            ["kind"],
            registry=r,
        )
        self.webhook_backlog = Gauge(
            "pellacia_webhook_backlog",
            "Messages not yet delivered per webhook",
            ["url"],
            registry=r,
        )

    def refresh(self, facts: dict[str, list[dict[str, Any]]]) -> None:
        for gauge in (
            self.depth,
            self.attempts,
            self.attempt_seconds,
            self.upload_bytes,
            self.events,
            self.webhook_backlog,
        ):
            gauge.clear()
        for row in facts["depth"]:
            self.depth.labels(row["platform"], row["state"]).set(row["n"])
        for row in facts["attempts"]:
            labels = (row["platform"], row["layer"], row["outcome"])
            self.attempts.labels(*labels).set(row["n"])
            self.attempt_seconds.labels(*labels).set(float(row["seconds"]))
            self.upload_bytes.labels(row["platform"], row["layer"]).inc(float(row["bytes"]))
        for row in facts["events"]:
            self.events.labels(row["kind"]).set(row["total"])
        for row in facts["webhooks"]:
            self.webhook_backlog.labels(row["url"]).set(row["n"])


class RequestMetrics:
    """ASGI middleware counting requests by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], name, str(status)).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)


def build_router(api: ApiSettings) -> APIRouter:
    """The health routes; public or keyed as ``[api]`` says (and the spec says so too)."""
    router = APIRouter(tags=["health"], responses=COMMON_RESPONSES)
    health_auth = [] if api.public_health else [Depends(require("read"))]
    metrics_auth = [] if api.public_metrics else [Depends(require("admin"))]

    @router.get("/healthz", response_model=models.Health, dependencies=health_auth)
    async def healthz() -> dict[str, Any]:
        """The process answers."""
        return {"status": "ok", "checks": {}}

    @router.get(
        "/readyz",
        response_model=models.Health,
        responses={503: {"model": models.Health, "description": "not ready"}},
        dependencies=health_auth,
    )
    async def readyz(svc: Svc) -> Any:
        """The database answers and its migrations are applied."""
        health = database_health()
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                async with svc.pool.acquire() as conn:
                    facts = await api_views.ready(conn)
        except Exception as exc:  # any database failure means "not ready"
            if is_unavailable(exc) or isinstance(exc, TimeoutError):
                health.lost(exc, where="readyz")
            why = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
            reason = f"unavailable: {redact_text(why or type(exc).__name__)}"
            body = {"status": "unavailable", "checks": {"database": reason}}
            return JSONResponse(body, 503)
        health.ok()
        return {
            "status": "ok",
            "checks": {"database": "ok", "migrations": str(facts["migrations"])},
        }

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
        dependencies=metrics_auth,
    )
    async def metrics(request: Request, svc: Svc) -> PlainTextResponse:
        """Queue depth, attempts, upload bytes, webhook backlog and API requests."""
        collected: Metrics = request.app.state.metrics
        async with svc.pool.acquire() as conn:
            collected.refresh(await api_views.metrics(conn))
        return PlainTextResponse(
            generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST
        )

    return router

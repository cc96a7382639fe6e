"""Per-key rate limits (token buckets) and request body size limits."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pellacia.api.problems import MEDIA_TYPE, Problem


@dataclass
class RateLimiter:
    """A token bucket per API key: ``burst`` at once, refilled at ``per_minute``."""

    per_minute: float
    burst: int
    _buckets: dict[uuid.UUID, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: uuid.UUID, now: float | None = None) -> float:
        """0 when the request may go, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate


class BodyLimit:
    """Refuse request bodies over the limit (413), by Content-Length and while streaming.

    Upload routes (``upload_paths``) get ``upload_bytes``; everything else ``body_bytes``.
    """

    def __init__(
        self, app: ASGIApp, *, body_bytes: int, upload_bytes: int, upload_paths: tuple[str, ...]
    ) -> None:
        self.app, self.body_bytes, self.upload_bytes = app, body_bytes, upload_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"] in self.upload_paths else self.body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = Problem(
        title="Request body too large",
        status=413,
        detail=f"the limit is {limit} bytes",
    ).model_dump_json(exclude_none=True)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))

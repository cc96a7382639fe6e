"""The rupload transfer both platforms use (``rupload.facebook.com``), on the SDK's loop.

``POST <upload uri>`` with ``Authorization: OAuth <token>``, ``offset`` (where
this body starts), ``file_size`` (the whole file) and the raw bytes, streamed
from disk. Meta documents one body with the whole file; a resumed upload
sends the rest from the offset the server holds. ``chunk_size`` (setting)
cuts the file into several such bodies, each saved as resume state once
acknowledged, so a crash re-sends at most one chunk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from pellacia.contract import PlatformContext, UploadSession
from pellacia.errors import Rejected, Transient
from pellacia.sdk import Chunk, upload_chunks

from pellacia_meta.graph import RuploadApi, UsageMeter


def chunk_size_of(settings: Mapping[str, Any]) -> int | None:
    """``chunk_size`` in bytes, or None: the rest of the file in one body (Meta's own way)."""
    value = settings.get("chunk_size")
    if value in (None, 0, "0"):
        return None
    size = int(value)
    if size <= 0:
        raise Rejected(f"meta chunk_size {size} must be positive (or 0 for one body)")
    return size


async def server_offset(
    ctx: PlatformContext, meter: UsageMeter, uri: str, key: str = "offset"
) -> int | None:
    """How many bytes the upload URI holds (``GET`` → ``{"offset": N}``; the
    Resumable Upload API says ``file_offset``); None when it cannot tell."""
    api = RuploadApi(ctx, meter)
    try:
        reply = await api.request("GET", uri, action="upload offset", accept=(400, 404, 405))
    except Transient:
        return None
    data = reply.json()
    if reply.status != 200 or not isinstance(data, dict) or key not in data:
        return None
    try:
        return int(data[key])
    except (TypeError, ValueError):
        return None


async def send_file(
    ctx: PlatformContext,
    meter: UsageMeter,
    session: UploadSession,
    path: Path,
    *,
    uri: str,
    total: int,
    offset: int,
    state: Callable[[int], Mapping[str, Any]],
    checkpoint: Callable[[], Awaitable[int | None]] | None = None,
    session_api: bool = False,
) -> dict[str, Any]:
    """Send ``path`` from ``offset`` to ``total`` to ``uri``, saving ``state`` after each body.

    ``session_api``: the Resumable Upload API's transfer (``file_offset``
    header, answers ``{"h": handle}``) instead of rupload's. Returns the last answer.
    """
    api = RuploadApi(ctx, meter)
    size = chunk_size_of(ctx.settings)
    last: dict[str, Any] = {}

    async def send(chunk: Chunk) -> int:
        where = {"file_offset": str(chunk.offset)} if session_api else {
            "offset": str(chunk.offset), "file_size": str(total)
        }  # fmt: skip
        reply = await api.request(
            "POST",
            uri,
            action="upload",
            headers={
                **where,
                "Content-Type": "application/octet-stream",
                "Content-Length": str(chunk.length),
            },
            data=chunk.body(),
        )
        body = reply.json()
        done = isinstance(body, dict) and (body.get("h") if session_api else body.get("success"))
        if not done or not isinstance(body, dict):
            raise Transient(
                f"{api.name} upload: the answer does not confirm the bytes", platform=ctx.platform
            )
        last.update(body)
        return chunk.end

    await upload_chunks(
        session,
        path,
        total=total,
        offset=offset,
        chunk_length=lambda at: min(size or total, total - at),
        send=send,
        state=state,
        checkpoint=checkpoint,
    )
    session.progress(total, total)
    return last

"""The v2 chunked media upload: initialize, append segments, finalize, wait for processing.

X's rules (protocols.md §5): ``POST /2/media/upload/initialize`` (JSON
``media_type``, ``total_bytes``, ``media_category=amplify_video``), then
``POST /2/media/upload/{id}/append`` as multipart ``media`` + ``segment_index``
(0..999, so at most 1000 segments; at most 4 MiB each here: X says "5 MB" and
its own sample sends 4 MB), then ``POST /2/media/upload/{id}/finalize`` and
``GET /2/media/upload?command=STATUS&media_id=`` every ``check_after_secs``
until ``succeeded``. Only then can a post carry the media.

Resume state (saved after initialize and after every acknowledged segment)::

    {"v": 1, "media_id", "media_key", "expires_at", "total_bytes",
     "segment_size", "next_segment", "finalized", "started_at"}

X cannot say which segments it holds: a resumed upload re-appends every
segment from the first one not acknowledged (re-appending is allowed), while
the session lives (``expires_after_secs``, with a margin); after that, or when
X no longer knows the media id, the upload starts over.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from typing import Any

import aiohttp
from pellacia.contract import PlatformContext, PublishRequest, UploadReceipt, UploadSession
from pellacia.errors import Rejected, Transient
from pellacia.log import get_logger
from pellacia.sdk import Chunk, upload_chunks

from pellacia_twitter.client import PLATFORM, XApi

MiB = 1024 * 1024
MAX_SEGMENT_BYTES = 4 * MiB
DEFAULT_SEGMENT_BYTES = 4 * MiB
MAX_SEGMENTS = 1000
STATE_VERSION = 1
SESSION_MARGIN_S = 600.0  # never resume a session about to expire
MEDIA_CATEGORY = "amplify_video"
MEDIA_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime"}

log = get_logger("pellacia_twitter.upload")


class SessionGone(Exception):
    """X no longer knows the media id (expired or never finished): start over."""


def segment_size(total_bytes: int, preferred: int = DEFAULT_SEGMENT_BYTES) -> int:
    """Bytes per segment: ``preferred`` (at most 4 MiB), grown so that at most
    1000 segments hold the file. ``Rejected`` when no size can do it."""
    if total_bytes <= 0:
        raise Rejected("an empty file cannot be uploaded to X", platform=PLATFORM)
    size = max(1, min(preferred, MAX_SEGMENT_BYTES), math.ceil(total_bytes / MAX_SEGMENTS))
    if size > MAX_SEGMENT_BYTES:
        raise Rejected(
            f"{total_bytes} bytes do not fit in {MAX_SEGMENTS} segments of at most "
            f"{MAX_SEGMENT_BYTES} bytes",
            platform=PLATFORM,
        )
    return min(size, total_bytes)


def segment_count(total_bytes: int, size: int | None = None) -> int:
    """How many segments a file of ``total_bytes`` needs."""
    return math.ceil(total_bytes / (size or segment_size(total_bytes)))


class MediaUpload:
    """One video's upload to X for one attempt (``state`` is what gets saved)."""

    def __init__(
        self, api: XApi, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> None:
        self.api, self.request, self.session, self.ctx = api, request, session, ctx
        self.state: dict[str, Any] = {}

    # --------------------------------------------------------------- flow

    async def run(self) -> UploadReceipt:
        """Resume the saved session or open one, send every segment, finalize, wait."""
        resumed = self._resumable()
        for attempt in (1, 2):
            if not resumed:
                await self._initialize()
            try:
                if not self.state.get("finalized"):
                    await self._append_all()
                    await self._finalize()
                await self._wait_processed()
            except SessionGone:
                if attempt == 2:
                    raise Transient(
                        "X forgot the media upload twice in a row", platform=PLATFORM
                    ) from None
                log.info("twitter.upload_restarted", delivery_id=self.request.delivery_id)
                resumed = False
                continue
            break
        return UploadReceipt(remote_id=str(self.state["media_id"]), state=dict(self.state))

    def _resumable(self) -> bool:
        saved = dict(self.session.resume_state or {})
        if (
            saved.get("v") != STATE_VERSION
            or not saved.get("media_id")
            or saved.get("total_bytes") != self.request.video.size
        ):
            return False
        left = float(saved.get("expires_at") or 0) - self.ctx.clock.now().timestamp()
        if left <= SESSION_MARGIN_S:
            self.state = {"started_at": saved.get("started_at")}  # bounds reconcile's search
            log.info("twitter.upload_session_expired", delivery_id=self.request.delivery_id)
            return False
        self.state = saved
        log.info(
            "twitter.upload_resumed",
            delivery_id=self.request.delivery_id,
            next_segment=saved.get("next_segment"),
        )
        return True

    async def _initialize(self) -> None:
        size = self.request.video.size
        preferred = int(self.ctx.settings.get("segment_size", DEFAULT_SEGMENT_BYTES))
        body = {
            "media_type": MEDIA_TYPES.get(self.request.video.container, "video/mp4"),
            "total_bytes": size,
            "media_category": MEDIA_CATEGORY,
        }
        answer = await self.api.json(
            "POST", "/2/media/upload/initialize", action="media initialize", json=body
        )
        data = _data(answer, "media initialize")
        now = self.ctx.clock.now().timestamp()
        self.state = {
            "v": STATE_VERSION,
            "media_id": str(data["id"]),
            "media_key": data.get("media_key"),
            "expires_at": now + float(data.get("expires_after_secs") or 3600),
            "total_bytes": size,
            "segment_size": segment_size(size, preferred),
            "next_segment": 0,
            "finalized": False,
            "started_at": self.state.get("started_at") or now,
        }
        await self.session.save_state(self.state)  # durable before any byte

    async def _append_all(self) -> None:
        seg = int(self.state["segment_size"])
        total = int(self.state["total_bytes"])
        media_id = self.state["media_id"]

        async def send(chunk: Chunk) -> int:
            await self._append(media_id, chunk.offset // seg, chunk)
            return chunk.end

        def saved(offset: int) -> dict[str, Any]:
            self.state["next_segment"] = math.ceil(offset / seg)
            return dict(self.state)

        await upload_chunks(
            self.session,
            self.request.video.path,
            total=total,
            offset=min(int(self.state["next_segment"]) * seg, total),
            chunk_length=lambda at: min(seg, total - at),
            send=send,
            state=saved,
        )

    async def _append(self, media_id: str, index: int, chunk: Chunk) -> None:
        # The segment (at most 4 MiB) is read into memory: a multipart body streamed
        # from the file stays open when X answers before reading it (a 429).
        segment = await asyncio.to_thread(_read, chunk)

        def form() -> aiohttp.FormData:  # a fresh body per attempt (the SDK may resend)
            data = aiohttp.FormData()
            data.add_field("segment_index", str(index))
            data.add_field(  # BytesIO: aiohttp refuses to inline bodies over 1 MiB as bytes
                "media",
                io.BytesIO(segment),
                filename="blob",
                content_type="application/octet-stream",
            )
            return data

        reply = await self.api.request(
            "POST",
            f"/2/media/upload/{media_id}/append",
            action="media append",
            data=form,
            accept=(404,),
        )
        if reply.status == 404:
            raise SessionGone(media_id)

    async def _finalize(self) -> None:
        reply = await self.api.request(
            "POST",
            f"/2/media/upload/{self.state['media_id']}/finalize",
            action="media finalize",
            accept=(404,),
        )
        if reply.status == 404:
            raise SessionGone(self.state["media_id"])
        self.state["finalized"] = True
        self.state["processing"] = _data(_json(reply), "media finalize").get("processing_info")
        await self.session.save_state(self.state)

    async def _wait_processed(self) -> None:
        """Poll STATUS every ``check_after_secs`` until ``succeeded`` (``Rejected`` on failed)."""
        info = self.state.get("processing")
        limit = float(self.ctx.settings.get("processing_timeout", 1800.0))
        deadline = self.ctx.clock.monotonic() + limit
        while isinstance(info, dict) and info.get("state") not in (None, "succeeded"):
            if info.get("state") == "failed":
                error = info.get("error") or {}
                raise Rejected(
                    f"X could not process the video: {error.get('name', '')} "
                    f"{error.get('message', '')}".rstrip(),
                    platform=PLATFORM,
                )
            if self.ctx.clock.monotonic() >= deadline:
                raise Transient(
                    f"X is still processing the video after {limit:.0f} s", platform=PLATFORM
                )
            await self.ctx.clock.sleep(max(0.0, float(info.get("check_after_secs", 1))))
            reply = await self.api.request(
                "GET",
                "/2/media/upload",
                action="media status",
                params={"command": "STATUS", "media_id": str(self.state["media_id"])},
                accept=(404,),
            )
            if reply.status == 404:
                raise SessionGone(self.state["media_id"])
            info = _data(_json(reply), "media status").get("processing_info")
        self.state["processing"] = {"state": "succeeded"}


def _read(chunk: Chunk) -> bytes:
    with chunk.path.open("rb") as f:
        f.seek(chunk.offset)
        data = f.read(chunk.length)
    if len(data) != chunk.length:
        raise Rejected(f"the file {chunk.path.name} shrank during the upload", platform=PLATFORM)
    return data


def _json(reply: Any) -> dict[str, Any]:
    data = reply.json()
    return data if isinstance(data, dict) else {}


def _data(answer: dict[str, Any], action: str) -> dict[str, Any]:
    data = answer.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        raise Transient(
            f"X {action}: no media in the answer: {json.dumps(answer)[:200]}", platform=PLATFORM
        )
    return data

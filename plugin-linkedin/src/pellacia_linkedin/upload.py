"""The Videos API upload (protocols.md §6) on the SDK's resumable loop.

1. ``POST /rest/videos?action=initializeUpload`` → the video URN, an upload
   token, ``uploadUrlsExpireAt`` (ms) and one ``uploadInstructions`` entry per
   part (``uploadUrl``, ``firstByte``, ``lastByte``: 4 MiB parts, the last
   shorter). Saved at once as resume state.
2. ``PUT`` each part's bytes to its own URL → 200/201 with an ``ETag``: kept
   in part order, quotes stripped, saved after every part.
3. ``POST /rest/videos?action=finalizeUpload`` with every ETag in order.

Resume state::

    {"v": 1, "video", "upload_token", "owner", "size", "expires_at_ms",
     "parts": [{"url", "first", "last"}...], "etags": [str | None...],
     "finalized": bool, "started_at"}

LinkedIn cannot be asked which parts it holds, so the saved ETags are the
truth: a resumed upload re-PUTs the parts without one (a part PUT is safe to
repeat) while the URLs live (``uploadUrlsExpireAt`` less a margin); after
that, or when a part URL answers 403/404/410, it initializes again (once per
run). The old video never becomes a post: it was never finalized.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pellacia.contract import PlatformContext, PublishRequest, UploadReceipt, UploadSession
from pellacia.errors import Rejected, Transient
from pellacia.log import get_logger
from pellacia.sdk import Chunk, upload_chunks

from pellacia_linkedin.client import PLATFORM, LinkedInApi
from pellacia_linkedin.video import video_status

STATE_VERSION = 1
URL_MARGIN_S = 120.0  # never start a part on a URL about to die
#: what a part URL answers once it is dead
GONE = (403, 404, 410)

log = get_logger("pellacia_linkedin.upload")


class UrlsExpired(Exception):
    """The part URLs are dead: initialize again."""


def strip_etag(value: str) -> str:
    """An ETag as finalizeUpload wants it: no weak marker, no quotes."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def parse_instructions(value: Mapping[str, Any], size: int) -> list[dict[str, Any]]:
    """The parts of an initializeUpload answer, checked to cover ``[0, size)`` in order."""
    parts = []
    expected = 0
    for item in sorted(value.get("uploadInstructions") or (), key=lambda i: int(i["firstByte"])):
        first, last = int(item["firstByte"]), int(item["lastByte"])
        if first != expected or last < first or not item.get("uploadUrl"):
            break
        parts.append({"url": str(item["uploadUrl"]), "first": first, "last": last})
        expected = last + 1
    if not parts or expected != size:
        raise Transient(
            f"LinkedIn initializeUpload: the upload instructions do not cover {size} bytes",
            platform=PLATFORM,
        )
    return parts


def urls_alive(state: Mapping[str, Any], now: datetime) -> bool:
    """Whether the part URLs still live for long enough to send a part."""
    expires = state.get("expires_at_ms")
    if not isinstance(expires, int | float):
        return True  # not announced: try, and re-initialize when a URL answers gone
    return now.timestamp() * 1000 < expires - URL_MARGIN_S * 1000


class VideoUpload:
    """One run of the Videos API upload for one delivery; ``run()`` returns the receipt."""

    def __init__(
        self,
        api: LinkedInApi,
        request: PublishRequest,
        session: UploadSession,
        ctx: PlatformContext,
        owner: str,
    ) -> None:
        self.api = api
        self.request = request
        self.session = session
        self.ctx = ctx
        self.owner = owner
        self.size = request.video.size
        self.state: dict[str, Any] = {}

    async def run(self) -> UploadReceipt:
        """Initialize (or resume), send the parts, finalize."""
        self.state = self._resumable() or await self._initialize()
        for attempt in (1, 2):
            if self.state.get("finalized"):
                break
            try:
                await self._send_parts()
            except UrlsExpired:
                if attempt == 2:
                    raise Transient(
                        "LinkedIn: the part upload URLs died twice in a row", platform=PLATFORM
                    ) from None
                log.info("linkedin.upload_urls_expired", delivery_id=self.request.delivery_id)
                self.state = await self._initialize()
                continue
            await self._finalize()
        self.session.progress(self.size, self.size)
        return UploadReceipt(remote_id=self.state["video"], state=dict(self.state))

    def _resumable(self) -> dict[str, Any] | None:
        saved = dict(self.session.resume_state or {})
        if (
            saved.get("v") != STATE_VERSION
            or not saved.get("video")
            or saved.get("size") != self.size
            or saved.get("owner") != self.owner
        ):
            return None
        if saved.get("finalized"):
            return saved
        if not urls_alive(saved, self.ctx.clock.now()):
            log.info("linkedin.upload_urls_expired", delivery_id=self.request.delivery_id)
            return None
        return saved

    async def _initialize(self) -> dict[str, Any]:
        started = self.ctx.clock.now()
        body = {
            "initializeUploadRequest": {
                "owner": self.owner,
                "fileSizeBytes": self.size,
                "uploadCaptions": False,
                "uploadThumbnail": False,
            }
        }
        data = await self.api.json(
            "POST", "/rest/videos?action=initializeUpload", action="initializeUpload", json=body
        )
        value = data.get("value")
        if not isinstance(value, dict) or not value.get("video"):
            raise Transient("LinkedIn initializeUpload answered without a video", platform=PLATFORM)
        parts = parse_instructions(value, self.size)
        expires = value.get("uploadUrlsExpireAt")
        state: dict[str, Any] = {
            "v": STATE_VERSION,
            "video": str(value["video"]),
            "upload_token": str(value.get("uploadToken") or ""),
            "owner": self.owner,
            "size": self.size,
            "expires_at_ms": int(expires) if isinstance(expires, int | float) else None,
            "parts": parts,
            "etags": [None] * len(parts),
            "finalized": False,
            "started_at": started.isoformat(),
        }
        await self.session.save_state(state)  # durable before any byte
        return state

    def _index_at(self, offset: int) -> int:
        for i, part in enumerate(self.state["parts"]):
            if part["first"] == offset:
                return int(i)
        raise Transient(f"LinkedIn: no part starts at byte {offset}", platform=PLATFORM)

    async def _send_parts(self) -> None:
        parts: list[dict[str, Any]] = self.state["parts"]
        etags: list[str | None] = self.state["etags"]
        missing = [i for i, tag in enumerate(etags) if not tag]
        if not missing:
            return
        # parts go in order and the loop stops at a failure, so the missing ones
        # are a suffix; a gap (none today) is filled by re-sending from it
        start = parts[missing[0]]["first"]

        async def send(chunk: Chunk) -> int:
            if not urls_alive(self.state, self.ctx.clock.now()):
                raise UrlsExpired
            index = self._index_at(chunk.offset)
            etags[index] = await self._put(parts[index]["url"], chunk)
            return chunk.end

        await upload_chunks(
            self.session,
            self.request.video.path,
            total=self.size,
            offset=start,
            chunk_length=lambda at: int(parts[self._index_at(at)]["last"]) - at + 1,
            send=send,
            state=lambda _at: dict(self.state),
        )

    async def _put(self, url: str, chunk: Chunk) -> str:
        reply = await self.api.request(
            "PUT",
            url,
            action="part upload",
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(chunk.length),
            },
            data=chunk.body(),
            accept=GONE,
        )
        if reply.status in GONE:
            raise UrlsExpired
        etag = strip_etag(reply.headers.get("ETag", ""))
        if not etag:
            raise Transient("LinkedIn part upload answered without an ETag", platform=PLATFORM)
        return etag

    async def _finalize(self) -> None:
        body = {
            "finalizeUploadRequest": {
                "video": self.state["video"],
                "uploadToken": self.state["upload_token"],
                "uploadedPartIds": list(self.state["etags"]),
            }
        }
        try:
            await self.api.request(
                "POST", "/rest/videos?action=finalizeUpload", action="finalizeUpload", json=body
            )
        except Rejected:
            # a repeat after a lost answer is refused: fine if LinkedIn has the video
            status = await video_status(self.api, self.state["video"])
            if status in (None, "WAITING_UPLOAD"):
                raise
        self.state["finalized"] = True
        await self.session.save_state(dict(self.state))


def started_at(state: Mapping[str, Any]) -> datetime | None:
    """When the upload of ``state`` began (bounds the reconcile search)."""
    value = state.get("started_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def search_floor(state: Mapping[str, Any], ctx: PlatformContext) -> datetime:
    """The oldest post creation time reconcile must look at."""
    hours = float(ctx.settings.get("reconcile_lookback_hours", 72))
    return started_at(state) or ctx.clock.now() - timedelta(hours=hours)

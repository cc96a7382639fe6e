"""Chunk planning and the resumable transfer of one video to TikTok.

TikTok's rules (protocols.md §2): chunks of 5 MB to 64 MB, sent in order; the last
chunk absorbs the trailing bytes and may reach 128 MB;
``total_chunk_count = floor(video_size / chunk_size)``; a file under 5 MB (or
one that fits a single chunk) goes whole; 1 to 1000 chunks.

Resume state (saved after init and after every acknowledged chunk)::

    {"v": 1, "mode", "publish_id", "upload_url", "upload_url_expires_at",
     "video_size", "chunk_size", "total_chunk_count", "next_chunk",
     "uploaded_bytes", "privacy_level", "creator_username", "started_at"}

A resumed upload asks ``status/fetch`` for ``uploaded_bytes`` (the truth on
TikTok's side) and continues at the first unacknowledged chunk; an expired
upload URL means a new init (the old one never becomes a post: it lacks bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pellacia.contract import PlatformContext, PublishRequest, UploadReceipt, UploadSession
from pellacia.errors import Rejected, Transient
from pellacia.log import get_logger
from pellacia.sdk import Chunk, upload_chunks

from pellacia_tiktok.client import PLATFORM, ChunkOutOfOrder, TikTokClient, UploadUrlGone

MB = 1024 * 1024
#: TikTok says "5 MB" to "64 MB" (last chunk "128 MB") without saying which MB:
#: sizes valid under both readings are at least 5 MiB and at most 64,000,000 bytes
MIN_CHUNK = 5 * MB
MAX_CHUNK = 64_000_000
MAX_LAST_CHUNK = 128_000_000
MAX_CHUNKS = 1000
DEFAULT_CHUNK = 10_000_000  # the documentation's own example size
URL_TTL_S = 3600.0  # upload URLs live about an hour
URL_MARGIN_S = 120.0  # never start a chunk on a URL about to die
STATE_VERSION = 1
CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}

log = get_logger("pellacia_tiktok.upload")


@dataclass(frozen=True)
class ChunkPlan:
    """How a file of ``video_size`` bytes is cut for TikTok."""

    video_size: int
    chunk_size: int
    total_chunk_count: int

    def chunk(self, index: int) -> tuple[int, int]:
        """``(first byte, length)`` of chunk ``index``; the last absorbs the rest."""
        first = index * self.chunk_size
        if index == self.total_chunk_count - 1:
            return first, self.video_size - first
        return first, self.chunk_size

    def index_at(self, offset: int) -> int:
        """The chunk starting at ``offset`` (``total_chunk_count`` at the end)."""
        return min(offset // self.chunk_size, self.total_chunk_count)

    def source_info(self) -> dict[str, Any]:
        return {
            "source": "FILE_UPLOAD",
            "video_size": self.video_size,
            "chunk_size": self.chunk_size,
            "total_chunk_count": self.total_chunk_count,
        }


def plan_chunks(
    size: int,
    preferred: int = DEFAULT_CHUNK,
    *,
    min_chunk: int = MIN_CHUNK,
    max_chunk: int = MAX_CHUNK,
    max_last: int = MAX_LAST_CHUNK,
    max_chunks: int = MAX_CHUNKS,
) -> ChunkPlan:
    """The chunk plan for a file of ``size`` bytes, following TikTok's rules.

    ``preferred`` is clamped to ``[min_chunk, max_chunk]`` and grown when the
    file would need more than ``max_chunks`` chunks. ``Rejected`` when no plan fits.
    """
    if size <= 0:
        raise Rejected("TikTok: the video file is empty", platform=PLATFORM)
    chunk = min(max(preferred, min_chunk), max_chunk)
    if size < min_chunk or (size <= chunk and size <= max_chunk):
        return ChunkPlan(size, size, 1)  # one whole-file chunk
    if size // chunk > max_chunks:
        chunk = -(-size // max_chunks)  # ceil: the fewest bytes per chunk that fit 1000 chunks
    count = size // chunk
    if chunk > max_chunk or size - (count - 1) * chunk > max_last:
        raise Rejected(
            f"TikTok: a {size}-byte video cannot be cut into at most {max_chunks} chunks "
            f"of at most {max_chunk} bytes",
            platform=PLATFORM,
        )
    return ChunkPlan(size, chunk, count)


def plan_for(request: PublishRequest, ctx: PlatformContext) -> ChunkPlan:
    """The plan from ``ctx.settings`` (``chunk_size``; ``min_chunk_size`` for tests only)."""
    settings = ctx.settings
    return plan_chunks(
        request.video.size,
        int(settings.get("chunk_size", DEFAULT_CHUNK)),
        min_chunk=int(settings.get("min_chunk_size", MIN_CHUNK)),
    )


def content_type(request: PublishRequest) -> str:
    return CONTENT_TYPES.get(request.video.container, "video/mp4")


async def transfer(
    client: TikTokClient,
    request: PublishRequest,
    session: UploadSession,
    state: dict[str, Any],
) -> dict[str, Any]:
    """Send every chunk from ``state["next_chunk"]`` on; saves state after each ack.

    Raises ``UploadUrlGone`` (caller re-inits) and ``Transient`` on network loss.
    """
    plan = ChunkPlan(state["video_size"], state["chunk_size"], state["total_chunk_count"])
    ctype = content_type(request)
    resynced = False

    async def send(chunk: Chunk) -> int:
        nonlocal resynced
        try:
            await client.send_chunk(state["upload_url"], chunk, ctype)
        except ChunkOutOfOrder:
            if resynced:
                raise Transient(
                    "TikTok refused the chunk range twice in a row", platform=PLATFORM
                ) from None
            resynced = True
            return await _acknowledged_offset(client, state, plan)
        resynced = False
        return chunk.end

    def saved(offset: int) -> dict[str, Any]:
        state.update(next_chunk=plan.index_at(offset), uploaded_bytes=offset)
        return dict(state)

    await upload_chunks(
        session,
        request.video.path,
        total=plan.video_size,
        offset=plan.chunk(int(state["next_chunk"]))[0],
        chunk_length=lambda offset: plan.chunk(plan.index_at(offset))[1],
        send=send,
        state=saved,
    )
    return state


async def _acknowledged_offset(client: TikTokClient, state: dict[str, Any], plan: ChunkPlan) -> int:
    """Ask TikTok how far the upload got; the offset of the first chunk to send."""
    status = await client.status(state["publish_id"])
    uploaded = int(status.get("uploaded_bytes") or 0)
    if uploaded >= plan.video_size:
        return plan.video_size
    return plan.chunk(min(uploaded // plan.chunk_size, plan.total_chunk_count - 1))[0]


def url_alive(state: dict[str, Any], now: datetime) -> bool:
    expires = state.get("upload_url_expires_at")
    if not expires:
        return False
    return now < datetime.fromisoformat(expires) - timedelta(seconds=URL_MARGIN_S)


def receipt_of(state: dict[str, Any]) -> UploadReceipt:
    return UploadReceipt(remote_id=state["publish_id"], state=dict(state))


__all__ = [
    "ChunkPlan",
    "UploadUrlGone",
    "content_type",
    "plan_chunks",
    "plan_for",
    "receipt_of",
    "transfer",
    "url_alive",
]

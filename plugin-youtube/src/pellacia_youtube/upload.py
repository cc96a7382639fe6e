"""The YouTube resumable upload protocol (protocols.md §1 Upload).

1. ``POST /upload/youtube/v3/videos?uploadType=resumable`` with the metadata
   → ``200`` + ``Location``: the session URI, saved at once as resume state.
2. ``PUT`` chunks (multiples of 256 KiB) with ``Content-Range`` → ``308`` +
   ``Range: bytes=0-N`` (continue at N+1, whatever we sent) or ``200/201`` +
   the video resource. State is saved after every acknowledged chunk.
3. Resume: ``PUT`` with ``Content-Range: bytes */TOTAL`` and no body → 308 +
   ``Range`` (or none: restart at 0), 200/201 (already done), 404 (expired:
   start a new session).

Bytes stream from disk in 1 MiB pieces (the next piece is read while the
current one is on the wire), so memory stays flat whatever the file size.
Retrying is the engine's job: failures raise typed errors after the state is
saved, and the next call resumes from it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pellacia.contract import PlatformContext, UploadSession
from pellacia.errors import Rejected, Transient

from pellacia_youtube.client import PLATFORM, Reply, YouTubeClient, raise_for

CHUNK_ALIGN = 256 * 1024
DEFAULT_CHUNK = 8 * 1024 * 1024
PIECE = 1024 * 1024  # bytes read from disk at a time
STATE_VERSION = 1
_RANGE = re.compile(r"bytes=0-(\d+)")


def chunk_size_from(settings: Mapping[str, Any]) -> int:
    """``settings["chunk_size"]`` (bytes) checked to be a positive multiple of 256 KiB."""
    size = int(settings.get("chunk_size", DEFAULT_CHUNK))
    if size <= 0 or size % CHUNK_ALIGN:
        raise Rejected(
            f"YouTube chunk_size {size} must be a positive multiple of 262144 (256 KiB)",
            platform=PLATFORM,
        )
    return size


@dataclass
class Progress:
    """Where a status query or chunk left the session."""

    offset: int = 0
    resource: dict[str, Any] | None = None  # set when the upload is complete
    expired: bool = False


def parse_progress(reply: Reply) -> Progress:
    """Read a 308/200/201/404 answer of the session URI."""
    if reply.status in (200, 201):
        data = reply.json()
        if not isinstance(data, dict) or not data.get("id"):
            raise Transient("YouTube upload finished without a video resource", platform=PLATFORM)
        return Progress(resource=data)
    if reply.status == 308:
        match = _RANGE.fullmatch(reply.headers.get("Range", "").strip())
        # no Range: nothing stored yet, restart at 0 (googleapiclient does the same)
        return Progress(offset=int(match.group(1)) + 1 if match else 0)
    if reply.status in (404, 410):
        return Progress(expired=True)
    raise AssertionError(f"not a progress answer: {reply.status}")


class ResumableUpload:
    """One run of the protocol for one file; ``run()`` returns the video resource."""

    def __init__(
        self,
        client: YouTubeClient,
        ctx: PlatformContext,
        session: UploadSession,
        path: Path,
        metadata: Mapping[str, Any],
        *,
        chunk_size: int,
        content_type: str = "video/*",
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.session = session
        self.path = path
        self.metadata = metadata
        self.chunk_size = chunk_size
        self.content_type = content_type
        self.total = path.stat().st_size
        self.uri: str | None = None
        #: sessions started by this run (a second expiry in one run is Transient)
        self.sessions_started = 0

    async def run(self) -> dict[str, Any]:
        """Upload (or resume) and return the video resource."""
        progress = await self._resume_or_start()
        if progress.resource is not None:
            return progress.resource
        while True:
            progress = await self._send_from(progress.offset)
            if progress.resource is not None:
                return progress.resource
            if progress.expired:
                progress = await self._start()

    # ------------------------------------------------------------- session

    async def _resume_or_start(self) -> Progress:
        state = self.session.resume_state or {}
        uri = state.get("session_uri")
        if isinstance(uri, str) and state.get("total") == self.total:
            self.uri = uri
            progress = await self.status_query()
            if not progress.expired:
                await self._save(progress.offset)
                return progress
        return await self._start()

    async def _start(self) -> Progress:
        if self.sessions_started >= 2:
            raise Transient("YouTube upload session expired again; retry later", platform=PLATFORM)
        self.sessions_started += 1
        body = json.dumps(self.metadata).encode()
        reply = await self.client.send(
            "POST",
            f"{self.client.api}/upload/youtube/v3/videos",
            action="start upload",
            params={"uploadType": "resumable", "part": "snippet,status"},
            headers={
                "Content-Type": "application/json; charset=UTF-8",
                "X-Upload-Content-Length": str(self.total),
                "X-Upload-Content-Type": self.content_type,
            },
            data=body,
        )
        raise_for(reply, self.ctx, "start upload")
        location = reply.headers.get("Location")
        if reply.status != 200 or not location:
            # the client library accepts only 200 + Location
            raise Transient(
                f"YouTube start upload: HTTP {reply.status} without a session URI",
                platform=PLATFORM,
            )
        self.uri = location
        await self._save(0)  # the resume handle is durable before any byte goes out
        return Progress(offset=0)

    async def status_query(self) -> Progress:
        """``PUT <session> Content-Range: bytes */TOTAL``: where the server is."""
        assert self.uri is not None
        reply = await self.client.send(
            "PUT",
            self.uri,
            action="upload status",
            headers={"Content-Range": f"bytes */{self.total}", "Content-Length": "0"},
            data=b"",
        )
        if reply.status in (200, 201, 308, 404, 410):
            return parse_progress(reply)
        raise_for(reply, self.ctx, "upload status")
        raise Transient(f"YouTube upload status: HTTP {reply.status}", platform=PLATFORM)

    async def _save(self, offset: int) -> None:
        await self.session.save_state(
            {"v": STATE_VERSION, "session_uri": self.uri, "total": self.total, "offset": offset}
        )
        self.session.progress(offset, self.total)

    # --------------------------------------------------------------- bytes

    def _body(self, offset: int, length: int) -> Callable[[], AsyncIterator[bytes]]:
        """A factory of one-shot streams of ``length`` file bytes from ``offset``.

        Read in ``PIECE`` slices with the next slice read (in a thread) while
        the current one is written. A one-shot stream also stops aiohttp from
        silently replaying a PUT after a dropped connection: a replay must go
        through the status query.
        """
        path = self.path

        async def stream() -> AsyncIterator[bytes]:
            f = await asyncio.to_thread(path.open, "rb")
            pending: asyncio.Future[bytes] | None = None
            try:
                f.seek(offset)
                left = length
                while left > 0:
                    task = pending or asyncio.ensure_future(
                        asyncio.to_thread(f.read, min(PIECE, left))
                    )
                    piece = await task
                    pending = None
                    if not piece:
                        raise Rejected("YouTube upload: the file shrank", platform=PLATFORM)
                    left -= len(piece)
                    if left > 0:  # read the next piece while this one is written
                        pending = asyncio.ensure_future(asyncio.to_thread(f.read, min(PIECE, left)))
                    yield piece
            finally:
                try:
                    if pending is not None:  # let the thread finish before closing
                        await asyncio.wait([pending])
                        if not pending.cancelled():
                            pending.exception()  # retrieved: nothing to report
                finally:
                    f.close()

        return stream

    async def _send_from(self, offset: int) -> Progress:
        """Send chunks from ``offset`` until done or the session expires."""
        while True:
            length = min(self.chunk_size, self.total - offset)
            progress = await self._put(offset, length)
            if progress.resource is not None or progress.expired:
                return progress
            # trust the server's Range, whatever we sent
            offset = progress.offset
            await self._save(offset)

    async def _put(self, offset: int, length: int) -> Progress:
        headers = {
            "Content-Type": self.content_type,
            "Content-Length": str(length),
            "Content-Range": f"bytes {offset}-{offset + length - 1}/{self.total}",
        }
        assert self.uri is not None
        try:
            reply = await self.client.send(
                "PUT",
                self.uri,
                action="upload chunk",
                headers=headers,
                data=self._body(offset, length),
            )
        except Transient:
            await self._checkpoint()
            raise
        if reply.status in (200, 201, 308, 404, 410):
            return parse_progress(reply)
        if reply.status in (500, 502, 503, 504):
            # protocols.md §1: ask where the server is before anything is resent
            await self._checkpoint()
        raise_for(reply, self.ctx, "upload chunk")
        raise Transient(f"YouTube upload chunk: HTTP {reply.status}", platform=PLATFORM)

    async def _checkpoint(self) -> None:
        """Best effort: save the server's offset after a failed chunk."""
        try:
            progress = await self.status_query()
        except Exception:  # the next run queries again; the saved state is still valid
            return
        if progress.resource is None and not progress.expired:
            await self._save(progress.offset)

"""The YouTube resumable upload protocol (protocols.md §1 Upload) on the SDK's loop.

1. ``POST /upload/youtube/v3/videos?uploadType=resumable`` with the metadata
   → ``200`` + ``Location``: the session URI, saved at once as resume state.
2. ``PUT`` chunks (multiples of 256 KiB) with ``Content-Range`` → ``308`` +
   ``Range: bytes=0-N`` (continue at N+1, whatever we sent) or ``200/201`` +
   the video resource. ``pellacia.sdk.upload_chunks`` saves the state after
   every acknowledged chunk and streams the bytes from disk.
3. Resume: ``PUT`` with ``Content-Range: bytes */TOTAL`` and no body → 308 +
   ``Range`` (or none: restart at 0), 200/201 (already done), 404 (expired:
   start a new session). A failed chunk is followed by this query, so the
   saved offset is the server's.

Retrying is the engine's job: failures raise typed errors after the state is
saved, and the next call resumes from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pellacia.contract import UploadSession
from pellacia.errors import Rejected, Transient
from pellacia.sdk import Chunk, Reply, upload_chunks

from pellacia_youtube.client import PLATFORM, YouTubeApi

CHUNK_ALIGN = 256 * 1024
DEFAULT_CHUNK = 8 * 1024 * 1024
STATE_VERSION = 1
#: answers of the session URI that say where the upload stands
PROGRESS_STATUSES = (200, 201, 308, 404, 410)
_RANGE = re.compile(r"bytes=0-([0-9]+)")  # ASCII digits: int() takes any script's


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
    return Progress(expired=True)


async def status_query(api: YouTubeApi, uri: str, total: int | None) -> Progress:
    """``PUT <session> Content-Range: bytes */TOTAL`` (``*/*`` when the size is
    not known): where the server is."""
    size = "*" if total is None else str(total)
    reply = await api.request(
        "PUT",
        uri,
        action="upload status",
        headers={"Content-Range": f"bytes */{size}", "Content-Length": "0"},
        data=b"",
        accept=PROGRESS_STATUSES,
    )
    return parse_progress(reply)


class _SessionExpired(Exception):
    """The session URI is gone (404/410): start a new one."""


class ResumableUpload:
    """One run of the protocol for one file; ``run()`` returns the video resource."""

    def __init__(
        self,
        api: YouTubeApi,
        session: UploadSession,
        path: Path,
        metadata: Mapping[str, Any],
        *,
        chunk_size: int,
        content_type: str = "video/*",
    ) -> None:
        self.api = api
        self.session = session
        self.path = path
        self.metadata = metadata
        self.chunk_size = chunk_size
        self.content_type = content_type
        self.total = path.stat().st_size
        self.uri: str | None = None
        self.resource: dict[str, Any] | None = None
        #: sessions started by this run (a second expiry in one run is Transient)
        self.sessions_started = 0

    async def run(self) -> dict[str, Any]:
        """Upload (or resume) and return the video resource."""
        progress = await self._resume_or_start()
        while progress.resource is None:
            try:
                await upload_chunks(
                    self.session,
                    self.path,
                    total=self.total,
                    offset=progress.offset,
                    chunk_length=lambda at: min(self.chunk_size, self.total - at),
                    send=self._put,
                    state=self._state,
                    checkpoint=self._checkpoint,
                    save_done=False,
                )
            except _SessionExpired:
                progress = await self._start()
                continue
            progress = Progress(resource=self.resource) if self.resource else await self._query()
            if progress.expired:
                progress = await self._start()
        assert progress.resource is not None
        return progress.resource

    async def _resume_or_start(self) -> Progress:
        state = self.session.resume_state or {}
        uri = state.get("session_uri")
        if isinstance(uri, str) and state.get("total") == self.total:
            self.uri = uri
            progress = await self._query()
            if not progress.expired:
                await self.session.save_state(self._state(progress.offset))
                self.session.progress(progress.offset, self.total)
                return progress
        return await self._start()

    async def _start(self) -> Progress:
        if self.sessions_started >= 2:
            raise Transient("YouTube upload session expired again; retry later", platform=PLATFORM)
        self.sessions_started += 1
        reply = await self.api.request(
            "POST",
            "/upload/youtube/v3/videos",
            action="start upload",
            params={"uploadType": "resumable", "part": "snippet,status"},
            headers={
                "Content-Type": "application/json; charset=UTF-8",
                "X-Upload-Content-Length": str(self.total),
                "X-Upload-Content-Type": self.content_type,
            },
            data=json.dumps(self.metadata).encode(),
        )
        location = reply.headers.get("Location")
        if reply.status != 200 or not location:
            # the client library accepts only 200 + Location
            raise Transient(
                f"YouTube start upload: HTTP {reply.status} without a session URI",
                platform=PLATFORM,
            )
        self.uri = location
        await self.session.save_state(self._state(0))  # durable before any byte goes out
        return Progress(offset=0)

    def _state(self, offset: int) -> dict[str, Any]:
        return {"v": STATE_VERSION, "session_uri": self.uri, "total": self.total, "offset": offset}

    async def _query(self) -> Progress:
        assert self.uri is not None
        return await status_query(self.api, self.uri, self.total)

    async def _put(self, chunk: Chunk) -> int:
        """One chunk; the server's offset afterwards (trust its Range, whatever we sent)."""
        assert self.uri is not None
        reply = await self.api.request(
            "PUT",
            self.uri,
            action="upload chunk",
            headers=chunk.headers(self.content_type),
            data=chunk.body(),
            accept=PROGRESS_STATUSES,
        )
        progress = parse_progress(reply)
        if progress.expired:
            raise _SessionExpired
        if progress.resource is not None:
            self.resource = progress.resource
            return self.total
        return progress.offset

    async def _checkpoint(self) -> int | None:
        """The server's offset after a failed chunk (protocols.md §1: ask before resending)."""
        progress = await self._query()
        return None if progress.resource is not None or progress.expired else progress.offset

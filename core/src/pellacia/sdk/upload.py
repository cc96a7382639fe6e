"""The chunked, resumable upload loop, streaming from disk in constant memory.

A plugin brings the protocol (how a chunk is sent, what the server says);
``upload_chunks`` brings the loop every resumable upload repeats::

    offset = where the server stands            # the plugin asked it on resume
    while offset < total:
        chunk = next chunk at offset            # chunk_length(offset) bytes
        offset = await send(chunk)              # the server's new offset
        await session.save_state(state(offset)) # durable before the next byte
        session.progress(offset, total)

``Chunk.body()`` streams the chunk's bytes from the file in 1 MiB pieces,
reading the next piece (in a thread) while the current one is written, and
reports progress as the pieces go out. Each call makes a fresh one-shot
stream, so a retry after a token refresh resends the chunk and aiohttp can
never silently replay a PUT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pellacia.contract import UploadSession
from pellacia.errors import Rejected, Transient

PIECE = 1024 * 1024  # bytes read from disk at a time
#: chunks in a row the server acknowledges without keeping a byte before the
#: loop gives the engine a ``Transient`` (its backoff) instead of resending at once
NO_PROGRESS_LIMIT = 3


@dataclass(frozen=True)
class Chunk:
    """Bytes ``[offset, offset + length)`` of a ``total``-byte file."""

    path: Path
    offset: int
    length: int
    total: int
    on_piece: Callable[[int], None] | None = field(default=None, repr=False, compare=False)
    piece: int = PIECE

    @property
    def end(self) -> int:
        """The offset after this chunk."""
        return self.offset + self.length

    @property
    def last(self) -> bool:
        return self.end >= self.total

    @property
    def content_range(self) -> str:
        """``bytes FIRST-LAST/TOTAL``."""
        return f"bytes {self.offset}-{self.end - 1}/{self.total}"

    def headers(self, content_type: str) -> dict[str, str]:
        """``Content-Type``, ``Content-Length`` and ``Content-Range`` of this chunk."""
        return {
            "Content-Type": content_type,
            "Content-Length": str(self.length),
            "Content-Range": self.content_range,
        }

    def body(self) -> Callable[[], AsyncIterator[bytes]]:
        """A factory of one-shot streams of this chunk's bytes (pass it as ``data``)."""
        return lambda: read_slice(self.path, self.offset, self.length, self.piece, self.on_piece)


async def read_slice(
    path: Path,
    offset: int,
    length: int,
    piece: int = PIECE,
    on_piece: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """``length`` bytes of ``path`` from ``offset``, ``piece`` bytes at a time.

    The next piece is read in a thread while the current one is written.
    ``on_piece(sent)`` is told how many bytes of the slice went out so far,
    short of the whole slice (that one is the server's to acknowledge).
    """
    f = await asyncio.to_thread(path.open, "rb")
    pending: asyncio.Future[bytes] | None = None
    try:
        f.seek(offset)
        left, sent = length, 0
        while left > 0:
            task = pending or asyncio.ensure_future(asyncio.to_thread(f.read, min(piece, left)))
            data = await task
            pending = None
            if not data:
                raise Rejected(f"the file {path.name} shrank during the upload")
            left -= len(data)
            if left > 0:  # read the next piece while this one is written
                pending = asyncio.ensure_future(asyncio.to_thread(f.read, min(piece, left)))
            sent += len(data)
            yield data
            if on_piece is not None and left > 0:  # the last piece counts once acknowledged
                on_piece(sent)
    finally:
        try:
            if pending is not None:  # let the thread finish before closing
                await asyncio.wait([pending])
                if not pending.cancelled():
                    pending.exception()  # retrieved: nothing to report
        finally:
            f.close()


async def upload_chunks(
    session: UploadSession,
    path: Path,
    *,
    total: int,
    offset: int,
    chunk_length: Callable[[int], int],
    send: Callable[[Chunk], Awaitable[int]],
    state: Callable[[int], Mapping[str, Any]],
    checkpoint: Callable[[], Awaitable[int | None]] | None = None,
    save_done: bool = True,
    piece: int = PIECE,
) -> int:
    """Send ``path`` from ``offset`` (where the server stands) to ``total``.

    ``chunk_length(offset)``: bytes of the chunk starting there. ``send(chunk)``
    sends it and returns the server's offset afterwards (trust the server:
    it may have kept less than was sent). ``state(offset)``: the resume state
    saved, durably, after every acknowledged chunk. ``checkpoint()``, when
    given, is asked for the server's offset after ``send`` raised
    ``Transient`` (best effort; its answer is saved before the error goes on).
    ``save_done=False``: no save once the last byte is acknowledged (the
    plugin's receipt carries on from there). Returns the final offset (``total``).
    """
    stalled = 0
    while offset < total:
        length = chunk_length(offset)
        if length <= 0:
            raise Rejected(f"the upload protocol asked for a chunk of {length} bytes at {offset}")
        base = offset

        def moved(sent: int, _base: int = base) -> None:
            session.progress(_base + sent, total)

        chunk = Chunk(path, offset, length, total, on_piece=moved, piece=piece)
        try:
            reached = await send(chunk)
        except Transient:
            if checkpoint is not None:
                await _checkpoint(session, checkpoint, state, total)
            raise
        if reached < 0 or reached > total:
            raise Transient(f"the server reported offset {reached} of {total} bytes")
        stalled = stalled + 1 if reached <= base else 0
        offset = reached
        if save_done or offset < total:
            await session.save_state(state(offset))
        session.progress(offset, total)
        if stalled >= NO_PROGRESS_LIMIT:  # state saved: the next try resumes from here
            raise Transient(
                f"the server kept none of the last {stalled} chunks (at byte {offset} of {total})"
            )
    return offset


async def _checkpoint(
    session: UploadSession,
    checkpoint: Callable[[], Awaitable[int | None]],
    state: Callable[[int], Mapping[str, Any]],
    total: int,
) -> None:
    """Best effort: save the server's offset after a failed chunk."""
    try:
        reached = await checkpoint()
    except Exception:  # the next run asks again; the saved state is still valid
        return
    if reached is not None and 0 <= reached < total:
        await session.save_state(state(reached))
        session.progress(reached, total)

"""Where a post's video comes from: a path under the allowed roots, or an upload
streamed to disk; and idempotent creation."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.api.problems import ApiError
from pellacia.atomic import DiskFull, is_disk_full
from pellacia.delivery.errors import BadInput
from pellacia.log import get_logger
from pellacia.private_files import private_dir
from pellacia.store import api_keys as store

if TYPE_CHECKING:
    from fastapi import UploadFile

    from pellacia.api.deps import Services
    from pellacia.api.keys import ApiKey

CHUNK = 1024 * 1024


def allowed_path(raw: str, roots: Sequence[Path]) -> Path:
    """``raw`` resolved (symlinks followed) when it lies under an allowed root."""
    if not roots:
        raise BadInput(
            "posting from a server-side path is off: set [api] allowed_roots in the config, "
            "or upload the file"
        )
    if "\0" in raw:  # no file has one; resolve() would raise
        raise BadInput("the path must not contain a NUL character")
    path = Path(raw)
    if "\x00" in raw:  # resolve() would raise ValueError: a 500
        raise BadInput("the path may not contain a NUL (\\x00) character")
    if not path.is_absolute() or ".." in path.parts:
        raise BadInput(f"the path must be absolute and without '..': {raw!r}")
    real = path.resolve()
    for root in roots:
        if real.is_relative_to(root.expanduser().resolve()):
            return real
    raise BadInput(f"{raw} is outside the allowed roots")


def _safe_name(name: str | None) -> str:
    base = re.sub(r"[^\w.-]+", "_", Path(name or "video.mp4").name).strip("._")
    return base[:120] or "video.mp4"


async def save_upload(upload: UploadFile, uploads_dir: Path) -> tuple[Path, str]:
    """Copy an uploaded file to its own folder under ``uploads_dir``, chunk by chunk;
    returns (its path, its sha256)."""
    folder = uploads_dir / uuid.uuid4().hex
    dest = folder / _safe_name(upload.filename)
    digest = hashlib.sha256()
    try:
        await asyncio.to_thread(private_dir, folder)
        with dest.open("wb") as out:
            while chunk := await upload.read(CHUNK):
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
    except BaseException as exc:
        discard(dest)
        if is_disk_full(exc):
            get_logger("pellacia.api").error("upload refused", error=str(DiskFull(uploads_dir)))
            raise ApiError(
                507,
                "No space left for the upload",
                "the server's data directory is full; nothing was created",
            ) from None
        raise
    return dest, digest.hexdigest()


def discard(saved: Path) -> None:
    """Remove an upload's folder (its post was refused or already existed)."""
    shutil.rmtree(saved.parent, ignore_errors=True)


def request_hash(fields: dict[str, Any], video: str) -> str:
    """What makes two create requests "the same body"."""
    canonical = json.dumps({"fields": fields, "video": video}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_once(
    svc: Services,
    api_key: ApiKey,
    key: str | None,
    body_hash: str,
    create: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """Run ``create`` unless ``key`` was seen: (the response, whether it is a replay).

    The same key with another body is refused (409).
    """
    if key is None:
        return await create(), False
    if not 1 <= len(key) <= 255:
        raise BadInput("Idempotency-Key must be 1 to 255 characters")
    async with svc.pool.acquire() as conn, conn.transaction():
        await store.lock_idempotency(conn, api_key.id, key)
        found = await store.idempotent_result(conn, api_key.id, key)
        if found is not None:
            if found["request_hash"] != body_hash:
                raise ApiError(
                    409,
                    "Idempotency-Key reused",
                    f"Idempotency-Key {key!r} was used for another request body",
                )
            response: dict[str, Any] = found["response"]
            return response, True
        response = await create()
        await store.remember(
            conn,
            api_key.id,
            key,
            request_hash=body_hash,
            post_id=uuid.UUID(response["post_id"]),
            response=response,
        )
    return response, False

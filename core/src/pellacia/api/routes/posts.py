"""``/v1/posts``: create (server-side path or upload, idempotent), list, get, cancel."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile
from pydantic import ValidationError

from pellacia.api import intake, models
from pellacia.api.deps import ReadKey, Services, WriteKey, services
from pellacia.api.keys import ApiKey
from pellacia.api.problems import COMMON_RESPONSES, MEDIA_TYPE, ApiError, Problem
from pellacia.delivery import service
from pellacia.delivery.errors import BadInput, NotFound
from pellacia.store import api_views
from pellacia.store import deliveries as delivery_store
from pellacia.store import posts as post_store

router = APIRouter(prefix="/v1/posts", tags=["posts"], responses=COMMON_RESPONSES)
UPLOAD_PATH = "/v1/posts/upload"
Svc = Annotated[Services, Depends(services)]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="same key and body: the same post; same key, other body: 409",
    ),
]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": "Key reused"}
}


async def _create(svc: Services, fields: models.PostFields, video: Path) -> dict[str, Any]:
    created = await service.create_post(
        svc.pool,
        svc.registry,
        svc.settings,
        file=video,
        platforms=fields.platforms,
        title=fields.title,
        description=fields.description,
        hashtags=fields.hashtags,
        priority=fields.priority,
        scheduled_at=fields.at,
        timezone=fields.timezone,
        test=fields.test,
        overrides=fields.options,
        fold=fields.fold,
        allow_past=fields.allow_past,
        allow_duplicate=fields.allow_duplicate,
        clock=svc.clock,
    )
    return created.to_json()


@router.post("", status_code=201, response_model=models.PostCreated, responses=_CONFLICT)
async def create_post(
    body: models.PostCreate, svc: Svc, idempotency_key: IdemKey = None, key: ApiKey = WriteKey
) -> dict[str, Any]:
    """Create a post from a video already on the server (under `[api] allowed_roots`)."""
    video = intake.allowed_path(body.path, svc.settings.api.allowed_roots)
    fields = models.PostFields.model_validate(body.model_dump(exclude={"path"}))
    digest = intake.request_hash(body.model_dump(mode="json"), str(video))
    response, _ = await intake.create_once(
        svc, key, idempotency_key, digest, lambda: _create(svc, fields, video)
    )
    return response


@router.post(
    UPLOAD_PATH.removeprefix("/v1/posts"),
    status_code=201,
    response_model=models.PostCreated,
    responses={
        **_CONFLICT,
        507: {
            "model": Problem,
            "content": {MEDIA_TYPE: {}},
            "description": "No space left for the upload (nothing was written)",
        },
    },
)
async def upload_post(
    svc: Svc,
    file: Annotated[UploadFile, File(description="the video")],
    metadata: Annotated[str, Form(description="a JSON PostFields object")],
    idempotency_key: IdemKey = None,
    key: ApiKey = WriteKey,
) -> dict[str, Any]:
    """Create a post from an uploaded video (multipart: `file` + `metadata` JSON)."""
    try:
        fields = models.PostFields.model_validate_json(metadata)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, "Request does not match the schema", f"metadata: {detail}") from None
    saved, sha = await intake.save_upload(file, svc.settings.data_dir / "uploads")
    digest = intake.request_hash(fields.model_dump(mode="json"), sha)
    try:
        response, replay = await intake.create_once(
            svc, key, idempotency_key, digest, lambda: _create(svc, fields, saved)
        )
    except BaseException:
        intake.discard(saved)
        raise
    if replay:
        intake.discard(saved)
    return response


def _cursor(row: dict[str, Any]) -> str:
    text = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = text.partition("|")
        return datetime.fromisoformat(when), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise BadInput("the cursor is not one this API gave out") from None


@router.get("", response_model=models.PostPage)
async def list_posts(
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[str | None, Query(max_length=40, description="a delivery state")] = None,
    platform: Annotated[str | None, Query(max_length=60)] = None,
    _: ApiKey = ReadKey,
) -> dict[str, Any]:
    """Posts newest first, with their deliveries; filter by a delivery state or platform."""
    after = _after(cursor)
    async with svc.pool.acquire() as conn:
        rows = await api_views.list_posts(
            conn, limit=limit + 1, after=after, state=state, platform=platform
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": _cursor(rows[-1]) if more else None}


async def post_detail(conn: Any, post_id: uuid.UUID) -> dict[str, Any]:
    """A post with every delivery and its attempts."""
    post = await post_store.get(conn, post_id)
    if post is None:
        raise NotFound(f"no post {post_id}")
    deliveries = await delivery_store.of_post(conn, post_id)
    for d in deliveries:
        d["history"] = await delivery_store.attempts(conn, d["id"])
    return {**post, "deliveries": deliveries}


@router.get("/{post_id}", response_model=models.Post)
async def get_post(post_id: uuid.UUID, svc: Svc, _: ApiKey = ReadKey) -> dict[str, Any]:
    """A post and each delivery: state, attempts, wait reason, remote URL."""
    async with svc.pool.acquire() as conn:
        return await post_detail(conn, post_id)


@router.post("/{post_id}/cancel", response_model=list[models.CancelOut])
async def cancel_post(post_id: uuid.UUID, svc: Svc, _: ApiKey = WriteKey) -> list[dict[str, Any]]:
    """Cancel every delivery not yet published (in flight: at its next checkpoint)."""
    results = await service.cancel_post(svc.pool, post_id)
    return [
        {"delivery_id": r.delivery_id, "platform": r.platform, "outcome": r.outcome}
        for r in results
    ]

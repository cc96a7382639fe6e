"""``/v1/manual``: the deliveries a person must post; their packages; resolve."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import FileResponse

from pellacia.api import models
from pellacia.api.deps import ReadKey, Services, WriteKey, services
from pellacia.api.keys import ApiKey
from pellacia.api.problems import COMMON_RESPONSES
from pellacia.delivery import manual

router = APIRouter(prefix="/v1/manual", tags=["manual"], responses=COMMON_RESPONSES)
Svc = Annotated[Services, Depends(services)]


@router.get("", response_model=list[models.ManualItemOut])
async def list_manual(svc: Svc, _: ApiKey = ReadKey) -> list[dict[str, Any]]:
    """Deliveries waiting for a person, oldest first."""
    return [i.to_json() for i in await manual.list_manual(svc.pool)]


@router.get(
    "/{delivery_id}/package",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "the package"}},
)
async def download_package(
    delivery_id: uuid.UUID, svc: Svc, tasks: BackgroundTasks, _: ApiKey = ReadKey
) -> FileResponse:
    """The package as a .zip: video, metadata.json, INSTRUCTIONS.md, errors.json."""
    import tempfile
    from pathlib import Path

    scratch = Path(tempfile.mkdtemp(prefix="pellacia-package-"))
    try:
        path = await manual.export(svc.pool, svc.settings, delivery_id, to=scratch, as_zip=True)
    except BaseException:
        _remove(scratch)
        raise
    tasks.add_task(_remove, scratch)
    return FileResponse(path, media_type="application/zip", filename=f"{delivery_id}.zip")


def _remove(folder: Any) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@router.post("/{delivery_id}/resolve", response_model=models.ResolveOut)
async def resolve(
    delivery_id: uuid.UUID, body: models.ResolveIn, svc: Svc, _: ApiKey = WriteKey
) -> dict[str, Any]:
    """Mark a manual delivery published at `post_url` (never posted again)."""
    remote_id = await manual.resolve(
        svc.pool, delivery_id, post_url=body.post_url, at=svc.clock.now()
    )
    return {"delivery_id": delivery_id, "remote_id": remote_id, "url": body.post_url.strip()}

"""What the kit's scenarios do not look at: the sign-in needs no client id of
ours, the upload declares the file PeerTube keeps as the video's source, a
resumed upload that the instance already finished ends in its video, and
reconcile without a receipt says "unknown" rather than guess."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pellacia.contract import NO_CLIENT, PublishRequest
from pellacia.errors import OutcomeUnknown, Rejected
from pellacia.media import probe
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.sessions import MemoryUploadSession
from pellacia.testing.videos import make_video

SETTINGS = {"chunk_size": 16 * 1024}


def request_for(path: Path, key: str = "k" * 32) -> PublishRequest:
    return PublishRequest(
        delivery_id="d1",
        idempotency_key=key,
        platform="peertube",
        account="newsroom",
        video=probe(make_video(path, seconds=1.0)),
        title="Evening news",
        description="Tonight's bulletin.",
        hashtags=("#news", "#x", "#evening"),
    )


async def test_signs_in_with_the_password_and_the_instances_own_client(
    sandbox: SandboxHandle, sandbox_context: Any
) -> None:
    await sandbox.control.reset("peertube")
    async with sandbox_context("peertube", account="newsroom", settings=SETTINGS) as kit:
        assert kit.client == NO_CLIENT  # core never asks for a client id
        tokens = await kit.tokens.current()
        assert tokens.refresh_token and tokens.expires_at is not None
    state = await sandbox.control.state("peertube")
    paths = [r["path"] for r in state["requests"]]
    assert paths == ["/api/v1/oauth-clients/local", "/api/v1/users/token"]


async def test_upload_declares_the_file_and_metadata(
    sandbox: SandboxHandle, sandbox_context: Any, tmp_path: Path
) -> None:
    await sandbox.control.reset("peertube")
    request = request_for(tmp_path / "clip.mp4")
    async with sandbox_context("peertube", account="newsroom", settings=SETTINGS) as kit:
        receipt = await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        post = await kit.platform.publish(request, receipt, kit.ctx)
    (video,) = (await sandbox.control.state("peertube"))["posts"]
    assert video["filename"] == f"{request.idempotency_key}.mp4"
    assert video["tags"] == ["news", "evening"]  # '#' dropped, 2 to 30 characters
    assert video["uuid"] == post.remote_id and post.url and post.published_at


async def test_resuming_an_upload_the_instance_finished_returns_its_video(
    sandbox: SandboxHandle, sandbox_context: Any, tmp_path: Path
) -> None:
    """A crash after the last chunk went out: the saved upload answers 404 on resume."""
    await sandbox.control.reset("peertube")
    request = request_for(tmp_path / "clip.mp4")
    async with sandbox_context("peertube", account="newsroom", settings=SETTINGS) as kit:
        first = MemoryUploadSession()
        made = await kit.platform.upload(request, first, kit.ctx)
        before = len((await sandbox.control.state("peertube"))["requests"])
        again = await kit.platform.upload(request, first.resumed(), kit.ctx)
        assert again.remote_id == made.remote_id
        state = await sandbox.control.state("peertube")
    assert len(state["posts"]) == 1
    sent = [r for r in state["requests"][before:] if r["bytes"]]
    assert sent == [], "bytes were sent again for a finished upload"


async def test_reconcile_without_a_receipt_is_sure_only_when_no_namesake_exists(
    sandbox: SandboxHandle, sandbox_context: Any, tmp_path: Path
) -> None:
    """No receipt: the API never opened an upload for this delivery, but a browser
    or a person may have posted it. A video with its title from another file
    leaves the outcome unknown; none at all means no post."""
    await sandbox.control.reset("peertube")
    ours = request_for(tmp_path / "clip.mp4", key="a" * 32)
    other = request_for(tmp_path / "clip2.mp4", key="b" * 32)  # same title, another file
    async with sandbox_context("peertube", account="newsroom", settings=SETTINGS) as kit:
        assert await kit.platform.reconcile(ours, None, kit.ctx) is None
        made = await kit.platform.upload(other, MemoryUploadSession(), kit.ctx)
        with pytest.raises(OutcomeUnknown, match="titled 'Evening news'"):
            await kit.platform.reconcile(ours, None, kit.ctx)
        found = await kit.platform.reconcile(other, made, kit.ctx)
        assert found is not None and found.remote_id == made.remote_id
        assert await kit.platform.reconcile(other, None, kit.ctx) == found


async def test_a_description_peertube_would_refuse_fails_before_any_request(
    sandbox: SandboxHandle, sandbox_context: Any, tmp_path: Path
) -> None:
    await sandbox.control.reset("peertube")
    request = replace(request_for(tmp_path / "clip.mp4"), description="ok", hashtags=())
    async with sandbox_context("peertube", account="newsroom", settings=SETTINGS) as kit:
        seen = len((await sandbox.control.state("peertube"))["requests"])
        with pytest.raises(Rejected, match="at least 3 characters"):
            await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        assert (await sandbox.control.state("peertube"))["requests"][seen:] == []

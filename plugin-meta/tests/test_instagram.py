"""Instagram beyond the kit: sign-in binding, allowance, container lifecycle, errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pellacia.errors import AuthExpired, Challenge, PlatformError, RateLimited, Rejected
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.sessions import MemoryUploadSession
from pellacia.testing.videos import media_info

from .conftest import fake, not_a_video, request_for, state

SETTINGS = {"chunk_size": 64 * 1024, "status_poll_interval": 0.05}


async def test_sign_in_binds_the_page_and_its_instagram_account(
    meta: SandboxHandle, sandbox_context: Any
) -> None:
    async with sandbox_context("instagram", settings=SETTINGS) as kit:
        tokens = await kit.tokens.current()
        person = fake(meta, "instagram").people["sandbox-account"]
        assert tokens.extra["ig_user_id"] == person.ig_id
        assert tokens.extra["page_id"] == person.page_id
        assert tokens.refresh_token and tokens.refresh_token != tokens.access_token
        # the long-lived user token lives 60 days; renewal is due a week before
        assert tokens.refresh_expires_at is not None and tokens.expires_at is not None
        life = tokens.refresh_expires_at - kit.ctx.clock.now()
        assert timedelta(days=59) < life <= timedelta(days=60)
        assert tokens.refresh_expires_at - tokens.expires_at == timedelta(days=7)
        assert fake(meta, "instagram").stats["long_lived"] == 1


async def test_refresh_near_the_end_re_exchanges_the_user_token(
    meta: SandboxHandle, sandbox_context: Any
) -> None:
    async with sandbox_context("instagram", settings=SETTINGS) as kit:
        tokens = await kit.tokens.current()
        soon = kit.ctx.clock.now() + timedelta(days=2)
        stale = type(tokens)(**{**tokens.__dict__, "refresh_expires_at": soon})
        fresh = await kit.platform.auth.refresh(kit.ctx, client=kit.client, tokens=stale)
        assert fresh.refresh_token != tokens.refresh_token
        assert fake(meta, "instagram").stats["long_lived"] == 2
        assert fresh.extra["ig_user_id"] == tokens.extra["ig_user_id"]


async def test_a_revoked_user_token_is_auth_expired_with_the_login_command(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    async with sandbox_context("instagram", settings=SETTINGS) as kit:
        fake(meta, "instagram").expire_all_user_tokens()  # the password changed
        with pytest.raises(AuthExpired) as dead:
            await kit.platform.upload(
                request_for("instagram", reel_clip), MemoryUploadSession(), kit.ctx
            )
        assert "pellacia-dist auth login instagram --account sandbox-account" in str(dead.value)
        assert kit.tokens.refreshes == 0  # the refresh itself was refused


async def test_a_full_allowance_waits_before_any_byte(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    fake(meta, "instagram").publish_limit = 1
    async with sandbox_context("instagram", settings=SETTINGS) as kit:
        first = request_for("instagram", reel_clip)
        receipt = await kit.platform.upload(first, MemoryUploadSession(), kit.ctx)
        await kit.platform.publish(first, receipt, kit.ctx)
        with pytest.raises(RateLimited) as full:
            await kit.platform.upload(
                request_for("instagram", reel_clip), MemoryUploadSession(), kit.ctx
            )
    assert full.value.quota == "instagram:publish-24h" and full.value.retry_after
    assert len((await state(meta, "instagram"))["uploads"]) == 1  # the first post's only


async def test_an_expired_container_is_replaced_never_published(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    request = request_for("instagram", reel_clip)
    async with sandbox_context("instagram", settings=SETTINGS, clock=_SandboxTime(meta)) as kit:
        await meta.control.add_fault(
            "instagram", "reset", path="^/ig-api-upload/", skip=1, times=None, after_bytes=10
        )
        first = MemoryUploadSession()
        with pytest.raises(PlatformError) as reset:
            await kit.platform.upload(request, first, kit.ctx)
        assert reset.value.retryable
        await meta.control.clear_faults()
        await meta.control.advance_clock(25 * 3600)
        receipt = await kit.platform.upload(request, first.resumed(), kit.ctx)
        post = await kit.platform.publish(request, receipt, kit.ctx)
    snap = await state(meta, "instagram")
    assert [c["status_code"] for c in snap["containers"]] == ["EXPIRED", "PUBLISHED"]
    assert [p["id"] for p in snap["posts"]] == [post.remote_id]
    assert receipt.remote_id == snap["containers"][1]["id"]


async def test_a_container_meta_cannot_process_is_rejected_with_its_status(
    meta: SandboxHandle, sandbox_context: Any, tmp_path: Path
) -> None:
    path = not_a_video(tmp_path)
    video = media_info(path=path, size=path.stat().st_size, duration=4.0, width=540, height=960)
    request = request_for("instagram", video)
    async with sandbox_context("instagram", settings=SETTINGS) as kit:
        receipt = await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        with pytest.raises(Rejected, match="2207026"):
            await kit.platform.publish(request, receipt, kit.ctx)
        assert await kit.platform.reconcile(request, receipt, kit.ctx) is None
    assert (await state(meta, "instagram"))["posts"] == []


async def test_throttling_and_blocks_are_typed(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    async with sandbox_context("instagram", settings=SETTINGS) as kit:
        await meta.control.add_fault(
            "instagram", "rate_limit", path=r"/media$", method="POST", retry_after=120
        )
        with pytest.raises(RateLimited) as limited:
            await kit.platform.upload(
                request_for("instagram", reel_clip), MemoryUploadSession(), kit.ctx
            )
        # Meta says minutes in X-Business-Use-Case-Usage; there is no Retry-After
        assert limited.value.retry_after == 120 and limited.value.quota == "instagram:graph-usage"
        await meta.control.add_fault("instagram", "challenge", path=r"/media$", method="POST")
        with pytest.raises(Challenge, match="368"):
            await kit.platform.upload(
                request_for("instagram", reel_clip), MemoryUploadSession(), kit.ctx
            )


async def test_reconcile_without_a_receipt_finds_by_caption(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    async with sandbox_context("instagram", settings=SETTINGS) as kit:
        request = request_for("instagram", reel_clip)
        receipt = await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        post = await kit.platform.publish(request, receipt, kit.ctx)
        found = await kit.platform.reconcile(request, None, kit.ctx)
        assert found is not None and found.remote_id == post.remote_id
        assert found.url and found.url.endswith("/")
        assert (
            await kit.platform.reconcile(request_for("instagram", reel_clip), None, kit.ctx) is None
        )


class _SandboxTime:
    """The kit's clock reading the sandbox's time (which the control API advances)."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.clock = sandbox.host.clock

    def now(self) -> Any:
        return self.clock.now()

    def monotonic(self) -> float:
        return float(self.clock.monotonic())

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)


async def test_facebook_sign_in_also_records_the_linked_instagram_account(
    meta: SandboxHandle, sandbox_context: Any
) -> None:
    async with sandbox_context("facebook", settings=SETTINGS) as kit:
        extra = (await kit.tokens.current()).extra
    person = fake(meta, "facebook").people["sandbox-account"]
    assert (extra["page_id"], extra["page_name"]) == (person.page_id, person.page_name)
    assert (extra["ig_user_id"], extra["ig_username"]) == (person.ig_id, person.ig_username)
    assert extra["app_id"] == "sandbox-client"

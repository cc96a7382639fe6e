"""Webhooks: signed per Standard Webhooks, at least once, once per webhook-id after the
receiver failed twice, in order per delivery, disabled after sustained failure, SSRF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pellacia.api import webhooks
from pellacia.clock import FakeClock
from pellacia.config import WebhookSettings
from pellacia.delivery.errors import BadInput
from pellacia.delivery.service import cancel_post, create_post
from pellacia.plugins import load_plugins
from pellacia.store.pool import create_pool
from pellacia.testing.api import WebhookReceiver, webhook_receiver
from pellacia.testing.videos import make_video
from pellacia.vault import Key, KeyRing, Vault
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for

VAULT = Vault(KeyRing((Key.generate(),), "test"))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    async with webhook_receiver() as pair:
        yield pair


@pytest.fixture
async def ctx(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path
) -> AsyncIterator[dict[str, Any]]:
    pool = await create_pool(pg_dsn, max_size=4)
    clock = FakeClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
    hooks = WebhookSettings(allow_private=True, disable_after_hours=1.0)
    dispatcher = webhooks.Dispatcher(pool, hooks, clock, vault=VAULT)
    try:
        yield {
            "pool": pool,
            "clock": clock,
            "hooks": hooks,
            "dispatcher": dispatcher,
            "settings": settings_for(testplatform, tmp_path / "data"),
            "video": make_video(tmp_path / "clip.mp4", seconds=1.0),
        }
    finally:
        await dispatcher.close()
        await pool.close()


async def _add(ctx: dict[str, Any], url: str, events: str | None = None) -> str:
    async with ctx["pool"].acquire() as conn:
        _, secret = await webhooks.add(conn, url, events, ctx["hooks"], vault=VAULT)
    return secret


async def _post_and_cancel(ctx: dict[str, Any]) -> Any:
    created = await create_post(
        ctx["pool"],
        load_plugins(),
        ctx["settings"],
        file=ctx["video"],
        platforms="testplatform",
        scheduled_at="2030-07-01 10:00",
        clock=ctx["clock"],
    )
    await cancel_post(ctx["pool"], created.id)
    return created


async def test_every_event_arrives_signed_once_per_id_after_two_failures(
    ctx: dict[str, Any], receiver: tuple[WebhookReceiver, str]
) -> None:
    rec, url = receiver
    rec.secret = await _add(ctx, url)
    rec.fail_next = 2
    created = await _post_and_cancel(ctx)
    dispatcher = ctx["dispatcher"]
    assert await dispatcher.run_once() == 0  # the first try failed; the next waits its backoff
    ctx["clock"].advance(5)
    assert await dispatcher.run_once() == 0  # second failure
    assert await dispatcher.run_once() == 0  # not due yet: nothing sent
    ctx["clock"].advance(30)
    assert await dispatcher.run_once() == 2  # both events, in order
    ctx["clock"].advance(3600)
    assert await dispatcher.run_once() == 0  # nothing sent twice
    assert rec.bad_signatures == 0 and rec.requests == 4
    types = [rec.received[i]["type"] for i in rec.order]
    assert types == ["delivery.created", "delivery.cancelled"]
    assert {b["data"]["delivery_id"] for b in rec.received.values()} == {
        str(created.deliveries[0].id)
    }


async def test_filters_pick_event_types(
    ctx: dict[str, Any], receiver: tuple[WebhookReceiver, str]
) -> None:
    rec, url = receiver
    rec.secret = await _add(ctx, url, "delivery.cancelled")
    await _post_and_cancel(ctx)
    assert await ctx["dispatcher"].run_once() == 1
    assert [b["type"] for b in rec.received.values()] == ["delivery.cancelled"]
    with pytest.raises(BadInput, match="unknown event types"):
        webhooks.parse_filters("delivery.exploded")


async def test_an_endpoint_failing_too_long_is_disabled_with_an_alert(
    ctx: dict[str, Any], receiver: tuple[WebhookReceiver, str]
) -> None:
    rec, url = receiver
    rec.secret = await _add(ctx, url)
    rec.fail_next = 10_000
    await _post_and_cancel(ctx)
    for delay in (0, 5, 30, 120, 600, 1800, 3600):
        ctx["clock"].advance(delay)
        await ctx["dispatcher"].run_once()
    async with ctx["pool"].acquire() as conn:
        [hook] = await webhooks.listing(conn)
        alerts = await conn.fetch("SELECT payload FROM events WHERE kind = 'alert'")
    assert hook["disabled_at"] is not None and "HTTP 500" in hook["disabled_reason"]
    assert alerts and alerts[0]["payload"]["title"] == "webhook endpoint disabled"
    sent = rec.requests
    ctx["clock"].advance(3600)
    await ctx["dispatcher"].run_once()
    assert rec.requests == sent  # a disabled endpoint gets nothing


async def test_private_targets_are_refused_unless_allowed(ctx: dict[str, Any]) -> None:
    strict = WebhookSettings()
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "ftp://x/y"):
        with pytest.raises(BadInput):
            await webhooks.check_target(url, strict)
    await webhooks.check_target(
        "http://127.0.0.1:9/x", WebhookSettings(allowed_hosts=["127.0.0.1"])
    )


async def test_ping_is_signed(ctx: dict[str, Any], receiver: tuple[WebhookReceiver, str]) -> None:
    rec, url = receiver
    rec.secret = await _add(ctx, url)
    async with ctx["pool"].acquire() as conn:
        [hook] = await webhooks.listing(conn)
        status, error = await webhooks.send_test(
            conn, hook["id"], ctx["hooks"], ctx["clock"].now(), vault=VAULT
        )
    assert (status, error) == (204, None)
    assert [b["type"] for b in rec.received.values()] == ["ping"]


async def test_a_message_is_given_up_after_the_retry_window(
    ctx: dict[str, Any], receiver: tuple[WebhookReceiver, str]
) -> None:
    rec, url = receiver
    rec.secret = await _add(ctx, url, "delivery.created")
    rec.fail_next = 10_000
    await _post_and_cancel(ctx)
    short = webhooks.Dispatcher(
        ctx["pool"],
        WebhookSettings(allowed_hosts=["127.0.0.1"], retry_hours=0.01),
        ctx["clock"],
        vault=VAULT,
    )
    try:
        for delay in (0, 5, 30, 120):
            ctx["clock"].advance(delay)
            await short.run_once()
        sent = rec.requests
        ctx["clock"].advance(3600)
        await short.run_once()
    finally:
        await short.close()
    assert sent == 3 and rec.requests == 3  # 0 s, 5 s, 35 s; the next would pass 36 s
    async with ctx["pool"].acquire() as conn:
        [hook] = await webhooks.listing(conn)
    assert hook["backlog"] == 0 and hook["disabled_at"] is None

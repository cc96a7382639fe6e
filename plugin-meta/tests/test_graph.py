"""Graph error bodies and usage headers, read as the client reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pellacia.clock import FakeClock
from pellacia.contract import PlatformContext, RemotePost, TokenSet
from pellacia.errors import AuthExpired, Challenge, RateLimited, Rejected, Transient
from pellacia.sdk import Reply
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.sessions import MemoryUploadSession
from pellacia.tokens import StaticTokenSource
from pellacia_meta.graph import GraphApi, UsageMeter, usage_of
from pellacia_meta.insights import INSTAGRAM_METRICS, batch_get, read_insights

from .conftest import request_for, state


def context(platform: str = "instagram", clock: FakeClock | None = None) -> PlatformContext:
    return PlatformContext(
        platform=platform,
        account="news",
        http=None,  # type: ignore[arg-type]  # no request is sent
        tokens=StaticTokenSource(TokenSet(access_token="t")),
        clock=clock or FakeClock(),
    )


def graph_reply(
    code: int, *, status: int = 400, headers: dict[str, str] | None = None, **more: Any
) -> Reply:
    body = {"error": {"message": "m", "type": "OAuthException", "code": code, **more}}
    return Reply.of(status, headers, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (graph_reply(190, error_subcode=460), AuthExpired),
        (graph_reply(4), RateLimited),
        (graph_reply(17), RateLimited),
        (graph_reply(32), RateLimited),
        (graph_reply(613), RateLimited),
        (graph_reply(80001), RateLimited),
        (graph_reply(9, error_subcode=2207042), RateLimited),
        (graph_reply(368), Challenge),
        (graph_reply(1, is_transient=True), Transient),
        (graph_reply(2, status=500), Transient),
        (graph_reply(9007, error_subcode=2207027), Transient),
        (graph_reply(100, error_subcode=2207026, error_user_msg="unsupported format"), Rejected),
        (
            Reply.of(400, {}, b'{"debug_info":{"retriable":true,"type":"X","message":"m"}}'),
            Transient,
        ),
        (
            Reply.of(400, {}, b'{"debug_info":{"retriable":false,"type":"X","message":"m"}}'),
            Rejected,
        ),
    ],
)
def test_graph_errors_map_to_our_classes(reply: Reply, error: type[Exception]) -> None:
    assert type(GraphApi(context()).error_for(reply, "call")) is error


def test_buc_throttling_waits_the_minutes_meta_announces() -> None:
    usage = {"17841400000000001": [{"type": "instagram", "call_count": 100,
                                    "estimated_time_to_regain_access": 7}]}  # fmt: skip
    reply = graph_reply(80002, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    limited = GraphApi(context()).error_for(reply, "create container")
    assert isinstance(limited, RateLimited) and limited.retry_after == 420
    assert "auth login" not in str(limited)


def test_auth_errors_name_the_login_command_and_never_the_token() -> None:
    reply = graph_reply(190, error_subcode=463)
    text = str(GraphApi(context("facebook")).error_for(reply, "finish reel"))
    assert "pellacia-dist auth login facebook --account news" in text


def test_usage_headers_are_read_from_app_and_business_use_case() -> None:
    headers = {
        "X-App-Usage": json.dumps({"call_count": 12, "total_cputime": 3, "total_time": 5}),
        "X-Business-Use-Case-Usage": json.dumps(
            {
                "1": [
                    {
                        "type": "pages",
                        "call_count": 91,
                        "total_time": 4,
                        "estimated_time_to_regain_access": 0,
                    }
                ]
            }
        ),
    }
    assert usage_of(Reply.of(200, headers)) == (91, 0.0)
    assert usage_of(Reply.of(200, {})) == (0, 0.0)


async def test_the_meter_slows_down_from_90_percent_and_stops_at_100() -> None:
    clock = FakeClock()
    ctx = context(clock=clock)
    meter = UsageMeter()
    await meter.before_call(ctx, "x")
    assert clock.monotonic() == 0.0
    meter.note(Reply.of(200, {"X-App-Usage": '{"call_count": 92}'}), clock.now())
    await meter.before_call(ctx, "x")
    assert clock.monotonic() == 5.0  # spaced out, not refused
    meter.note(Reply.of(200, {"X-App-Usage": '{"call_count": 100}'}), clock.now())
    with pytest.raises(RateLimited):
        await meter.before_call(ctx, "x")


def test_empty_insight_sets_are_not_available_not_zero() -> None:
    data = {"data": [
        {"name": "views", "values": [{"value": 40}]},
        {"name": "reach", "values": []},
        {"name": "ig_reels_video_view_total_time", "values": [{"value": 96000}]},
        {"name": "saved", "values": [{"value": 0}]},
    ]}  # fmt: skip
    assert read_insights(data, INSTAGRAM_METRICS) == {
        "views": 40.0,
        "watch_time_s": 96.0,
        "saves": 0.0,
    }


async def test_more_than_50_operations_go_in_several_batches(
    meta: SandboxHandle, sandbox_context: Any, reel_clip: Any
) -> None:
    settings = {"chunk_size": 64 * 1024, "status_poll_interval": 0.05}
    async with sandbox_context("instagram", settings=settings) as kit:
        request = request_for("instagram", reel_clip)
        receipt = await kit.platform.upload(request, MemoryUploadSession(), kit.ctx)
        post = await kit.platform.publish(request, receipt, kit.ctx)
        answers = await batch_get(GraphApi(kit.ctx), [f"{post.remote_id}?fields=id"] * 51)
        snapshots = await kit.platform.fetch_metrics([post, RemotePost("999")], kit.ctx)
    assert [code for code, _ in answers] == [200] * 51
    assert [body["id"] for _, body in answers] == [post.remote_id] * 51
    batches = [r for r in (await state(meta, "instagram"))["requests"] if r["path"] == "/v23.0/"]
    assert len(batches) == 3  # 50 + 1, then the metrics
    assert [s.remote_id for s in snapshots] == [post.remote_id]  # the unknown id is left out


async def test_account_metrics_for_the_analytics_store(
    meta: SandboxHandle, sandbox_context: Any
) -> None:
    async with sandbox_context("instagram") as kit:
        ig = await kit.platform.account_metrics(kit.ctx)  # type: ignore[attr-defined]
    async with sandbox_context("facebook") as kit:
        fb = await kit.platform.account_metrics(kit.ctx)  # type: ignore[attr-defined]
    assert ig["followers_count"] > 0 and ig["media_count"] == 0
    assert fb["followers_count"] > 0

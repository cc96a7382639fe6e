"""The executor end to end: real PostgreSQL, the test platform over real HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pellacia.clock import FakeClock
from pellacia.contract import QuotaBudget
from pellacia.delivery.errors import BadInput
from pellacia.delivery.executor import DeliveryExecutor
from pellacia.delivery.service import CreatedPost, cancel_delivery, create_post
from pellacia.plugins import load_plugins
from pellacia.scheduling.service import queue_status
from pellacia.store import deliveries as store
from pellacia.store import events, queue
from pellacia.store.models import ClaimedDelivery, RunControl
from pellacia.store.pool import create_pool
from pellacia.testing.videos import make_video
from pellacia_testplatform.fake import FakeTestPlatform
from pellacia_testplatform.fixtures import settings_for


@dataclass
class Env:
    pool: Any
    registry: Any
    settings: Any
    clock: FakeClock
    fake: FakeTestPlatform
    video: Path
    tmp: Path

    def executor(self, worker: str = "w1", **kw: Any) -> DeliveryExecutor:
        return DeliveryExecutor(
            self.pool, self.registry, self.settings, self.clock, worker_id=worker, **kw
        )

    async def submit(self, **kw: Any) -> CreatedPost:
        kw.setdefault("title", f"news {uuid.uuid4().hex[:6]}")
        return await create_post(
            self.pool,
            self.registry,
            self.settings,
            file=self.video,
            platforms="testplatform",
            clock=self.clock,
            **kw,
        )

    async def claim(self, delivery_id: uuid.UUID, worker: str = "w1") -> ClaimedDelivery:
        """Claim through the queue, as a worker does (it must be the one due)."""
        async with self.pool.acquire() as conn:
            claimed = await queue.claim(
                conn,
                worker_id=worker,
                now=self.clock.now(),
                lease_seconds=60,
                limit=1,
                spacing=self.settings.spacing_for,
            )
        assert [c.id for c in claimed] == [delivery_id]
        return claimed[0]

    async def deliver(self, **kw: Any) -> tuple[uuid.UUID, dict[str, Any]]:
        """Submit, claim and run once; returns (delivery id, its row)."""
        post = await self.submit(**kw)
        did = post.deliveries[0].id
        await self.executor().run(await self.claim(did), RunControl())
        return did, await self.row(did)

    async def drive(self, delivery_id: uuid.UUID, *, rounds: int = 100) -> list[dict[str, Any]]:
        """Claim and run each time the delivery comes due, until it ends; the rows seen."""
        seen = [await self.row(delivery_id)]
        while seen[-1]["state"] == "retry_wait" and len(seen) <= rounds:
            self.clock.advance(max(0.0, (seen[-1]["due_at"] - self.clock.now()).total_seconds()))
            await self.executor().run(await self.claim(delivery_id), RunControl())
            seen.append(await self.row(delivery_id))
        return seen

    def retry(self, **retry: Any) -> None:
        """Other ``[retry]`` settings for this test."""
        values = {"tries_per_layer": 3, "base_delay": 1.0, "max_delay": 16.0, **retry}
        self.settings = settings_for(self.fake, self.tmp / "data", retry=values)

    async def row(self, delivery_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await store.get(conn, delivery_id)
        assert row is not None
        return row

    async def attempts(self, delivery_id: uuid.UUID) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.attempts(conn, delivery_id)

    async def events(self, delivery_id: uuid.UUID) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await events.for_delivery(conn, delivery_id)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # ~1.5 MB of incompressible frames: 24 chunks of 64 KiB
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=1.0, noise=True)


@pytest.fixture
async def env(
    pg_dsn: str, testplatform: FakeTestPlatform, tmp_path: Path, video: Path
) -> AsyncIterator[Env]:
    pool = await create_pool(pg_dsn, max_size=4)
    settings = settings_for(testplatform, tmp_path / "data")
    try:
        # the fake platform announces rate-limit resets in real time
        clock = FakeClock(datetime.now(UTC))
        yield Env(pool, load_plugins(), settings, clock, testplatform, video, tmp_path)
    finally:
        await pool.close()


def states(evs: list[dict[str, Any]]) -> list[str]:
    return [e["payload"]["to"] for e in evs if e["kind"] == "delivery.state"]


async def test_publishes_once_with_audit_trail(env: Env) -> None:
    did, row = await env.deliver()
    assert row["state"] == "published"
    assert row["remote_id"] == "p1" and row["remote_url"].endswith("/watch/p1")
    assert row["lease_owner"] is None and row["bytes_sent"] == env.video.stat().st_size
    assert env.fake.posts_created == 1
    assert env.fake.bytes_received == env.video.stat().st_size
    assert env.fake.posts[0].idempotency_key == row["idempotency_key"]
    assert states(await env.events(did)) == [
        "pending",
        "claimed",
        "uploading",
        "publishing",
        "published",
    ]
    tries = await env.attempts(did)
    assert [(t["layer"], t["outcome"]) for t in tries] == [("api", "published")]


async def test_transient_errors_back_off_then_succeed(env: Env) -> None:
    env.fake.fail("500", op="chunk", times=2)
    before = env.clock.now()
    did, row = await env.deliver()
    assert row["state"] == "published" and env.fake.posts_created == 1
    outcomes = [(t["outcome"], t["error_class"]) for t in await env.attempts(did)]
    assert outcomes == [("error", "platform"), ("error", "platform"), ("published", None)]
    delays = [e["payload"]["delay"] for e in await env.events(did) if e["kind"] == "delivery.retry"]
    assert delays == [1.0, 2.0]
    assert env.clock.now() - before == timedelta(seconds=3)


async def test_retry_in_the_same_claim_resumes_from_the_last_saved_chunk(env: Env) -> None:
    env.fake.fail("500", op="chunk", times=1, after=5)  # fails mid-file, after 5 chunks
    _did, row = await env.deliver()
    assert row["state"] == "published" and env.fake.posts_created == 1
    assert len(env.fake.uploads) == 1  # the same upload session went on
    # nothing acknowledged was sent again (the failed chunk carried no data in)
    assert env.fake.bytes_received == env.video.stat().st_size


async def test_transient_exhausted_goes_to_next_layer_then_manual(env: Env) -> None:
    env.fake.fail("500", op="init", times=10)
    did, row = await env.deliver()
    assert row["state"] == "manual" and not row["outcome_unknown"]
    assert len(await env.attempts(did)) == 3  # tries_per_layer
    package = Path(row["manual_package"])
    assert (package / "INSTRUCTIONS.md").is_file() and (package / "video.mp4").is_file()
    errors = json.loads((package / "errors.json").read_text())
    assert len(errors) == 3 and errors[0]["error_class"] == "platform"
    kinds = [e["kind"] for e in await env.events(did)]
    assert "delivery.layer_failed" in kinds and "alert" in kinds
    assert env.fake.posts_created == 0


async def test_auth_refused_alerts_and_moves_on_without_refreshing_again(env: Env) -> None:
    # refresh-once-on-401 lives in the plugin's authorized request: an AuthExpired
    # reaching the executor means refreshing did not help, so a person must sign in
    env.fake.fail("401", op="init", times=5)
    did, row = await env.deliver()
    assert row["state"] == "manual"
    assert env.fake.calls.get("token") is None
    assert [t["error_class"] for t in await env.attempts(did)] == ["auth"]
    alerts = [e for e in await env.events(did) if e["kind"] == "alert"]
    assert alerts[0]["payload"]["level"] == "critical"
    assert "credentials refused" in alerts[0]["payload"]["title"]


async def test_rate_limit_waits_for_the_reset_without_using_tries(env: Env) -> None:
    env.fake.fail("429", op="init", retry_after=120)
    did, row = await env.deliver()
    assert row["state"] == "retry_wait" and row["lease_owner"] is None
    assert row["wait_reason"].startswith("rate-limit")
    async with env.pool.acquire() as conn:
        block = await conn.fetchrow("SELECT * FROM rate_limits WHERE bucket LIKE 'block:%'")
        history = await store.layer_history(conn, did, "api", ["network", "platform"])
    assert block is not None and block["blocked_until"] == row["due_at"]
    assert row["due_at"] > env.clock.now() + timedelta(seconds=60)  # the announced reset
    assert history.failures == 0
    # at the reset the delivery goes out
    env.clock.advance(125)
    await env.executor().run(await env.claim(did), RunControl())
    assert (await env.row(did))["state"] == "published" and env.fake.posts_created == 1


async def test_validation_error_fails_at_once_with_the_message(env: Env) -> None:
    env.fake.fail("400", op="publish")
    did, row = await env.deliver()
    assert row["state"] == "failed"
    assert "bad video" in row["last_error"]
    assert len(await env.attempts(did)) == 1


async def test_challenge_alerts_and_moves_on(env: Env) -> None:
    env.fake.fail("challenge", op="init")
    did, row = await env.deliver()
    assert row["state"] == "manual"
    alerts = [e["payload"] for e in await env.events(did) if e["kind"] == "alert"]
    assert any("asks for a human" in a["title"] for a in alerts)


async def test_unsupported_moves_to_next_layer(env: Env) -> None:
    env.fake.fail("unsupported", op="init")
    did, row = await env.deliver()
    assert row["state"] == "manual" and len(await env.attempts(did)) == 1


async def test_lost_publish_answer_is_reconciled_exactly_one_post(env: Env) -> None:
    env.fake.fail("lose-response", op="publish")
    _, row = await env.deliver()
    assert row["state"] == "published"
    assert env.fake.posts_created == 1 and env.fake.calls["publish"] == 1
    assert env.fake.calls["reconcile"] == 1
    assert row["remote_id"] == "p1"


async def test_undecidable_reconcile_goes_to_manual_never_publishes_twice(env: Env) -> None:
    env.retry(processing_check_every=60, processing_give_up_after=600)
    env.fake.fail("lose-response", op="publish")
    env.fake.fail("503", op="reconcile", times=1000)
    did, _ = await env.deliver()
    row = (await env.drive(did))[-1]  # checked again every minute for ten minutes
    assert row["state"] == "manual" and row["outcome_unknown"]
    assert env.fake.calls["publish"] == 1 and env.fake.posts_created == 1
    assert env.fake.calls["reconcile"] == 11
    text = (Path(row["manual_package"]) / "INSTRUCTIONS.md").read_text()
    assert "OUTCOME UNKNOWN" in text and "CHECK BEFORE REPOSTING" in text
    assert "ALREADY UPLOADED" in text and row["receipt"]["remote_id"] in text
    alerts = [e["payload"] for e in await env.events(did) if e["kind"] == "alert"]
    assert any("OUTCOME UNKNOWN" in a["title"] for a in alerts)


async def _run_until_chunks(env: Env, claimed: ClaimedDelivery, control: RunControl, n: int) -> Any:
    env.fake.chunk_delay = 0.01
    task = asyncio.create_task(env.executor().run(claimed, control))
    async with asyncio.timeout(10):
        while env.fake.bytes_received < n * 64 * 1024:
            env.fake.chunk_event.clear()
            await env.fake.chunk_event.wait()
    return task


async def test_shutdown_keeps_upload_state_and_resumes_without_resending(env: Env) -> None:
    post = await env.submit()
    did = post.deliveries[0].id
    control = RunControl()
    task = await _run_until_chunks(env, await env.claim(did), control, 5)
    control.stop_reason = "shutdown"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await env.row(did)
    assert row["state"] == "ready" and row["lease_owner"] is None
    assert row["upload_state"]["offset"] >= 4 * 64 * 1024  # the 5th answer may be in flight
    env.fake.chunk_delay = 0
    await env.executor("w2").run(await env.claim(did, "w2"), RunControl())
    row = await env.row(did)
    assert row["state"] == "published"
    size = env.video.stat().st_size
    # no byte sent twice beyond the one chunk that may have been in flight
    assert env.fake.bytes_received <= size + 64 * 1024
    assert len(env.fake.uploads) == 1 and env.fake.posts_created == 1


async def test_preempted_upload_is_suspended(env: Env) -> None:
    post = await env.submit()
    did = post.deliveries[0].id
    control = RunControl()
    task = await _run_until_chunks(env, await env.claim(did), control, 2)
    control.stop_reason = "preempted"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await env.row(did)
    assert row["state"] == "suspended" and row["upload_state"]["upload_id"]
    assert [t["outcome"] for t in await env.attempts(did)] == ["suspended"]


async def test_cancel_in_flight_stops_at_next_checkpoint(env: Env) -> None:
    post = await env.submit()
    did = post.deliveries[0].id
    task = await _run_until_chunks(env, await env.claim(did), RunControl(), 2)
    result = await cancel_delivery(env.pool, did)
    assert result.outcome == "requested"
    async with asyncio.timeout(10):
        await task
    row = await env.row(did)
    assert row["state"] == "cancelled" and env.fake.posts_created == 0
    assert env.fake.calls.get("publish") is None


async def test_claim_found_in_publishing_reconciles_first(env: Env) -> None:
    post = await env.submit()
    did = post.deliveries[0].id
    env.fake.fail("hang", op="publish")
    control = RunControl()
    task = asyncio.create_task(env.executor().run(await env.claim(did), control))
    async with asyncio.timeout(10):
        while env.fake.calls.get("publish") != 1:
            env.fake.call_event.clear()
            await env.fake.call_event.wait()
    control.stop_reason = "shutdown"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await env.row(did)
    assert row["state"] == "ready" and row["outcome_unknown"]
    env.fake.clear_faults()
    # the hung publish never created a post: reconcile says so, then one publish
    await env.executor("w2").run(await env.claim(did, "w2"), RunControl())
    row = await env.row(did)
    assert row["state"] == "published" and env.fake.posts_created == 1
    assert env.fake.calls["reconcile"] == 1


async def test_stale_worker_cannot_publish_after_losing_its_lease(env: Env) -> None:
    post = await env.submit()
    did = post.deliveries[0].id
    claimed = await env.claim(did, "old")
    async with env.pool.acquire() as conn:  # the lease sweep gave it to another worker
        await conn.execute("UPDATE deliveries SET lease_owner = 'new' WHERE id = $1", did)
    await env.executor("old").run(claimed, RunControl())
    assert env.fake.posts_created == 0 and (await env.row(did))["lease_owner"] == "new"


async def test_absent_layers_are_skipped_with_their_reason(env: Env) -> None:
    env.settings.chains["testplatform"] = ["api+vpn", "browser", "browser+vpn", "api", "manual"]
    env.registry.browser_uploaders.pop("testplatform")  # as without the browser plugin
    did, row = await env.deliver()
    assert row["state"] == "published" and row["layer"] == "api"
    skipped = {
        e["payload"]["layer"]: e["payload"]["reason"]
        for e in await env.events(did)
        if e["kind"] == "delivery.layer_skipped"
    }
    assert skipped["api+vpn"] == "no VPN/proxy route configured"
    assert skipped["browser"].startswith("no ")
    assert set(skipped) == {"api+vpn", "browser", "browser+vpn"}


async def test_chain_without_manual_ends_failed_with_the_last_error(env: Env) -> None:
    env.settings.chains["testplatform"] = ["api"]
    env.fake.fail("unsupported", op="init")
    _did, row = await env.deliver()
    assert row["state"] == "failed"
    assert "every layer of the chain failed (api)" in row["last_error"]
    assert "not_implemented" in row["last_error"]


async def test_test_post_without_sandbox_never_goes_live(env: Env) -> None:
    env.settings.sandbox_url = "http://127.0.0.1:9"  # accepted at intake...
    post = await env.submit(test=True)
    env.settings.sandbox_url = None  # ...but the worker has no sandbox
    did = post.deliveries[0].id
    await env.executor().run(await env.claim(did), RunControl())
    row = await env.row(did)
    assert row["state"] == "failed" and "sandbox" in row["last_error"]
    assert env.fake.calls == {}


async def test_force_vpn_fallback_never_uses_the_direct_api(env: Env) -> None:
    env.settings.chains["testplatform"] = ["api", "api+vpn", "manual"]
    did, row = await env.deliver(force_vpn_fallback=True)
    assert row["state"] == "manual" and env.fake.calls == {}
    skipped = [e["payload"]["layer"] for e in await env.events(did) if "skipped" in e["kind"]]
    assert skipped == ["api+vpn"]
    env.settings.chains["testplatform"] = ["api", "manual"]
    with pytest.raises(BadInput, match="no api\\+vpn layer"):
        await env.submit(force_vpn_fallback=True)


async def test_tokens_never_reach_events_attempts_or_packages(env: Env) -> None:
    env.fake.fail("401", op="init", times=5)
    did, row = await env.deliver()
    dump = json.dumps([await env.events(did), await env.attempts(did), row], default=str)
    folder = Path(row["manual_package"])
    for name in ("metadata.json", "errors.json", "INSTRUCTIONS.md"):
        dump += await asyncio.to_thread((folder / name).read_text)
    assert "tp-token" not in dump and "tp-refresh" not in dump


async def test_browser_layer_publishes_when_the_api_is_challenged(env: Env) -> None:
    env.settings.chains["testplatform"] = ["api", "browser", "manual"]
    env.fake.fail("challenge", op="init")
    did, row = await env.deliver()
    assert row["state"] == "published" and row["layer"] == "browser"
    assert env.fake.posts_created == 1 and env.fake.posts[0].upload_id == "web"
    assert [(t["layer"], t["outcome"]) for t in await env.attempts(did)] == [
        ("api", "error"),
        ("browser", "published"),
    ]


async def test_browser_failure_evidence_lands_in_the_manual_package(env: Env) -> None:
    env.settings.chains["testplatform"] = ["api", "browser", "manual"]
    env.fake.fail("unsupported", op="init")
    env.fake.fail("challenge", op="web")
    did, row = await env.deliver()
    assert row["state"] == "manual"
    shots = Path(row["manual_package"]) / "screenshots"
    assert [p.name for p in await asyncio.to_thread(sorted, shots.iterdir())] == [
        f"{did}-failure.png"
    ]


async def test_browser_layer_is_skipped_after_an_unknown_outcome(env: Env) -> None:
    env.settings.chains["testplatform"] = ["api", "browser", "manual"]
    env.fake.fail("lose-response", op="publish")
    env.fake.fail("503", op="reconcile", times=1)
    env.fake.fail("500", op="publish", times=10)
    did, row = await env.deliver()
    # reconcile could not tell (503): never publish again blindly, not even by browser
    assert row["state"] == "retry_wait" and row["outcome_unknown"]
    row = (await env.drive(did))[-1]
    assert row["state"] == "published" and env.fake.calls["reconcile"] == 2
    assert env.fake.calls.get("web") is None and env.fake.posts_created == 1


# ---------------------------------------------------------------- issue 17


async def test_uploaded_video_is_never_handed_over_as_post_by_hand(env: Env) -> None:
    """Defect 1: the upload completed (receipt), then publishing kept failing: keep
    checking for a while, then a person gets "already uploaded", never "upload"."""
    env.retry(processing_check_every=60, processing_give_up_after=3600)
    env.fake.fail("503", op="publish", times=1000)
    did, row = await env.deliver()
    assert row["state"] == "retry_wait" and row["receipt"]["remote_id"]
    assert row["wait_reason"].startswith("waiting for testplatform")
    seen = await env.drive(did)
    row = seen[-1]
    assert row["state"] == "manual"
    assert env.clock.now() - seen[0]["updated_at"] >= timedelta(seconds=3600)
    assert len(env.fake.uploads) == 1 and env.fake.posts_created == 0  # never uploaded again
    text = (Path(row["manual_package"]) / "INSTRUCTIONS.md").read_text()
    remote_id = row["receipt"]["remote_id"]
    assert "ALREADY UPLOADED" in text and remote_id in text
    assert "do not upload it again" in text.lower()
    assert "Select the video file" not in text
    meta = json.loads((Path(row["manual_package"]) / "metadata.json").read_text())
    assert meta["remote_id"] == remote_id


async def test_still_processing_after_a_lost_answer_waits_then_finds_the_post(env: Env) -> None:
    """Defect 2: reconcile cannot tell yet (the platform is processing): a wait with
    the flag kept, not the manual queue."""
    env.retry(processing_check_every=30, processing_give_up_after=3600)
    env.fake.fail("lose-response", op="publish")
    env.fake.fail("503", op="reconcile", times=3)
    did, row = await env.deliver()
    assert row["state"] == "retry_wait" and row["outcome_unknown"]
    assert row["due_at"] - env.clock.now() == timedelta(seconds=30)
    seen = await env.drive(did)
    assert [r["state"] for r in seen] == ["retry_wait"] * 3 + ["published"]
    assert env.fake.calls["publish"] == 1 and env.fake.posts_created == 1
    assert seen[-1]["remote_id"] == "p1"


async def test_a_try_that_moved_the_upload_does_not_use_up_the_budget(env: Env) -> None:
    """Defect 3: a flaky network slows a large upload down, never sends it to manual
    while it is still moving (here: every third chunk fails, 3 tries per layer)."""
    for _ in range(6):
        env.fake.fail("500", op="chunk", times=1, after=2)
    did, row = await env.deliver()
    assert row["state"] == "published" and env.fake.posts_created == 1
    errors = [t for t in await env.attempts(did) if t["outcome"] == "error"]
    assert len(errors) == 6
    assert env.fake.bytes_received == env.video.stat().st_size


async def test_a_layer_that_keeps_failing_gives_up_after_its_time_limit(env: Env) -> None:
    """Defect 3: besides the tries without progress, each layer has a wall-clock limit."""
    env.retry(tries_per_layer=20, layer_time_limit=10)
    env.fake.fail("500", op="init", times=100)
    did, row = await env.deliver()
    assert row["state"] == "manual"
    assert len(await env.attempts(did)) == 5  # failed at +0, +1, +3, +7, +15 s
    layer_failed = [e for e in await env.events(did) if e["kind"] == "delivery.layer_failed"]
    assert "for 15 s" in layer_failed[0]["payload"]["reason"]


async def test_rate_limit_reason_is_prefixed_once(env: Env) -> None:
    """Defect 6: `rate-limit: rate-limit: ...` in queue status."""
    env.fake.fail("429", op="init", retry_after=120)
    _, row = await env.deliver()
    assert row["wait_reason"].startswith("rate-limit: testplatform:calls until ")
    later = (await env.submit()).deliveries[0].id  # due now, held by the account's block
    async with env.pool.acquire() as conn:
        waits = await queue.waits(conn, env.clock.now(), [later])
    assert waits[later].reason == row["wait_reason"]


async def test_browser_plugin_without_a_page_script_says_so(env: Env) -> None:
    """Defect 6: the browser plugin is installed and fine, it just has no page
    script for this platform."""
    assert any(p.distribution == "pellacia-dist-browser" for p in env.registry.plugins)
    env.settings.chains["testplatform"] = ["browser", "api", "manual"]
    env.registry.browser_uploaders.pop("testplatform")
    did, row = await env.deliver()
    assert row["state"] == "published"
    [skipped] = [e for e in await env.events(did) if e["kind"] == "delivery.layer_skipped"]
    assert skipped["payload"]["reason"] == (
        "no page script for testplatform in pellacia-dist-browser"
    )


async def test_an_upload_started_over_is_counted_as_orphaned(env: Env) -> None:
    """Defect 5: a restart that could not resume starts a new remote upload; the
    abandoned one is counted (``queue status``)."""
    post = await env.submit()
    did = post.deliveries[0].id
    control = RunControl()
    task = await _run_until_chunks(env, await env.claim(did), control, 3)
    control.stop_reason = "shutdown"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    first = (await env.row(did))["upload_state"]["upload_id"]
    env.fake.uploads.clear()  # the platform expired the session: the plugin starts over
    env.fake.chunk_delay = 0
    await env.executor("w2").run(await env.claim(did, "w2"), RunControl())
    row = await env.row(did)
    assert row["state"] == "published" and row["upload_state"]["upload_id"] != first
    async with env.pool.acquire() as conn:
        assert await store.orphaned_uploads(conn) == 1
        status = await queue_status(conn, datetime.now(UTC))
    assert status.to_json()["orphaned_uploads"] == 1
    [orphan] = [e for e in await env.events(did) if e["kind"] == "delivery.upload_orphaned"]
    assert orphan["payload"] == {"layer": "api"}  # no upload URL (a capability) in events


async def test_every_init_spends_the_platforms_per_call_budget(env: Env) -> None:
    """Defect 4: a budget the platform counts per call (TikTok: 6 inits a minute)
    is reserved before each call, not once per delivery: a retried init waits for
    room instead of drawing the platform's 429."""
    env.retry(tries_per_layer=5)
    platform = env.registry.platforms["testplatform"]
    platform.quotas = (
        QuotaBudget("testplatform:init", limit=2, window=timedelta(minutes=1), per_call=True),
    )
    env.fake.fail("lose-response", op="init", times=3)
    did, row = await env.deliver()
    assert env.fake.calls["init"] == 2  # the third would exceed 2 a minute
    assert row["state"] == "retry_wait"
    assert row["wait_reason"].startswith("rate-limit: testplatform:init until ")
    # room again once the first init leaves the one-minute window
    assert row["due_at"] - env.clock.now() > timedelta(seconds=50)
    row = (await env.drive(did))[-1]
    assert row["state"] == "published" and env.fake.calls["init"] == 4

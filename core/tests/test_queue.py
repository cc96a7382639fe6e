"""Claiming, ordering, breaking news, leases, quotas and blocks on real PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pellacia.config import SpacingSettings
from pellacia.contract import QuotaBudget
from pellacia.scheduling import service
from pellacia.scheduling.testing import enqueue
from pellacia.store import deliveries, queue, quotas
from pellacia.store.models import DeliveryState
from pellacia.store.pool import connect_one, create_pool

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NO_SPACING = SpacingSettings(min_interval=0, jitter=0)


def fixed(rules: SpacingSettings) -> queue.SpacingFor:
    return lambda _platform: rules


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


async def claim(conn: Any, now: datetime, limit: int = 10, worker: str = "w1", **kw: Any) -> Any:
    kw.setdefault("spacing", fixed(NO_SPACING))
    return await queue.claim(conn, worker_id=worker, now=now, lease_seconds=15, limit=limit, **kw)


async def publish(conn: Any, delivery_id: Any, worker: str) -> None:
    """Finish a claimed delivery as the executor does: a fenced, declared transition."""
    await deliveries.transition(
        conn,
        delivery_id,
        DeliveryState.PUBLISHED,
        owner=worker,
        reason="published",
        release=True,
        fields={"remote_id": f"remote-{delivery_id}", "published_at": T0},
    )


async def state_of(conn: Any, delivery_id: Any) -> Any:
    return await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)


async def test_order_is_priority_then_due_and_future_rows_wait(pool: Any) -> None:
    async with pool.acquire() as conn:
        late = await enqueue(conn, platforms=[("yt", "a")], due_at=T0 - timedelta(minutes=1))
        early = await enqueue(conn, platforms=[("yt", "b")], due_at=T0 - timedelta(minutes=9))
        future = await enqueue(conn, platforms=[("yt", "c")], due_at=T0 + timedelta(minutes=5))
        urgent = await enqueue(
            conn, platforms=[("yt", "d")], due_at=T0 - timedelta(seconds=1), breaking=True
        )
        got = await claim(conn, T0)
        assert [c.id for c in got] == [urgent[0], early[0], late[0]]
        assert all(c.previous_state is DeliveryState.READY and c.attempts == 1 for c in got)
        assert got[0].priority == 1 and got[0].lease_until == T0 + timedelta(seconds=15)
        row = await state_of(conn, got[1].id)
        assert row["state"] == "claimed" and row["lease_owner"] == "w1"
        assert await queue.next_due(conn, T0) == T0 + timedelta(minutes=5)
        assert [c.id for c in await claim(conn, T0 + timedelta(minutes=5))] == future


async def test_one_normal_in_flight_per_account(pool: Any) -> None:
    async with pool.acquire() as conn:
        first = await enqueue(conn, platforms=[("yt", "a")], due_at=T0 - timedelta(minutes=2))
        second = await enqueue(conn, platforms=[("yt", "a")], due_at=T0 - timedelta(minutes=1))
        other = await enqueue(conn, platforms=[("tt", "a")], due_at=T0)
        got = await claim(conn, T0)
        assert [c.id for c in got] == [first[0], other[0]]
        assert await claim(conn, T0) == []
        assert await queue.waits(conn, T0, second) == {second[0]: queue.Wait("account-busy", None)}
        await publish(conn, first[0], "w1")
        assert [c.id for c in await claim(conn, T0)] == second


async def test_spacing_interval_and_jitter_with_fake_time(pool: Any) -> None:
    rules = SpacingSettings(min_interval=1800, jitter=900)
    rng = random.Random(7)
    expected_jitter = random.Random(7).uniform(0, 900)
    async with pool.acquire() as conn:
        a = await enqueue(conn, platforms=[("yt", "main")], due_at=T0)
        b = await enqueue(conn, platforms=[("yt", "main")], due_at=T0)
        got = await claim(conn, T0, spacing=fixed(rules), rng=rng)
        assert [c.id for c in got] == a
        await publish(conn, a[0], "w1")
        go_at = T0 + timedelta(seconds=1800 + expected_jitter)
        assert await claim(conn, T0 + timedelta(seconds=1800), spacing=fixed(rules)) == []
        assert await queue.next_due(conn, T0) == go_at
        assert await queue.waits(conn, T0 + timedelta(seconds=60), b) == {
            b[0]: queue.Wait("spacing", go_at)
        }
        assert await claim(conn, go_at - timedelta(milliseconds=1), spacing=fixed(rules)) == []
        got = await claim(conn, go_at, spacing=fixed(rules), rng=rng)
        assert [c.id for c in got] == b
        assert await queue.waits(conn, go_at, b) == {}


async def test_two_concurrent_claimers_never_dispatch_inside_the_interval(pool: Any) -> None:
    interval = 60.0
    rules = SpacingSettings(min_interval=interval, jitter=0)
    accounts = ["a", "b", "c"]
    async with pool.acquire() as conn:
        for i in range(30):
            await enqueue(conn, platforms=[("yt", accounts[i % 3])], due_at=T0)
    dispatches: dict[str, list[datetime]] = {a: [] for a in accounts}
    claimed_ids: list[Any] = []

    async def claimer(name: str, now: datetime) -> None:
        async with pool.acquire() as conn:
            for c in await claim(conn, now, limit=3, worker=name, spacing=fixed(rules)):
                dispatches[c.account].append(now)
                claimed_ids.append(c.id)
                await publish(conn, c.id, name)

    now = T0
    for _ in range(80):  # 80 steps of 25 s: enough time for 10 posts per account
        await asyncio.gather(claimer("w1", now), claimer("w2", now), claimer("w3", now))
        now += timedelta(seconds=25)
    assert len(claimed_ids) == 30 == len(set(claimed_ids))
    for times in dispatches.values():
        assert len(times) == 10
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert min(gaps) >= interval


async def test_breaking_preempts_pauses_and_respaces(pool: Any, pg_dsn: str) -> None:
    rules = SpacingSettings(min_interval=600, jitter=0)
    received: list[str] = []
    got_preempt = asyncio.Event()

    def on_preempt(*args: Any) -> None:
        received.append(args[3])
        got_preempt.set()

    listener = await connect_one(pg_dsn)
    await listener.add_listener(queue.PREEMPT_CHANNEL, on_preempt)
    try:
        async with pool.acquire() as conn:
            normal = await enqueue(conn, platforms=[("yt", "main")], due_at=T0)
            later = await enqueue(
                conn, platforms=[("yt", "main")], due_at=T0 + timedelta(seconds=1)
            )
            [running] = await claim(conn, T0, spacing=fixed(rules))
            assert running.id == normal[0]
            await conn.execute("UPDATE deliveries SET state = 'uploading' WHERE id = $1", normal[0])

            t1 = T0 + timedelta(seconds=60)
            news = await enqueue(
                conn, platforms=[("yt", "main"), ("tt", "main")], due_at=t1, breaking=True
            )
            got = await claim(conn, t1, spacing=fixed(rules))
            # Both platforms at once, despite spacing and the upload in flight.
            assert sorted(c.id for c in got) == sorted(news)
            await asyncio.wait_for(got_preempt.wait(), 5)
            assert received == [str(normal[0])]

            # The executor checkpoints the pre-empted upload as suspended.
            await conn.execute(
                "UPDATE deliveries SET state = 'suspended', lease_owner = NULL,"
                " lease_until = NULL, upload_state = '{\"offset\": 5}' WHERE id = $1",
                normal[0],
            )
            t2 = t1 + timedelta(seconds=5)
            assert await claim(conn, t2, spacing=fixed(rules)) == []  # paused
            assert await queue.waits(conn, t2, later) == {later[0]: queue.Wait("breaking", None)}
            for d in news:
                await publish(conn, d, "w1")
            # Out: normal posts are re-spaced after the breaking dispatch.
            assert await queue.next_due(conn, t2) == t1 + timedelta(seconds=600)
            assert await claim(conn, t1 + timedelta(seconds=599), spacing=fixed(rules)) == []
            [resumed] = await claim(conn, t1 + timedelta(seconds=600), spacing=fixed(rules))
            assert resumed.id == normal[0]
            assert resumed.previous_state is DeliveryState.SUSPENDED
            assert resumed.upload_state == {"offset": 5}
    finally:
        await listener.close()


async def test_breaking_floor_between_breaking_posts(pool: Any) -> None:
    rules = SpacingSettings(min_interval=600, jitter=0, breaking_floor=30)
    async with pool.acquire() as conn:
        one = await enqueue(conn, platforms=[("yt", "a")], due_at=T0, breaking=True)
        two = await enqueue(conn, platforms=[("yt", "a")], due_at=T0, breaking=True)
        assert [c.id for c in await claim(conn, T0, spacing=fixed(rules))] == one
        assert await claim(conn, T0 + timedelta(seconds=29), spacing=fixed(rules)) == []
        got = await claim(conn, T0 + timedelta(seconds=30), spacing=fixed(rules))
        assert [c.id for c in got] == two


async def test_expired_lease_is_recovered_with_its_state(pool: Any) -> None:
    async with pool.acquire() as conn:
        ids = await enqueue(conn, platforms=[("yt", "a"), ("tt", "a")], due_at=T0)
        got = await claim(conn, T0, worker="dead")
        assert len(got) == 2
        await conn.execute(
            "UPDATE deliveries SET state = 'publishing', receipt = '{\"media\": \"m1\"}'"
            " WHERE id = $1",
            ids[0],
        )
        await conn.execute("UPDATE deliveries SET state = 'uploading' WHERE id = $1", ids[1])
        held = await queue.renew(conn, ids, "dead", T0 + timedelta(seconds=30))
        assert sorted(held) == sorted(ids)
        assert await queue.renew(conn, ids, "intruder", T0 + timedelta(seconds=99)) == []
        assert await queue.recover_expired(conn, T0 + timedelta(seconds=10)) == []
        recovered = await queue.recover_expired(conn, T0 + timedelta(seconds=31))
        assert sorted(recovered) == sorted(ids)
        assert await queue.renew(conn, ids, "dead", T0 + timedelta(seconds=60)) == []
        again = {c.id: c for c in await claim(conn, T0 + timedelta(seconds=31), worker="w2")}
        assert again[ids[0]].outcome_unknown is True
        assert again[ids[0]].receipt == {"media": "m1"}
        assert again[ids[0]].attempts == 2
        assert again[ids[1]].outcome_unknown is False


async def test_release_on_shutdown_is_fenced_by_owner(pool: Any) -> None:
    async with pool.acquire() as conn:
        ids = await enqueue(conn, platforms=[("yt", "a")], due_at=T0)
        await claim(conn, T0, worker="w1")
        assert await queue.release(conn, ids, "someone-else") == []
        assert await queue.release(conn, ids, "w1") == ids
        row = await state_of(conn, ids[0])
        assert (row["state"], row["lease_owner"]) == ("ready", None)


async def test_quota_budget_waits_for_reset_with_reason(pool: Any) -> None:
    budget = QuotaBudget(
        name="yt:uploads",
        limit=2,
        cost_per_delivery=1,
        reset_timezone="America/Los_Angeles",
        per_account=False,
    )

    def quotas_for(platform: str) -> list[QuotaBudget]:
        return [budget] if platform == "yt" else []

    now = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 13:00 in Los Angeles (PDT)
    reset = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # next local midnight
    async with pool.acquire() as conn:
        ids = [
            (
                await enqueue(
                    conn, platforms=[("yt", f"acc{i}")], due_at=now - timedelta(minutes=3 - i)
                )
            )[0]
            for i in range(3)
        ]
        got = await claim(conn, now, quotas_for=quotas_for)
        assert [c.id for c in got] == ids[:2]
        row = await state_of(conn, ids[2])
        assert row["state"] == "ready"  # waiting, never a failure
        assert (row["due_at"], row["wait_reason"]) == (reset, "quota:yt:uploads")
        assert await queue.next_due(conn, now) == reset
        # A claimed delivery that comes back (retry) does not pay twice.
        await queue.release(conn, [ids[0]], "w1")
        assert [c.id for c in await claim(conn, now, quotas_for=quotas_for)] == [ids[0]]
        assert [c.id for c in await claim(conn, reset, quotas_for=quotas_for)] == [ids[2]]


@pytest.mark.parametrize(
    ("now", "start", "end", "hours"),
    [
        # Spring forward in Los Angeles: the local day has 23 hours.
        ("2026-03-08T10:00Z", "2026-03-08T08:00Z", "2026-03-09T07:00Z", 23),
        # Fall back: 25 hours.
        ("2026-11-01T12:00Z", "2026-11-01T07:00Z", "2026-11-02T08:00Z", 25),
        # Just before local midnight (already the next UTC day).
        ("2026-03-09T06:59Z", "2026-03-08T08:00Z", "2026-03-09T07:00Z", 23),
    ],
)
def test_quota_reset_follows_local_midnight_across_dst(
    now: str, start: str, end: str, hours: int
) -> None:
    budget = QuotaBudget(name="units", limit=1, reset_timezone="America/Los_Angeles")
    got = quotas.reset_window(budget, datetime.fromisoformat(now))
    assert got == (datetime.fromisoformat(start), datetime.fromisoformat(end))
    assert got[1] - got[0] == timedelta(hours=hours)


async def test_quota_reset_at_dst_edge_in_the_database(pool: Any) -> None:
    budget = QuotaBudget(name="units", limit=1, reset_timezone="America/Los_Angeles")
    now = datetime(2026, 3, 8, 10, 0, tzinfo=UTC)  # 01:00 PST, an hour before the jump
    async with pool.acquire() as conn:
        await enqueue(conn, platforms=[("yt", "a")], due_at=now)
        second = await enqueue(conn, platforms=[("yt", "a")], due_at=now)
        kw: dict[str, Any] = {"quotas_for": lambda _p: [budget]}
        [first] = await claim(conn, now, **kw)
        await publish(conn, first.id, "w1")
        assert await claim(conn, now, **kw) == []
        reset = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # midnight PDT, 23 h later
        assert (await state_of(conn, second[0]))["due_at"] == reset
        assert await claim(conn, reset - timedelta(seconds=1), **kw) == []
        assert [c.id for c in await claim(conn, reset, **kw)] == second


async def test_rolling_window_budget(pool: Any) -> None:
    budget = QuotaBudget(name="posts", limit=2, window=timedelta(hours=1), per_account=False)
    kw: dict[str, Any] = {"quotas_for": lambda _p: [budget]}
    async with pool.acquire() as conn:
        ids = [(await enqueue(conn, platforms=[("x", f"a{i}")], due_at=T0))[0] for i in range(3)]
        assert len(await claim(conn, T0, limit=1, **kw)) == 1
        t1 = T0 + timedelta(minutes=20)
        assert len(await claim(conn, t1, limit=1, **kw)) == 1
        assert await claim(conn, t1, **kw) == []
        row = await state_of(conn, ids[2])
        # Room again when the first reservation leaves the hour.
        assert (row["due_at"], row["wait_reason"]) == (T0 + timedelta(hours=1), "quota:posts")
        assert [c.id for c in await claim(conn, T0 + timedelta(hours=1), **kw)] == [ids[2]]


async def test_announced_block_keeps_account_queued(pool: Any) -> None:
    until = T0 + timedelta(minutes=15)
    async with pool.acquire() as conn:
        blocked = await enqueue(conn, platforms=[("tt", "a")], due_at=T0)
        free = await enqueue(conn, platforms=[("tt", "b")], due_at=T0 + timedelta(hours=1))
        await quotas.block(conn, platform="tt", account="a", until=until, reason="429 daily cap")
        assert await claim(conn, T0) == []
        assert await queue.next_due(conn, T0) == until
        assert await queue.waits(conn, T0, blocked) == {
            blocked[0]: queue.Wait("rate-limit: 429 daily cap", until)
        }
        assert await quotas.active_block(conn, "tt", "a", T0) == (until, "429 daily cap")
        # App-wide block covers every account.
        await quotas.block(
            conn, platform="tt", account="*", until=until + timedelta(hours=2), reason="app"
        )
        assert await claim(conn, until + timedelta(hours=1)) == []
        got = await claim(conn, until + timedelta(hours=2))
        assert sorted(c.id for c in got) == sorted(blocked + free)


async def test_insert_and_finish_wake_listeners(pool: Any, pg_dsn: str) -> None:
    woke = asyncio.Event()
    listener = await connect_one(pg_dsn)
    await listener.add_listener(queue.QUEUE_CHANNEL, lambda *a: woke.set())
    try:
        async with pool.acquire() as conn:
            ids = await enqueue(conn, platforms=[("yt", "a")], due_at=T0)
            await asyncio.wait_for(woke.wait(), 5)
            woke.clear()
            await claim(conn, T0)
            await conn.execute("SELECT 1")
            assert not woke.is_set()  # claiming wakes nobody
            await publish(conn, ids[0], "w1")  # account free again
            await asyncio.wait_for(woke.wait(), 5)
            woke.clear()
            await queue.notify(conn)
            await asyncio.wait_for(woke.wait(), 5)
    finally:
        await listener.close()


async def test_concurrent_claimers_take_each_delivery_exactly_once(pool: Any, pg_dsn: str) -> None:
    async with pool.acquire() as conn:
        for i in range(40):
            await enqueue(
                conn, platforms=[("yt", f"a{i}"), ("tt", f"a{i}"), ("x", f"a{i % 7}")], due_at=T0
            )
    seen: list[Any] = []

    async def claimer(name: str) -> None:
        conn = await connect_one(pg_dsn)
        try:
            while True:
                got = await claim(conn, T0, limit=5, worker=name)
                if not got:
                    if (
                        await conn.fetchval(
                            "SELECT count(*) FROM deliveries WHERE state <> 'published'"
                        )
                        == 0
                    ):
                        return
                    # only account-busy rows left: finish ours, others finish theirs
                    await asyncio.sleep(0)
                for c in got:
                    seen.append(c.id)
                    await publish(conn, c.id, name)
        finally:
            await conn.close()

    await asyncio.wait_for(asyncio.gather(*(claimer(f"w{i}") for i in range(4))), 60)
    assert len(seen) == 120 == len(set(seen))


# ------------------------------------------------ candidate selection edge cases
#
# The claim reads the oldest due rows first and, when those are held, selects
# account-first. Each test runs both ways: "account-first" gives up the first
# read at once.


@pytest.fixture(params=["oldest-first", "account-first"])
def selection(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "account-first":
        monkeypatch.setattr(queue, "SCAN_MIN", 1)
        monkeypatch.setattr(queue, "SCAN_FACTOR", 0)
    return str(request.param)


async def _backlog(conn: Any, account: str, n: int, oldest: datetime) -> list[Any]:
    """``n`` normal deliveries on ``account``, due a minute apart from ``oldest``."""
    return [
        (await enqueue(conn, platforms=[("yt", account)], due_at=oldest + timedelta(minutes=i)))[0]
        for i in range(n)
    ]


async def test_breaking_goes_first_over_blocked_accounts(pool: Any, selection: str) -> None:
    rules = SpacingSettings(min_interval=600, jitter=0, breaking_floor=60)
    kw: dict[str, Any] = {"spacing": fixed(rules)}
    async with pool.acquire() as conn:
        # Spacing windows start on a, b and c; c's breaking floor starts too.
        first = [(await enqueue(conn, platforms=[("yt", a)], due_at=T0))[0] for a in "abc"]
        assert sorted(c.id for c in await claim(conn, T0, **kw)) == sorted(first)
        [b0] = await enqueue(conn, platforms=[("yt", "c")], due_at=T0, breaking=True)
        assert [c.id for c in await claim(conn, T0, **kw)] == [b0]
        for d in [*first, b0]:
            await publish(conn, d, "w1")
        # Older rows on the held accounts come first in due order.
        await _backlog(conn, "a", 4, T0 - timedelta(hours=2))
        await _backlog(conn, "b", 4, T0 - timedelta(hours=2))
        held = await enqueue(
            conn, platforms=[("yt", "c")], due_at=T0 - timedelta(hours=3), breaking=True
        )
        news = await enqueue(
            conn, platforms=[("yt", "a")], due_at=T0 + timedelta(seconds=10), breaking=True
        )
        free = await enqueue(conn, platforms=[("yt", "d")], due_at=T0 + timedelta(seconds=20))
        t = T0 + timedelta(seconds=30)
        assert [c.id for c in await claim(conn, t, **kw)] == news + free
        # Left: c's breaking post (floor ends at T0 + 60 s) and spaced backlogs.
        assert await queue.next_due(conn, t) == T0 + timedelta(seconds=60)
        assert await claim(conn, T0 + timedelta(seconds=59), **kw) == []
        assert [c.id for c in await claim(conn, T0 + timedelta(seconds=60), **kw)] == held


async def test_slot_owner_returns_inside_its_window(pool: Any, selection: str) -> None:
    rules = SpacingSettings(min_interval=600, jitter=0)
    kw: dict[str, Any] = {"spacing": fixed(rules)}
    async with pool.acquire() as conn:
        [first] = await enqueue(conn, platforms=[("yt", "a")], due_at=T0 - timedelta(hours=1))
        backlog = await _backlog(conn, "a", 5, T0 - timedelta(minutes=30))
        [c] = await claim(conn, T0, **kw)
        assert c.id == first
        # The executor parks it for a retry in a minute, inside its window.
        await deliveries.transition(
            conn,
            first,
            DeliveryState.RETRY_WAIT,
            owner="w1",
            reason="transient error",
            release=True,
            fields={"due_at": T0 + timedelta(seconds=60)},
        )
        assert await queue.next_due(conn, T0 + timedelta(seconds=1)) == T0 + timedelta(seconds=60)
        assert await queue.waits(conn, T0 + timedelta(seconds=1), backlog[:1]) == {
            backlog[0]: queue.Wait("spacing", T0 + timedelta(seconds=600))
        }
        assert await claim(conn, T0 + timedelta(seconds=59), **kw) == []
        [again] = await claim(conn, T0 + timedelta(seconds=60), **kw)
        assert (again.id, again.attempts) == (first, 2)
        # It fails; a person retries it: still the owner of the window.
        await deliveries.transition(
            conn, first, DeliveryState.FAILED, owner="w1", reason="boom", release=True
        )
        await service.retry(conn, first, T0 + timedelta(seconds=120))
        [third] = await claim(conn, T0 + timedelta(seconds=120), **kw)
        assert (third.id, third.attempts) == (first, 3)
        await publish(conn, first, "w1")
        assert await claim(conn, T0 + timedelta(seconds=599), **kw) == []
        [nxt] = await claim(conn, T0 + timedelta(seconds=600), **kw)
        assert nxt.id == backlog[0]


async def test_breaking_in_flight_pauses_its_account_only(pool: Any, selection: str) -> None:
    async with pool.acquire() as conn:
        news = await enqueue(conn, platforms=[("yt", "a")], due_at=T0, breaking=True)
        assert [c.id for c in await claim(conn, T0)] == news
        paused = await _backlog(conn, "a", 5, T0 - timedelta(minutes=20))
        other = await enqueue(conn, platforms=[("yt", "b")], due_at=T0)
        assert [c.id for c in await claim(conn, T0)] == other
        assert await queue.waits(conn, T0, paused[:1]) == {paused[0]: queue.Wait("breaking", None)}
        # Nothing to sleep until: the breaking post's end wakes the workers.
        assert await queue.next_due(conn, T0) is None
        await publish(conn, news[0], "w1")
        assert await queue.next_due(conn, T0) == T0
        assert [c.id for c in await claim(conn, T0)] == paused[:1]


async def test_quota_and_announced_blocks_hold_only_their_accounts(
    pool: Any, selection: str
) -> None:
    budget = QuotaBudget(name="uploads", limit=1, window=timedelta(hours=1), per_account=True)
    kw: dict[str, Any] = {"quotas_for": lambda p: [budget] if p == "yt" else []}
    async with pool.acquire() as conn:
        a1, a2 = await _backlog(conn, "a", 2, T0 - timedelta(hours=2))
        [b1] = await enqueue(conn, platforms=[("tt", "b")], due_at=T0 - timedelta(hours=3))
        await quotas.block(
            conn, platform="tt", account="b", until=T0 + timedelta(minutes=15), reason="429"
        )
        [c1] = await enqueue(conn, platforms=[("yt", "c")], due_at=T0)
        assert [c.id for c in await claim(conn, T0, **kw)] == [a1, c1]
        for d in (a1, c1):
            await publish(conn, d, "w1")
        # a's budget is spent for the hour: its next delivery waits, never fails.
        assert await claim(conn, T0, **kw) == []
        row = await state_of(conn, a2)
        assert (row["state"], row["due_at"]) == ("ready", T0 + timedelta(hours=1))
        assert await queue.waits(conn, T0, [a2, b1]) == {
            a2: queue.Wait("quota:uploads", T0 + timedelta(hours=1)),
            b1: queue.Wait("rate-limit: 429", T0 + timedelta(minutes=15)),
        }
        assert await queue.next_due(conn, T0) == T0 + timedelta(minutes=15)
        assert [c.id for c in await claim(conn, T0 + timedelta(minutes=15), **kw)] == [b1]
        assert await queue.next_due(conn, T0 + timedelta(minutes=15)) == T0 + timedelta(hours=1)
        assert [c.id for c in await claim(conn, T0 + timedelta(hours=1), **kw)] == [a2]

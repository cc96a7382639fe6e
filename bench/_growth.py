"""``bench/queue.py --growth``: the queue's query cost as the backlog grows.

For each (queued deliveries, accounts) pair it builds the queue inside the
database (``generate_series``, then ``VACUUM ANALYZE``) with this mix:

* half of the deliveries due (over the last day), half in the future (next week);
* 90 % of the accounts inside their spacing window (slot ends within 30 min);
* 2 % of the accounts with a breaking post due; 1 % with a normal upload in flight;

then times, on one connection, each claim inside a transaction rolled back
(the data never changes between samples):

* ``claim, some free``: the mix as built (10 % of accounts past their window);
* ``claim, all blocked``: every account inside its window, breaking floors
  running: what an idle worker runs on each wake-up;
* ``claim, one free``: the same with one account free (its rows late in due order);
* ``next due`` (all blocked), ``queue status`` (the whole ``queue_status``),
  and the idle worker's database time per wake-up (claim + next due, all blocked).

Goals (DESIGN §11 and the issue): claim p99 at 1M <= 2x its 1k value and
< 20 ms in every mix; all-blocked claim and next due < 10 ms at 1M; status
< 200 ms at 1M; idle wake-up < 20 ms at 1M.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pellacia.config import SpacingSettings
from pellacia.scheduling.service import queue_status
from pellacia.store import queue
from pellacia.store import status as status_sql

PLATFORM = "yt"
#: deliveries a claim asks for: a worker's default concurrency
CLAIM_LIMIT = 4
SPACING = SpacingSettings(min_interval=1800, jitter=0)

_BUILD = [
    "TRUNCATE deliveries, posts, account_slots, rate_limits, rate_limit_usage, events CASCADE",
    # one post per ``accounts`` deliveries: (post, platform, account) stays unique
    """
    INSERT INTO posts (id, video_path, video_sha256, video_size, media, title)
    SELECT md5('p' || g)::uuid, '/dev/null', repeat('0', 64), 1, '{}'::jsonb, 'growth'
    FROM generate_series(0, ($1::int - 1) / $2::int) g
    """,
    # delivery g: account g % A; half due (over the last day), half in the next week
    """
    INSERT INTO deliveries (id, post_id, platform, account, state, priority, due_at,
                            idempotency_key)
    SELECT md5('d' || g)::uuid, md5('p' || (g / $2::int))::uuid, 'yt',
           'a' || lpad((g % $2::int)::text, 5, '0'), 'ready', 0,
           CASE WHEN hashint4(g + 7) & 1 = 0 THEN $3::timestamptz - (hashint4(g) & 65535) * interval '1.3 s'
                ELSE $3::timestamptz + (hashint4(g) & 65535) * interval '9 s' END,
           'k' || g
    FROM generate_series(0, $1::int - 1) g
    """,
    # every account has its slot (the insert trigger made those with deliveries)
    """
    INSERT INTO account_slots (platform, account)
    SELECT 'yt', 'a' || lpad(a::text, 5, '0') FROM generate_series(0, $2::int - 1) a
    ON CONFLICT DO NOTHING
    """,
    # 2 % of the accounts: a breaking post due a minute ago
    """
    INSERT INTO posts (id, video_path, video_sha256, video_size, media, title, priority)
    SELECT md5('bp' || a)::uuid, '/dev/null', repeat('0', 64), 1, '{}'::jsonb, 'news',
           'breaking'
    FROM generate_series(0, $2::int - 1, 50) a
    """,
    """
    INSERT INTO deliveries (id, post_id, platform, account, state, priority, due_at,
                            idempotency_key)
    SELECT md5('bd' || a)::uuid, md5('bp' || a)::uuid, 'yt', 'a' || lpad(a::text, 5, '0'),
           'ready', 1, $3::timestamptz - interval '1 minute', 'b' || a
    FROM generate_series(0, $2::int - 1, 50) a
    """,
    # 1 % of the accounts: a normal delivery in flight (its window runs)
    """
    UPDATE deliveries d SET state = 'claimed', lease_owner = 'bench', attempts = 1,
           lease_until = $3::timestamptz + interval '1 minute',
           dispatched_at = $3::timestamptz - interval '1 minute'
    FROM (SELECT md5('d' || a)::uuid AS id FROM generate_series(25, $2::int - 1, 100) a) f
    WHERE d.id = f.id
    """,
]
# Slot windows: 90 % inside (ending within 30 min), every 10th account past.
_SOME_FREE = """
UPDATE account_slots SET breaking_next_at = NULL,
    next_at = CASE WHEN substr(account, 2)::int % 10 = 3 THEN $1::timestamptz - interval '1 min'
                   ELSE $1::timestamptz + (1 + (hashtext(account) & 1023)) * interval '1.7 s' END,
    last_dispatch_at = $1::timestamptz - interval '10 min'
"""
_ALL_BLOCKED = """
UPDATE account_slots SET breaking_next_at = $1::timestamptz + interval '45 s',
    next_at = $1::timestamptz + (1 + (hashtext(account) & 1023)) * interval '1.7 s'
"""
# The free account: one whose first due row is among the newest due ones.
_ONE_FREE = """
UPDATE account_slots SET next_at = $1::timestamptz - interval '1 min'
WHERE account = (SELECT account FROM deliveries WHERE priority = 0 AND state = 'ready'
                   AND due_at <= $1 AND substr(account, 2)::int % 10 = 7
                 ORDER BY due_at DESC LIMIT 1)
"""


@dataclass
class Figures:
    """One size's timings (ms)."""

    size: str
    values: dict[str, float] = field(default_factory=dict)


async def build(conn: Any, queued: int, accounts: int, now: datetime) -> float:
    """Fill the queue (``queued`` deliveries over ``accounts``); seconds taken."""
    start = time.perf_counter()
    values = {"$1": queued, "$2": accounts, "$3": now}
    for sql in _BUILD:
        # each statement gets the parameters it names, renumbered in order
        names = [n for n in values if n in sql]
        for i, n in enumerate(names, 1):
            sql = sql.replace(n, f"${i}")
        await conn.execute(sql, *(values[n] for n in names))
    await conn.execute("VACUUM ANALYZE deliveries, posts, account_slots")
    return time.perf_counter() - start


#: untimed calls first: a worker's connection runs these statements again and
#: again (asyncpg keeps them prepared; PostgreSQL settles on a cached plan)
WARM_UP = 10


async def _timed(func: Callable[[], Awaitable[Any]], samples: int) -> list[float]:
    for _ in range(WARM_UP):
        await func()
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        await func()
        out.append((time.perf_counter() - start) * 1000)
    return out


class _Rollback(Exception):
    pass


async def _claim_rolled_back(conn: Any, now: datetime) -> int:
    got = 0
    try:
        async with conn.transaction():
            got = len(
                await queue.claim(
                    conn,
                    worker_id="bench",
                    now=now,
                    lease_seconds=60,
                    limit=CLAIM_LIMIT,
                    spacing=lambda _p: SPACING,
                )
            )
            raise _Rollback
    except _Rollback:
        pass
    return got


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(conn: Any, size: str, now: datetime, samples: int) -> Figures:
    fig = Figures(size)

    async def claim() -> None:
        await _claim_rolled_back(conn, now)

    await conn.execute(_SOME_FREE, now)
    assert await _claim_rolled_back(conn, now) == CLAIM_LIMIT, "some free: nothing to claim"
    times = await _timed(claim, samples)
    fig.values["claim some free p50"] = _pct(times, 0.5)
    fig.values["claim some free p99"] = _pct(times, 0.99)

    await conn.execute(_ALL_BLOCKED, now)
    assert await _claim_rolled_back(conn, now) == 0, "all blocked: something was claimed"
    times = await _timed(claim, samples)
    fig.values["claim all blocked p50"] = _pct(times, 0.5)
    fig.values["claim all blocked p99"] = _pct(times, 0.99)
    nd = await _timed(lambda: queue.next_due(conn, now), samples)
    fig.values["next due p50"] = _pct(nd, 0.5)
    fig.values["next due p99"] = _pct(nd, 0.99)
    both = await _timed(lambda: _wake_up(conn, now), samples)
    fig.values["idle wake-up p50"] = _pct(both, 0.5)
    fig.values["idle wake-up p99"] = _pct(both, 0.99)

    await conn.execute(_ONE_FREE, now)
    assert await _claim_rolled_back(conn, now) == 1, "one free: not exactly one claimed"
    times = await _timed(claim, samples)
    fig.values["claim one free p50"] = _pct(times, 0.5)
    fig.values["claim one free p99"] = _pct(times, 0.99)

    await conn.execute(_SOME_FREE, now)
    st = await _timed(lambda: queue_status(conn, now), max(5, samples // 20))
    fig.values["queue status"] = statistics.median(st)
    return fig


def _statements(now: datetime) -> list[tuple[str, str, str, str]]:
    """(title, scenario, SQL, EXECUTE arguments) of the plans worth reading."""
    fetch = CLAIM_LIMIT + 4 + CLAIM_LIMIT // 4
    claim_args = f"'{now.isoformat()}', {fetch}, {max(queue.SCAN_MIN, queue.SCAN_FACTOR * fetch)}"
    at = f"'{now.isoformat()}'"
    return [
        ("claim candidates, some accounts free", _SOME_FREE, queue._CANDIDATES, claim_args),
        ("claim candidates, all accounts blocked", _ALL_BLOCKED, queue._CANDIDATES, claim_args),
        ("claim candidates, one account free", _ONE_FREE, queue._CANDIDATES, claim_args),
        (
            "next due, accounts without a block (all blocked)",
            _ALL_BLOCKED,
            queue._NEXT_UNBLOCKED,
            at,
        ),
        ("next due, breaking deliveries", _ALL_BLOCKED, queue._NEXT_BREAKING, at),
        ("queue status: waiting deliveries with reasons", _SOME_FREE, queue._WAITING, f"{at}, 200"),
        ("queue status: counts", _SOME_FREE, status_sql.COUNTS, ""),
    ]


async def plans(conn: Any, now: datetime) -> list[str]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each statement, with the cached
    (generic) plan the claim transaction uses; markdown."""
    out: list[str] = []
    for i, (title, scenario, sql, args) in enumerate(_statements(now)):
        if scenario is _ONE_FREE:
            await conn.execute(_ALL_BLOCKED, now)
        await conn.execute(scenario, now)
        count = len(set(re.findall(r"\$(\d+)", sql)))
        kinds = ", ".join(["timestamptz", "int", "int"][:count])
        async with conn.transaction():
            await conn.execute(
                "SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_generic_plan"
            )
            await conn.execute(
                f"PREPARE plan_{i}({kinds}) AS {sql}" if count else f"PREPARE plan_{i} AS {sql}"
            )
            execute = f"EXECUTE plan_{i}({args})" if count else f"EXECUTE plan_{i}"
            for _ in range(3):  # warm
                await conn.execute(execute)
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {execute}")
            await conn.execute(f"DEALLOCATE plan_{i}")
        out += [f"### {title}", "", "```", *(r[0] for r in rows), "```", ""]
    return out


async def _wake_up(conn: Any, now: datetime) -> None:
    await _claim_rolled_back(conn, now)
    await queue.next_due(conn, now)


GOALS: list[tuple[str, str]] = [
    ("claim some free p99", "< 20 ms and <= 2x 1k"),
    ("claim all blocked p99", "< 10 ms and <= 2x 1k"),
    ("claim one free p99", "< 20 ms and <= 2x 1k"),
    ("next due p99", "< 10 ms"),
    ("queue status", "< 200 ms"),
    ("idle wake-up p99", "< 20 ms"),
]
_LIMITS = {
    "claim some free p99": 20.0,
    "claim all blocked p99": 10.0,
    "claim one free p99": 20.0,
    "next due p99": 10.0,
    "queue status": 200.0,
    "idle wake-up p99": 20.0,
}
_DOUBLING = {"claim some free p99", "claim all blocked p99", "claim one free p99"}


def report(series: dict[int, list[Figures]]) -> list[str]:
    """The table per account count, ratios to the smallest size, and the goals."""
    lines: list[str] = []
    for accounts, figs in series.items():
        base = figs[0]
        lines.append(f"\n{accounts:,} accounts")
        keys = list(base.values)
        header = ["", *(f.size for f in figs), *(f"x {f.size}/{base.size}" for f in figs[1:])]
        rows = [header]
        for k in keys:
            row = [k, *(f"{f.values[k]:.2f} ms" for f in figs)]
            row += [f"{f.values[k] / base.values[k]:.1f}" for f in figs[1:]]
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        top = figs[-1]
        lines.append(f"goals at {top.size}:")
        for k, goal in GOALS:
            value = top.values[k]
            misses = [] if value < _LIMITS[k] else [f"{value - _LIMITS[k]:.2f} ms over"]
            note = f"{value:.2f} ms"
            if k in _DOUBLING:
                ratio = value / base.values[k]
                note += f", {ratio:.1f}x {base.size}"
                if ratio > 2.0:
                    misses.append(f"{ratio / 2:.1f}x the allowed growth")
            ok = not misses
            miss = "" if ok else f"  (misses: {', '.join(misses)})"
            lines.append(f"  {k:<24} {goal:<22} {note:<24} {'met' if ok else 'NOT MET'}{miss}")
    return lines


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


async def run(
    conn: Any,
    sizes: list[int],
    accounts: list[int],
    samples: int,
    log: Callable[[str], None],
    plans_to: list[str] | None = None,
) -> list[str]:
    """Build and measure every (size, accounts) pair; the report's lines.
    With ``plans_to``, the plans at the largest size are appended there."""
    series: dict[int, list[Figures]] = {}
    try:
        await conn.execute("SET jit = off")
        for acc in accounts:
            for n in sizes:
                now = datetime.now(UTC).replace(microsecond=0)
                took = await build(conn, n, acc, now)
                log(f"built {label(n)} over {acc:,} accounts in {took:.0f} s")
                fig = await measure(conn, label(n), now, samples)
                series.setdefault(acc, []).append(fig)
                if plans_to is not None and n == max(sizes):
                    plans_to += [f"## {label(n)} queued over {acc:,} accounts", ""]
                    plans_to += await plans(conn, now)
    finally:
        await conn.close()
    return report(series)

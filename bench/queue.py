"""Queue benchmark: pellacia-dist's scheduler beside pgqueuer, same PostgreSQL, same run.

    pip install pgqueuer          # the baseline; not a dependency of pellacia-dist
    python bench/queue.py [--jobs 4000] [--samples 200]

Prints a table (not a test):

* throughput, claim -> complete, with a no-op platform at 1, 4 and 16
  concurrent workers. Ours runs the real ``Worker`` (LISTEN, claim with
  ``FOR UPDATE SKIP LOCKED``, the per-account spacing slot lock and re-check,
  lease, then the executor's fenced "published" UPDATE per delivery), with
  spacing ``min_interval`` 0 over many accounts. pgqueuer runs its
  ``QueueManager`` with defaults, and with a pool and batches of 50;
* due -> dispatch latency (p50/p99) with idle workers: deliveries inserted due
  "now" (the NOTIFY path) and due 50 ms later (the sleep-until-next-due path).

``--growth`` instead times the claim, next-due and status queries from 1k to
1M queued deliveries (``bench/_growth.py``; no pgqueuer needed).

Starts its own private PostgreSQL cluster (durable settings) and removes it.
"""

# ruff: noqa: E402
from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import os
import sys

# This file is named like the standard library's ``queue``: keep its folder off
# the import path, or ``import queue`` (inside asyncio) would find this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pellacia.clock import SystemClock
from pellacia.config import Settings
from pellacia.scheduling.worker import Worker
from pellacia.store import deliveries
from pellacia.store.models import ClaimedDelivery, DeliveryState, RunControl
from pellacia.store.pool import connect_one, create_pool

ACCOUNTS = 2000
#: deliveries one benchmark worker runs at once
SLOTS = 64
WORKER_COUNTS = (1, 4, 16)


# ----------------------------------------------------------------- database


async def _admin(dsn: str, *sql: str) -> None:
    conn = await connect_one(dsn)
    try:
        for statement in sql:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fresh_db(admin_dsn: str, name: str) -> str:
    from pellacia.store.migrate import migrate

    await _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    dsn = admin_dsn.replace("/postgres?", f"/{name}?")
    conn = await connect_one(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


async def fill(dsn: str, jobs: int) -> None:
    """``jobs`` ready deliveries due now, spread over ``ACCOUNTS`` accounts."""
    conn = await connect_one(dsn)
    try:
        now = datetime.now(UTC)
        post = uuid.uuid4()
        await conn.execute(
            "INSERT INTO posts (id, video_path, video_sha256, video_size, media, title)"
            " VALUES ($1, '/dev/null', $2, 1, '{}'::jsonb, 'bench')",
            post,
            "0" * 64,
        )
        rows = [
            (uuid.uuid4(), post, "noop", f"acct{i % ACCOUNTS}-{i // ACCOUNTS}", now, f"k{i}")
            for i in range(jobs)
        ]
        await conn.copy_records_to_table(
            "deliveries",
            records=[(*r[:4], "ready", 0, r[4], r[5]) for r in rows],
            columns=[
                "id",
                "post_id",
                "platform",
                "account",
                "state",
                "priority",
                "due_at",
                "idempotency_key",
            ],
        )
        await conn.execute("ANALYZE deliveries")
    finally:
        await conn.close()


# ---------------------------------------------------------------- ours


def _settings() -> Settings:
    return Settings(
        spacing={"min_interval": 0, "jitter": 0}, database_url=None, data_dir=Path("/tmp")
    )


async def _wait_count(dsn: str, target: int) -> None:
    from pellacia.scheduling.testing import wait_until

    await wait_until(
        dsn,
        "SELECT count(*) FROM deliveries WHERE state = 'published'",
        expect=target,
        within=600,
    )


class CompletionBatcher:
    """Marks deliveries published in batches (group commit), like pgqueuer's buffers.

    Each run still waits for its own row to be written: the fenced UPDATE is
    the executor's (``WHERE id = ... AND lease_owner = ...``), one statement
    per batch instead of one per delivery.
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.pending: list[tuple[uuid.UUID, str, asyncio.Future[None]]] = []
        self.kick = asyncio.Event()
        self.task = asyncio.create_task(self._flush_forever())

    async def complete(self, delivery_id: uuid.UUID, worker_id: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((delivery_id, worker_id, done))
        self.kick.set()
        await done

    async def _flush_forever(self) -> None:
        while True:
            await self.kick.wait()
            self.kick.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            batch.sort(key=lambda b: b[0])  # one lock order for every batch
            error: Exception | None = None
            try:
                await self._flush(batch)
            except Exception as exc:  # a batch that fails fails its runs, never hangs them
                error = exc
            for _, _, done in batch:
                if done.done():  # its run was cancelled (lease lost) meanwhile
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    async def _flush(self, batch: list[tuple[uuid.UUID, str, asyncio.Future[None]]]) -> None:
        import asyncpg

        for attempt in range(5):
            try:
                async with self.pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE deliveries d SET state = 'published', remote_id = 'r-' || d.id,"
                        " published_at = now(), lease_owner = NULL, lease_until = NULL,"
                        " updated_at = now()"
                        " FROM unnest($1::uuid[], $2::text[]) AS v(id, owner)"
                        " WHERE d.id = v.id AND d.lease_owner = v.owner",
                        [b[0] for b in batch],
                        [b[1] for b in batch],
                    )
                return
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def ours_throughput(dsn: str, jobs: int, workers: int) -> float:
    await fill(dsn, jobs)
    pool = await create_pool(dsn, min_size=2, max_size=min(4 + workers * 2, 40))
    settings = _settings()
    batcher = CompletionBatcher(pool)

    async def run(claimed: ClaimedDelivery, control: RunControl) -> None:
        await batcher.complete(claimed.id, claimed.lease_owner)

    ws = [
        Worker(pool, settings, SystemClock(), runner=run, concurrency=SLOTS) for _ in range(workers)
    ]
    start = time.perf_counter()
    tasks = [asyncio.create_task(w.run()) for w in ws]
    await _wait_count(dsn, jobs)
    elapsed = time.perf_counter() - start
    for w in ws:
        w.stop()
    await asyncio.gather(*tasks)
    await batcher.close()
    claimed = sum(w.claimed_total for w in ws)
    assert claimed == jobs, f"claimed {claimed} of {jobs}"
    await pool.close()
    await _admin(dsn, "DELETE FROM deliveries", "DELETE FROM account_slots")
    return jobs / elapsed


async def ours_latency(dsn: str, samples: int, ahead: float) -> list[float]:
    pool = await create_pool(dsn, min_size=2, max_size=6)
    lat: list[float] = []
    done = asyncio.Event()

    async def run(claimed: ClaimedDelivery, control: RunControl) -> None:
        lat.append((datetime.now(UTC) - claimed.scheduled_at).total_seconds())  # type: ignore[operator]
        async with pool.acquire() as conn:
            await deliveries.transition(
                conn,
                claimed.id,
                DeliveryState.PUBLISHED,
                owner=claimed.lease_owner,
                reason="published",
                release=True,
                fields={"remote_id": f"r-{claimed.id}", "published_at": datetime.now(UTC)},
            )
        if len(lat) >= samples:
            done.set()

    worker = Worker(pool, _settings(), SystemClock(), runner=run, concurrency=4)
    task = asyncio.create_task(worker.run())
    await worker.ready.wait()
    conn = await connect_one(dsn)
    post = uuid.uuid4()
    for i in range(samples):
        due = datetime.now(UTC) + timedelta(seconds=ahead)
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO posts (id, video_path, video_sha256, video_size, media, title,"
                " scheduled_at) VALUES ($1, '/dev/null', $2, 1, '{}'::jsonb, 'bench', $3)",
                post,
                "0" * 64,
                due,
            )
            await conn.execute(
                "INSERT INTO deliveries (id, post_id, platform, account, state, due_at,"
                " idempotency_key) VALUES ($1, $2, 'noop', $3, 'ready', $4, $5)",
                uuid.uuid4(),
                post,
                f"lat{i}",
                due,
                f"lat-{post}",
            )
        post = uuid.uuid4()
        await asyncio.sleep(0.01 + ahead)  # one at a time: workers idle in between
    await asyncio.wait_for(done.wait(), 60)
    worker.stop()
    await task
    await conn.close()
    await pool.close()
    await _admin(dsn, "DELETE FROM deliveries", "DELETE FROM posts", "DELETE FROM account_slots")
    return lat


# ---------------------------------------------------------------- pgqueuer


async def pgq_throughput(dsn: str, jobs: int, workers: int, *, batched: bool) -> float:
    import asyncpg
    from pgqueuer import QueueManager
    from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(dsn)
    await Queries(AsyncpgDriver(conn)).enqueue(["noop"] * jobs, [None] * jobs, [0] * jobs)
    await conn.close()
    done = asyncio.Event()
    count = 0
    managers: list[QueueManager] = []
    conns: list[Any] = []
    pools: list[Any] = []
    for _ in range(workers):
        if batched:
            pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
            pools.append(pool)
            qm = QueueManager(Queries(AsyncpgPoolDriver(pool)))
        else:
            c = await asyncpg.connect(dsn)
            conns.append(c)
            qm = QueueManager(Queries(AsyncpgDriver(c)))

        @qm.entrypoint("noop")
        async def noop(job: Job) -> None:
            nonlocal count
            count += 1
            if count >= jobs:
                done.set()

        managers.append(qm)
    start = time.perf_counter()
    batch = 50 if batched else 10
    tasks = [asyncio.create_task(qm.run(batch_size=batch)) for qm in managers]
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - start
    for qm in managers:
        qm.shutdown.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in conns:
        await c.close()
    for p in pools:
        await p.close()
    await _admin(dsn, "DELETE FROM pgqueuer")
    return jobs / elapsed


async def pgq_latency(dsn: str, samples: int, ahead: float) -> list[float]:
    import asyncpg
    from pgqueuer import QueueManager
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries

    c = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(c)))
    lat: list[float] = []
    done = asyncio.Event()

    @qm.entrypoint("lat")
    async def handler(job: Job) -> None:
        due = float((job.payload or b"0").decode())
        lat.append(time.time() - due)
        if len(lat) >= samples:
            done.set()

    task = asyncio.create_task(qm.run(dequeue_timeout=timedelta(seconds=30)))
    producer = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(producer))
    await asyncio.sleep(0.5)  # let the manager start listening
    for _ in range(samples):
        due = time.time() + ahead
        await queries.enqueue(
            "lat",
            str(due).encode(),
            execute_after=timedelta(seconds=ahead) if ahead else None,
        )
        await asyncio.sleep(0.01 + ahead)
    await asyncio.wait_for(done.wait(), 60)
    qm.shutdown.set()
    await asyncio.gather(task, return_exceptions=True)
    await producer.close()
    await c.close()
    await _admin(dsn, "DELETE FROM pgqueuer")
    return lat


async def install_pgqueuer(dsn: str) -> None:
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


# -------------------------------------------------------------------- main


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _sizes(text: str) -> list[int]:
    units = {"k": 1_000, "m": 1_000_000}
    return [
        int(float(v[:-1]) * units[v[-1].lower()]) if v[-1].lower() in units else int(v)
        for v in text.split(",")
    ]


async def growth(admin: str, args: argparse.Namespace) -> None:
    """``--growth``: query cost from 1k to 1M queued deliveries (see bench/_growth.py)."""
    import importlib.util

    # bench/ is off sys.path (see the top of this file): load the module by path
    spec = importlib.util.spec_from_file_location("_growth", os.path.join(_HERE, "_growth.py"))
    assert spec is not None and spec.loader is not None
    _growth = sys.modules["_growth"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_growth)
    dsn = await fresh_db(admin, "bench_growth")
    conn = await connect_one(dsn)
    plans: list[str] | None = [] if args.plans else None
    lines = await _growth.run(
        conn,
        _sizes(args.sizes),
        _sizes(args.accounts),
        args.growth_samples,
        lambda msg: print(msg, file=sys.stderr, flush=True),
        plans,
    )
    print(f"claim limit {_growth.CLAIM_LIMIT}; {args.growth_samples} samples per figure")
    print("\n".join(lines))
    if plans is not None:
        await asyncio.to_thread(Path(args.plans).write_text, "\n".join(plans))
        print(f"plans at the largest size written to {args.plans}")


async def main(args: argparse.Namespace) -> None:
    if not args.growth:
        try:
            import pgqueuer  # noqa: F401
        except ImportError:
            sys.exit("this benchmark compares against pgqueuer: pip install pgqueuer")
    from pellacia.log import configure_logging
    from pellacia.store.cluster import EmbeddedCluster

    configure_logging("warning", False)

    base = Path(tempfile.mkdtemp(prefix="pellacia-bench-"))
    os.chmod(base, 0o755)
    cluster = EmbeddedCluster(base / "cluster", fast_unsafe=args.fast)
    await asyncio.to_thread(cluster.start)
    try:
        admin = cluster.dsn("postgres")
        print(
            f"PostgreSQL {cluster.server_version()}, {os.cpu_count()} CPUs,"
            f" durable={'no' if args.fast else 'yes'}"
        )
        if args.growth:
            await growth(admin, args)
            return
        ours = await fresh_db(admin, "bench_ours")
        theirs = await fresh_db(admin, "bench_pgq")
        await install_pgqueuer(theirs)
        rows: list[tuple[str, str, str, str]] = []
        print(f"throughput: {args.jobs} no-op jobs per run", file=sys.stderr)
        for n in WORKER_COUNTS:
            a = await ours_throughput(ours, args.jobs, n)
            b = await pgq_throughput(theirs, args.jobs, n, batched=False)
            c = await pgq_throughput(theirs, args.jobs, n, batched=True)
            rows.append((f"throughput, {n} worker(s)", f"{a:,.0f}/s", f"{b:,.0f}/s", f"{c:,.0f}/s"))
            print(f"  {n} workers done", file=sys.stderr)
        for ahead, label in ((0.0, "due now"), (0.05, "due in 50 ms")):
            lo = await ours_latency(ours, args.samples, ahead)
            lt = await pgq_latency(theirs, args.samples, ahead)
            rows.append(
                (
                    f"due->dispatch p50/p99, {label}",
                    f"{pct(lo, 0.5):.1f}/{pct(lo, 0.99):.1f} ms",
                    f"{pct(lt, 0.5):.1f}/{pct(lt, 0.99):.1f} ms",
                    "",
                )
            )
        header = ("", "pellacia-dist", "pgqueuer (defaults)", "pgqueuer (pool, batch 50)")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        for r in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
        print(
            f"(latency medians over {args.samples} samples; mean ours "
            f"{statistics.mean(lo) * 1000:.1f} ms)"
        )
    finally:
        await asyncio.to_thread(cluster.stop)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fast", action="store_true", help="fsync off (both sides)")
    parser.add_argument(
        "--growth", action="store_true", help="query cost from 1k to 1M queued (no pgqueuer)"
    )
    parser.add_argument("--sizes", default="1k,100k,1M", help="--growth: queued deliveries")
    parser.add_argument("--accounts", default="100,10k", help="--growth: account counts")
    parser.add_argument("--growth-samples", type=int, default=200, help="--growth: per figure")
    parser.add_argument(
        "--plans", metavar="FILE", help="--growth: EXPLAIN plans at the largest size"
    )
    asyncio.run(main(parser.parse_args()))

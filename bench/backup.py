"""Backup benchmark: ``db backup``/``db restore`` beside plain pg_dump/pg_restore, same run.

    python bench/backup.py [--posts 10000]

Fills a database of a private cluster with ``--posts`` posts, six published
deliveries each with two attempts, their state events and one analytics
snapshot each (the history a busy newsroom builds in a few months), then
times:

* ``pg_dump -Fc`` of the whole database (the baseline) and pellacia-dist's
  ``store.backup.dump`` (schema only, temporary file, fsync, TOC check);
* ``pg_restore`` into a new database (the baseline) and ``store.backup.restore``
  (one transaction, ``--no-owner``) plus ``after_restore``.

Prints seconds and sizes side by side. Starts its own cluster and removes it.
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps this folder's queue.py off the import path

# isort: split

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILL = """
INSERT INTO posts (id, video_path, video_sha256, video_size, media, title, description)
SELECT md5('p' || i)::uuid, '/srv/video/' || i || '.mp4', md5(i::text), 1000000 + i,
       '{"size": 1000000, "duration": 30.0, "width": 1080, "height": 1920}'::jsonb,
       'Bench post ' || i, repeat('A newsroom description. ', 8)
FROM generate_series(1, $1) AS i;

INSERT INTO deliveries (id, post_id, platform, account, state, due_at, remote_id, remote_url,
                        published_at, idempotency_key, attempts)
SELECT md5('d' || i || p)::uuid, md5('p' || i)::uuid, p, 'default', 'published', now(),
       'r' || i || p, 'https://example.invalid/' || p || '/' || i, now(), md5('k' || i || p), 2
FROM generate_series(1, $1) AS i,
     unnest(ARRAY['youtube', 'tiktok', 'instagram', 'facebook', 'twitter', 'linkedin']) AS p;

INSERT INTO delivery_attempts (delivery_id, attempt, layer, worker, started_at, finished_at,
                               outcome, error_class, error, bytes_sent)
SELECT d.id, a, 'api', 'bench-worker', now(), now(),
       CASE a WHEN 1 THEN 'error' ELSE 'published' END,
       CASE a WHEN 1 THEN 'network' END, CASE a WHEN 1 THEN 'connection reset' END, 1000000
FROM deliveries d, generate_series(1, 2) AS a;

INSERT INTO events (kind, post_id, delivery_id, payload, dispatched_at)
SELECT 'delivery.state', d.post_id, d.id,
       jsonb_build_object('from', s.f, 'to', s.t, 'worker', 'bench-worker'), now()
FROM deliveries d,
     (VALUES ('pending', 'claimed'), ('claimed', 'uploading'), ('uploading', 'publishing'),
             ('publishing', 'published')) AS s(f, t);

INSERT INTO post_analytics (delivery_id, day, metrics)
SELECT id, current_date, '{"views": 1200, "likes": 40, "comments": 3}'::jsonb FROM deliveries;
"""


async def fill(dsn: str, posts: int) -> dict[str, int]:
    from pellacia.store.migrate import migrate
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        await migrate(conn)
        for statement in FILL.split(";\n"):
            if statement.strip():
                await conn.execute(statement.replace("$1", str(int(posts))))
        counts = {}
        for table in ("posts", "deliveries", "delivery_attempts", "events", "post_analytics"):
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return counts
    finally:
        await conn.close()


async def create_db(admin: str, name: str) -> None:
    from pellacia.store.pool import connect_one

    conn = await connect_one(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True)
    return time.monotonic() - started


async def main(args: argparse.Namespace) -> None:
    from pellacia.log import configure_logging
    from pellacia.store import backup
    from pellacia.store.cluster import EmbeddedCluster
    from pellacia.store.pool import connect_one

    configure_logging("warning", False)
    base = Path(tempfile.mkdtemp(prefix="pellacia-bench-"))
    os.chmod(base, 0o755)
    cluster = EmbeddedCluster(base / "cluster")
    await asyncio.to_thread(cluster.start)
    try:
        admin = cluster.dsn("postgres")
        print(f"PostgreSQL {cluster.server_version()}, {os.cpu_count()} CPUs", file=sys.stderr)
        await create_db(admin, "bench_src")
        src = cluster.dsn("bench_src")
        started = time.monotonic()
        counts = await fill(src, args.posts)
        print(
            f"filled in {time.monotonic() - started:.1f} s: "
            + ", ".join(f"{n:,} {t}" for t, n in counts.items()),
            file=sys.stderr,
        )
        raw_file, our_file = base / "raw.dump", base / "ours.dump"
        raw_dump = timed([backup.tool("pg_dump"), "-Fc", "-f", str(raw_file), "-d", src])
        ours = await asyncio.to_thread(backup.dump, src, our_file, schema="public")

        await create_db(admin, "bench_raw")
        raw_restore = timed(
            [backup.tool("pg_restore"), "-d", cluster.dsn("bench_raw"), str(raw_file)]
        )
        await create_db(admin, "bench_ours")
        target = cluster.dsn("bench_ours")
        conn = await connect_one(target)
        existing = await backup.schemas(conn)
        await conn.close()
        our_restore = await asyncio.to_thread(
            backup.restore, target, our_file, ours.info, existing_schemas=existing
        )
        conn = await connect_one(target)
        started = time.monotonic()
        await backup.after_restore(conn, ours.info.created_at)
        after = time.monotonic() - started
        await conn.close()

        rows = [
            ("", "pg_dump/pg_restore", "pellacia-dist"),
            ("backup", f"{raw_dump:.2f} s", f"{ours.seconds:.2f} s"),
            (
                "size",
                f"{raw_file.stat().st_size / 2**20:.1f} MiB",
                f"{ours.bytes / 2**20:.1f} MiB",
            ),
            ("restore", f"{raw_restore:.2f} s", f"{our_restore:.2f} s + {after:.2f} s flagging"),
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    finally:
        await asyncio.to_thread(cluster.stop)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000, help="posts (x6 deliveries)")
    asyncio.run(main(parser.parse_args()))

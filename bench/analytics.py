"""Analytics collection at scale: calls spent vs the batching minimum, 429s, time.

What it does (everything local: a private PostgreSQL cluster and the sandbox
on 127.0.0.1):

1. publishes one post per platform through each plugin onto its fake (YouTube,
   TikTok, X, Instagram, Facebook, LinkedIn), then copies them inside the fakes
   up to ``--posts`` posts spread evenly over the six, each recorded as a
   published delivery;
2. runs the collector as the worker does (every ``--step`` simulated minutes
   for ``--hours`` simulated hours), the collector's clock and the sandbox's
   moved together, with the default analytics budgets (or ``--limit``);
3. prints, per platform, side by side: HTTP requests the fake received against
   the batching minimum (goal <= 1.05x), 429s (goal 0), posts covered, and the
   simulated and wall time until every post had its first snapshot.

Minimum per run and platform: ceil(posts fetched / batch size) requests
(LinkedIn: plus one video-views call per post, its API has no batch for them),
plus the day's account reads (Instagram, Facebook).
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import asyncio
import collections
import copy
import dataclasses
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
PLATFORMS = ("youtube", "tiktok", "twitter", "instagram", "facebook", "linkedin")
#: requests that are not metrics reads (sign-in, token refresh)
NOT_METRICS = re.compile(r"token|oauth|authorize|/me\b|accessToken")


def cli(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [CLI, *argv], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"pellacia-dist {' '.join(argv)} failed:\n{done.stderr}")
    return done.stdout


# ------------------------------------------------------------- copies in the fakes


def _new_id(original: str, n: int) -> str:
    """``original`` with ``n`` folded into its trailing digits (ids stay numeric)."""
    match = re.fullmatch(r"(.*?)(\d+)", original)
    if match:
        return f"{match.group(1)}{match.group(2)}{n:07d}"
    return f"{original}{n:07d}"


def clone(host: Any, platform: str, remote_id: str, n: int) -> str:
    """A copy of post ``remote_id`` on ``platform``'s fake; the copy's id."""
    fake = host.fake(platform)
    new = _new_id(remote_id, n)
    if platform in ("youtube", "facebook"):
        fake.videos[new] = {**copy.deepcopy(fake.videos[remote_id]), "id": new}
    elif platform == "instagram":
        fake.media[new] = {**copy.deepcopy(fake.media[remote_id]), "id": new}
    elif platform == "tiktok":
        original = next(v for v in fake.videos if v.id == remote_id)
        fake.videos.append(dataclasses.replace(original, id=new))
    elif platform == "twitter":
        original = next(t for t in fake.tweets if t.id == remote_id)
        fake.tweets.append(dataclasses.replace(original, id=new))
    elif platform == "linkedin":
        fake.posts[new] = dataclasses.replace(fake.posts[remote_id], urn=new)
    return new


async def seed(pool: Any, settings: Any, registry: Any, host: Any, posts: int, at: datetime) -> int:
    from pellacia.store import analytics as store
    from pellacia.testing.analytics import ACCOUNT, publish_on_fakes

    firsts = await publish_on_fakes(
        pool, settings, registry, PLATFORMS, per_platform=1, published_at=at
    )
    per_platform = max(1, posts // len(PLATFORMS))
    async with pool.acquire() as conn:
        for first in firsts:
            for n in range(1, per_platform):
                new = clone(host, first.platform, first.remote_id, n)
                await store.insert_published(
                    conn,
                    platform=first.platform,
                    account=ACCOUNT,
                    remote_id=new,
                    remote_url=None,
                    published_at=at,
                    title=f"{first.platform} copy {n}",
                )
    return per_platform * len(PLATFORMS)


# ------------------------------------------------------------------- the run


def minimum(platform: str, fetched: int, batch: int) -> int:
    requests = math.ceil(fetched / batch) if fetched else 0
    return requests + (fetched if platform == "linkedin" else 0)


def metrics_requests(host: Any, platform: str) -> tuple[int, int]:
    """(metrics requests, refused answers: 429s, Graph's "(#4) limit reached") the fake logged."""
    entries = [e for e in host.fake(platform).requests if not NOT_METRICS.search(e["path"])]
    refused = sum(1 for e in entries if (e["status"] or 0) >= 400)
    return len(entries), refused


async def covered(pool: Any, per_platform: int) -> set[str]:
    """Platforms whose every post has at least one snapshot."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT d.platform, count(DISTINCT a.delivery_id) AS n FROM post_analytics a"
            " JOIN deliveries d ON d.id = a.delivery_id GROUP BY d.platform"
        )
    return {r["platform"] for r in rows if r["n"] >= per_platform}


async def collect(
    args: argparse.Namespace,
    pool: Any,
    settings: Any,
    registry: Any,
    host: Any,
    control: Any,
    total: int,
    start: datetime,
) -> dict[str, Any]:
    from pellacia.analytics.collector import Collector
    from pellacia.clock import FakeClock

    for name in PLATFORMS:
        host.fake(name).clear_requests()
    clock = FakeClock(start)
    collector = Collector(pool, settings, registry, clock)
    sizes = {n: registry.platform(n).capabilities.metrics_batch_size for n in PLATFORMS}
    least: collections.Counter[str] = collections.Counter()
    totals: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    covered_at: dict[str, float] = {}
    first: tuple[int, float] | None = None
    began = time.monotonic()
    for step in range(int(args.hours * 60 / args.step)):
        run_began = time.monotonic()
        report = await collector.run_once()
        if first is None:
            first = (sum(report.snapshots.values()), time.monotonic() - run_began)
        for field in ("calls", "fetched", "snapshots", "rate_limited", "accounts"):
            totals[field].update(getattr(report, field))
        for name in PLATFORMS:
            least[name] += minimum(name, report.fetched[name], sizes[name]) + report.accounts[name]
        for name in await covered(pool, total // len(PLATFORMS)):
            covered_at.setdefault(name, step * args.step / 60)
        clock.advance(args.step * 60)
        await control.advance_clock(args.step * 60)
    wall = time.monotonic() - began
    return {"least": least, "totals": totals, "covered": covered_at, "first": first, "wall": wall}


def report(args: argparse.Namespace, total: int, result: dict[str, Any], host: Any) -> bool:
    totals, least = result["totals"], result["least"]
    print(
        f"\n{total} posts over {len(PLATFORMS)} platforms, {args.hours:g} simulated hours, "
        f"a run every {args.step:g} min"
    )
    head = (
        f"{'platform':<10} {'requests':>9} {'minimum':>8} {'ratio':>6} {'refused':>7} "
        f"{'budget calls':>12} {'fetches':>8} {'all covered':>11}"
    )
    print(head)
    print("-" * len(head))
    ok = True
    all_req = all_min = all_refused = 0
    for name in PLATFORMS:
        requests, refused = metrics_requests(host, name)
        ratio = requests / least[name] if least[name] else float("nan")
        ok &= ratio <= 1.05 and refused == 0
        all_req, all_min, all_refused = (
            all_req + requests,
            all_min + least[name],
            all_refused + refused,
        )
        when = result["covered"].get(name)
        shown = f"{when:g} h" if when is not None else "not yet"
        print(
            f"{name:<10} {requests:>9} {least[name]:>8} {ratio:>6.3f} {refused:>7} "
            f"{totals['calls'][name]:>12} {totals['snapshots'][name]:>8} {shown:>11}"
        )
    print("-" * len(head))
    print(
        f"{'all':<10} {all_req:>9} {all_min:>8} {all_req / max(1, all_min):>6.3f} {all_refused:>7}"
    )
    posts, seconds = result["first"]
    print(
        f"first run: {posts} posts fetched and stored in {seconds:.1f} s wall "
        f"({posts / max(seconds, 1e-9):,.0f} posts/s); whole run {result['wall']:.1f} s wall"
    )
    print("goals: ratio <= 1.05, 0 refused:", "met" if ok else "NOT met")
    return ok


async def main_async(args: argparse.Namespace, tmp: Path) -> bool:
    from pellacia.config import Settings
    from pellacia.log import configure_logging
    from pellacia.plugins import load_plugins
    from pellacia.store.pool import create_pool
    from pellacia.testing.analytics import plugin_settings
    from pellacia_sandbox.control import SandboxControl
    from pellacia_sandbox.thread import ThreadedSandbox

    configure_logging("warning", False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(PELLACIA_DATA_DIR=str(tmp / "data"), PELLACIA_CONFIG=str(tmp / "none.toml"))
    cli(env, "db", "up")
    env["PELLACIA_DATABASE_URL"] = dsn = cli(env, "db", "url").strip()
    cli(env, "db", "migrate")
    sandbox = ThreadedSandbox(port=0, only=set(PLATFORMS))
    host = sandbox.start()
    pool = await create_pool(dsn, max_size=6)
    try:
        analytics: dict[str, Any] = {}
        if args.limit:
            analytics["platforms"] = {n: {"limit": args.limit} for n in PLATFORMS}
        settings = Settings(
            data_dir=tmp / "data",
            sandbox_url=host.base_url,
            database_url=dsn,
            plugins=plugin_settings(PLATFORMS),
            analytics=analytics,
        )
        registry = load_plugins(settings.plugins)
        start = datetime.now(UTC)
        print(f"publishing and copying {args.posts} posts ...", flush=True)
        total = await seed(pool, settings, registry, host, args.posts, start - timedelta(hours=1))
        result = await collect(
            args, pool, settings, registry, host, SandboxControl(host.base_url), total, start
        )
        return report(args, total, result, host)
    finally:
        await pool.close()
        sandbox.stop()
        await asyncio.to_thread(
            subprocess.run, [CLI, "db", "down"], env=env, capture_output=True, check=False
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--step", type=float, default=5.0, help="simulated minutes between runs")
    parser.add_argument("--limit", type=int, help="analytics calls per window, every platform")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pellacia-analytics-"))
    tmp.chmod(0o755)  # reachable by the database's service user
    try:
        ok = asyncio.run(main_async(args, tmp))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

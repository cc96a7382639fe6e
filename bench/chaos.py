"""Chaos run: many posts to the TikTok and YouTube fakes while workers are
SIGKILLed and about a tenth of the requests fail, then an audit.

    python bench/chaos.py                          # 300 posts x (TikTok + YouTube)
    python bench/chaos.py --posts 60 --accounts 4  # a quick run

What it does (everything local: a private PostgreSQL cluster and the sandbox
on 127.0.0.1, in a temporary directory):

1. starts the embedded PostgreSQL (``db up``) and the sandbox (TikTok and
   YouTube fakes, in this process) with probabilistic fault rules on every
   platform: 5xx, 429, connection resets mid-body, lost answers, delays;
2. signs ``--accounts`` accounts in on each platform and submits ``--posts``
   posts through the product's own ``create_post`` (each post to one account
   of each platform, round robin), every video ``--size`` bytes so uploads
   take several chunks;
3. runs ``--workers`` ``pellacia-dist worker`` processes and SIGKILLs one at
   random every ``--kill-every`` seconds on average (it is restarted at once),
   until every delivery is final or ``--max-minutes`` pass;
4. audits the outcome against what the fakes hold: duplicates (two posts for
   one delivery), false successes (published here, absent there), deliveries
   lost or stuck, manual entries whose post is already up (and whether their
   package says so with the remote id), attempts left without an outcome,
   TikTok init answers of 429.

Exit status 0 when no post is doubled or lost and no delivery claims a
success the platform does not show.
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import asyncio
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
PLATFORMS = ("tiktok", "youtube")
#: (kind, share of the fault rate, extra fields of the rule)
FAULT_MIX: tuple[tuple[str, float, dict[str, Any]], ...] = (
    ("server_error", 0.30, {}),
    ("reset", 0.20, {"after_bytes": 65536}),
    ("lose_response", 0.20, {}),
    ("rate_limit", 0.15, {"retry_after": 2}),
    ("delay", 0.15, {"seconds": 1.0}),
)


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text[-1].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


@dataclass
class Run:
    """Everything the run needs to know and what it counted."""

    args: argparse.Namespace
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    dsn: str = ""
    kills: int = 0
    started: float = 0.0
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)


# ------------------------------------------------------------------ set-up


def cli(run: Run, *argv: str) -> str:
    done = subprocess.run(
        [CLI, *argv], env=run.env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"pellacia-dist {' '.join(argv)} failed:\n{done.stderr}")
    return done.stdout


def write_config(run: Run) -> Path:
    accounts = "".join(
        f'[[accounts.{p}]]\nname = "a{i}"\n' for p in PLATFORMS for i in range(run.args.accounts)
    )
    config = run.tmp / "config.toml"
    config.write_text(
        f"""lease_seconds = {run.args.lease}

[spacing]
min_interval = 0
jitter = 0

[plugins.tiktok]
status_poll_interval = 1
daily_post_cap = 1000000

[plugins.youtube]
processing_poll_interval = 0.5
daily_units = 100000000

{accounts}"""
    )
    return config


def start_sandbox(run: Run) -> Any:
    from pellacia_sandbox import host as host_module
    from pellacia_sandbox.faults import FaultTable
    from pellacia_sandbox.thread import ThreadedSandbox

    host_module.MAX_LOGGED_REQUESTS = 10**7  # the audit reads every request
    sandbox = ThreadedSandbox(port=0, only=set(PLATFORMS))
    host = sandbox.start()
    host.faults = FaultTable(random.Random(run.args.seed))
    host.fake("tiktok").config["daily_post_cap"] = 10**6
    host.fake("youtube").config.daily_units = 10**9
    for platform in PLATFORMS:
        for kind, share, extra in FAULT_MIX:
            host.faults.add(
                {
                    "platform": platform,
                    "kind": kind,
                    "times": None,
                    "probability": run.args.fault_rate * share,
                    **extra,
                }
            )
    return sandbox


async def sign_in_accounts(run: Run, host: Any, pool: Any) -> None:
    """Tokens for every account straight from the fakes, sealed in the vault."""
    from pellacia.contract import TokenSet
    from pellacia.vault import open_vault

    vault = open_vault(run.tmp / "data", None)
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        for platform in PLATFORMS:
            for i in range(run.args.accounts):
                body = host.fake(platform).issue_token(account=f"a{i}")
                data = body.get("data", body)  # TikTok wraps nothing; be lenient
                tokens = TokenSet(
                    access_token=data["access_token"],
                    refresh_token=data.get("refresh_token"),
                    expires_at=now + timedelta(seconds=int(data.get("expires_in", 3600))),
                    extra={"open_id": data["open_id"]} if data.get("open_id") else {},
                )
                await vault.put(conn, platform, f"a{i}", tokens)


async def submit_posts(run: Run, pool: Any, clip: Path) -> None:
    from pellacia.config import AccountSettings, load_settings
    from pellacia.delivery.service import create_post
    from pellacia.plugins import get_registry

    settings = load_settings(run.tmp / "config.toml")
    registry = get_registry(settings.plugins)
    for i in range(run.args.posts):
        account = AccountSettings(name=f"a{i % run.args.accounts}")
        one_account = settings.model_copy(
            update={
                "accounts": {p: [account] for p in PLATFORMS},
                "sandbox_url": run.env["PELLACIA_SANDBOX_URL"],
            }
        )
        await create_post(
            pool,
            registry,
            one_account,
            file=clip,
            platforms=",".join(PLATFORMS),
            title=f"chaos {i:04d}",
            description=f"chaos run post {i}",
            test=True,
        )


# ---------------------------------------------------------------- the run


def start_worker(run: Run) -> subprocess.Popen[bytes]:
    log = open(run.tmp / f"worker-{len(run.workers) + run.kills}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [CLI, "worker", "--concurrency", str(run.args.concurrency)],
        env=run.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def counts(pool: Any) -> dict[str, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


FINAL = {"published", "failed", "manual", "cancelled"}


async def chaos(run: Run, pool: Any) -> dict[str, int]:
    """Workers run and get killed until every delivery is final (or time is up)."""
    rng = random.Random(run.args.seed)
    run.workers = [start_worker(run) for _ in range(run.args.workers)]
    deadline = time.monotonic() + run.args.max_minutes * 60
    next_kill = time.monotonic() + rng.expovariate(1 / run.args.kill_every)
    last_print = 0.0
    try:
        while time.monotonic() < deadline:
            state = await counts(pool)
            if set(state) <= FINAL:
                return state
            if time.monotonic() - last_print >= 10:
                last_print = time.monotonic()
                elapsed = time.monotonic() - run.started
                print(f"  {elapsed:6.0f}s  kills {run.kills:4d}  {json.dumps(state)}", flush=True)
            if time.monotonic() >= next_kill:
                victim = rng.randrange(len(run.workers))
                run.workers[victim].send_signal(signal.SIGKILL)
                run.workers[victim].wait()
                run.kills += 1
                run.workers[victim] = start_worker(run)
                next_kill = time.monotonic() + rng.expovariate(1 / run.args.kill_every)
            await asyncio.sleep(0.2)
        return await counts(pool)
    finally:
        for worker in run.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in run.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


# ------------------------------------------------------------------- audit


def platform_posts(host: Any) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(platform, title) -> the posts the fake holds with that title."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for platform in PLATFORMS:
        for post in host.state(platform)["posts"]:
            title = str(post.get("title") or post.get("caption") or "")
            found[(platform, title.split("\n")[0])].append(post)
    return found


def package_says_already_up(package: str | None, remote_ids: list[str]) -> bool:
    if not package:
        return False
    path = Path(package) / "INSTRUCTIONS.md"
    text = path.read_text() if path.is_file() else ""
    lowered = text.lower()
    return "already" in lowered and any(rid and rid in text for rid in remote_ids)


async def audit(run: Run, pool: Any, host: Any) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT d.id, d.platform, d.account, d.state, d.remote_id, d.manual_package,"
            " d.outcome_unknown, d.last_error, p.title FROM deliveries d"
            " JOIN posts p ON p.id = d.post_id"
        )
        open_attempts = await conn.fetchval(
            "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE a.outcome IS NULL AND d.state IN ('published', 'failed', 'manual', 'cancelled')"
        )
        attempts = await conn.fetchval("SELECT count(*) FROM delivery_attempts")
    posts = platform_posts(host)
    report: dict[str, Any] = {
        "deliveries": len(rows),
        "states": dict(collections.Counter(r["state"] for r in rows)),
        "doubled": [],
        "false_success": [],
        "not_final": [],
        "manual_already_up": [],
        "manual_already_up_unflagged": [],
        "manual_reasons": collections.Counter(),
    }
    for r in rows:
        mine = [
            p
            for p in posts.get((r["platform"], r["title"]), [])
            if p.get("account") == r["account"]
        ]
        ident = f"{r['platform']}/{r['account']} {r['title']} ({str(r['id'])[:8]})"
        if len(mine) > 1:
            report["doubled"].append(ident)
        if r["state"] == "published" and not mine:
            report["false_success"].append(ident)
        if r["state"] not in FINAL:
            report["not_final"].append(f"{ident}: {r['state']}")
        if r["state"] == "manual":
            report["manual_reasons"][(r["last_error"] or "")[:90]] += 1
            if mine:
                report["manual_already_up"].append(ident)
                ids = [str(p.get("id")) for p in mine] + [str(p.get("publish_id")) for p in mine]
                if not package_says_already_up(r["manual_package"], ids):
                    report["manual_already_up_unflagged"].append(ident)
    requests = {p: host.fakes[p].requests for p in PLATFORMS}
    report["requests"] = {p: len(reqs) for p, reqs in requests.items()}
    report["faulted"] = {p: sum(1 for q in reqs if q["fault"]) for p, reqs in requests.items()}
    report["tiktok_init_429"] = sum(
        1
        for q in requests["tiktok"]
        if "/video/init" in q["path"] and q["status"] == 429 and q["fault"] is None
    )
    report["attempts"] = attempts
    report["attempts_without_outcome"] = open_attempts
    return report


def print_report(run: Run, report: dict[str, Any], elapsed: float) -> bool:
    total_requests = sum(report["requests"].values())
    faulted = sum(report["faulted"].values())
    manual = report["states"].get("manual", 0)
    print()
    print(
        f"posts {run.args.posts} x {len(PLATFORMS)} platforms = {report['deliveries']} deliveries"
    )
    print(f"elapsed {elapsed:.0f} s, workers {run.args.workers}, SIGKILLs {run.kills}")
    print(
        f"requests {total_requests}, faulted {faulted} "
        f"({100 * faulted / max(1, total_requests):.1f} %)"
    )
    print(f"states: {json.dumps(report['states'])}")
    rows = [
        ("doubled (two posts for one delivery)", len(report["doubled"])),
        ("false success (published, absent on the platform)", len(report["false_success"])),
        ("not final at the end (lost or stuck)", len(report["not_final"])),
        (f"manual ({100 * manual / max(1, report['deliveries']):.2f} % of deliveries)", manual),
        ("manual whose post is already up", len(report["manual_already_up"])),
        (
            "  ... whose package does not say so with the id",
            len(report["manual_already_up_unflagged"]),
        ),
        (
            "attempts without an outcome (of all attempts)",
            f"{report['attempts_without_outcome']} / {report['attempts']}",
        ),
        ("TikTok init answered 429 (not injected)", report["tiktok_init_429"]),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    for key in ("doubled", "false_success", "not_final", "manual_already_up_unflagged"):
        for line in report[key][:10]:
            print(f"  {key}: {line}")
    for reason, n in report["manual_reasons"].most_common(8):
        print(f"  manual x{n}: {reason}")
    return not (report["doubled"] or report["false_success"] or report["not_final"])


async def main_async(run: Run) -> bool:
    from pellacia.store.pool import create_pool
    from pellacia.testing.videos import make_large, make_video

    run.env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    run.env.update(
        PELLACIA_DATA_DIR=str(run.tmp / "data"),
        PELLACIA_CONFIG=str(write_config(run)),
        PELLACIA_LOG_LEVEL="warning",
    )
    cli(run, "db", "up")
    run.dsn = cli(run, "db", "url").strip()
    run.env["PELLACIA_DATABASE_URL"] = run.dsn
    cli(run, "db", "migrate")
    sandbox = start_sandbox(run)
    host = sandbox.host
    run.env["PELLACIA_SANDBOX_URL"] = host.base_url
    pool = await create_pool(run.dsn)
    try:
        await sign_in_accounts(run, host, pool)
        seed = make_video(run.tmp / "seed.mp4", seconds=1.0, width=720, height=1280)
        clip = make_large(seed, run.tmp / "clip.mp4", run.args.size)
        print(f"submitting {run.args.posts} posts ({run.args.size} bytes each) ...", flush=True)
        await submit_posts(run, pool, clip)
        run.started = time.monotonic()
        await chaos(run, pool)
        elapsed = time.monotonic() - run.started
        return print_report(run, await audit(run, pool, host), elapsed)
    finally:
        await pool.close()
        sandbox.stop()
        await asyncio.to_thread(
            subprocess.run, [CLI, "db", "down"], env=run.env, capture_output=True, check=False
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--accounts", type=int, default=10, help="accounts per platform")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="deliveries per worker")
    parser.add_argument("--size", type=parse_size, default=parse_size("24M"))
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between kills")
    parser.add_argument("--lease", type=float, default=5.0, help="lease seconds")
    parser.add_argument("--max-minutes", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pellacia-chaos-"))
    # reachable by the database's service user, so the cluster lives (and dies) in here
    tmp.chmod(0o755)
    run = Run(args=args, tmp=tmp)
    try:
        ok = asyncio.run(main_async(run))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

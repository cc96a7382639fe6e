"""End-to-end latency: a breaking post of 50 MB, submitted with ``pellacia-dist
upload``, until it is published on all six sandbox platforms by an idle worker.

    python bench/latency.py                       # 50 MB, breaking, then normal
    python bench/latency.py --size 10M --rounds 3 # smaller, three rounds each

What it does (everything local: a private PostgreSQL cluster and the sandbox
on 127.0.0.1, in a temporary directory):

1. starts the embedded PostgreSQL (``db up``), ``sandbox up`` with the six
   platform fakes (in its own process, as a user runs it) and signs every
   platform in with ``auth login`` (the plugins' own OAuth flows);
2. starts one ``pellacia-dist worker`` with its default settings and waits
   until it is idle;
3. per round: times ``pellacia-dist upload --platforms all --priority breaking
   --test`` (no ``--wait``: the running worker does the work) from the moment
   the command starts until each delivery is published, reading the database
   every 10 ms; then the same post at the normal priority;
4. baseline, same run, same sandbox: one raw streaming PUT of the file to the
   fake's ``/youtube/_bench/sink`` (what moving the bytes costs alone), and six
   such PUTs at once (the six uploads' floor).

Per round it prints each platform's time to published (and when its upload was
claimed and finished, from the delivery events), the total, and the baseline.
Goal: total < 5 s for the breaking post.
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
SIX = ("tiktok", "youtube", "instagram", "facebook", "twitter", "linkedin")
#: `auth login` names: Meta's one sign-in serves Instagram and Facebook
LOGINS = ("meta", "linkedin", "tiktok", "twitter", "youtube")
FINAL = {"published", "failed", "manual", "cancelled"}
GOAL_S = 5.0
MiB = 1024 * 1024


def parse_size(text: str) -> int:
    units = {"K": 1000, "M": 1000**2, "G": 1000**3}
    if text[-1].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


@dataclass
class Round:
    """One post's figures: seconds from submit, per platform."""

    priority: str
    submit_s: float = 0.0
    published: dict[str, float] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    #: per platform: seconds from submit to claimed / uploaded (from the events)
    claimed: dict[str, float] = field(default_factory=dict)
    uploaded: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return max(self.published.values(), default=float("nan"))


# ------------------------------------------------------------------ set-up


def cli(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [CLI, *argv], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"pellacia-dist {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextmanager
def sandbox_up(env: dict[str, str]) -> Iterator[str]:
    argv = [CLI, "sandbox", "up", "--port", "0"]
    for platform in SIX:
        argv += ["--only", platform]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("sandbox listening on "):
                break
        else:
            raise SystemExit(f"the sandbox did not start (exit {proc.wait()})")
        # keep reading its output so the pipe never fills
        threaded_drain(proc)
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def threaded_drain(proc: subprocess.Popen[str]) -> None:
    import threading

    def drain() -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            pass

    threading.Thread(target=drain, daemon=True).start()


@contextmanager
def worker_running(env: dict[str, str], log: Path, concurrency: int | None) -> Iterator[None]:
    """One ``pellacia-dist worker``, returned once it is idle (it said so)."""
    argv = [CLI, "worker"] + (["--concurrency", str(concurrency)] if concurrency else [])
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "worker started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text()}")
            time.sleep(0.05)
        time.sleep(0.5)  # past its first claim: idle, waiting for a wake-up
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ------------------------------------------------------------- measuring


async def one_post(env: dict[str, str], dsn: str, clip: Path, priority: str, title: str) -> Round:
    """Submit with the CLI and watch the deliveries until every one is final."""
    from pellacia.store.pool import connect_one

    result = Round(priority)
    conn = await connect_one(dsn)
    try:
        start = time.monotonic()
        started_at = await conn.fetchval("SELECT clock_timestamp()")
        upload = await asyncio.create_subprocess_exec(
            CLI, "upload", "--platforms", "all", "--file", str(clip), "--title", title,
            "--priority", priority, "--test", "--allow-duplicate",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        waited = asyncio.ensure_future(upload.communicate())
        deadline = start + 300
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT d.platform, d.state FROM deliveries d JOIN posts p ON p.id = d.post_id"
                " WHERE p.title = $1",
                title,
            )
            now = time.monotonic() - start
            for r in rows:
                if r["state"] in FINAL and r["platform"] not in result.states:
                    result.states[r["platform"]] = r["state"]
                    result.published[r["platform"]] = now
            if waited.done() and not result.submit_s:
                result.submit_s = now
                out, err = waited.result()
                if upload.returncode != 0:
                    raise SystemExit(f"upload failed:\n{out.decode()}{err.decode()}")
            if len(result.states) == len(SIX) and waited.done():
                break
            await asyncio.sleep(0.01)
        events = await conn.fetch(
            "SELECT d.platform, e.payload->>'to' AS to_state,"
            " extract(epoch FROM e.created_at - $2::timestamptz) AS at"
            " FROM events e JOIN deliveries d ON d.id = e.delivery_id"
            " JOIN posts p ON p.id = d.post_id"
            " WHERE p.title = $1 AND e.kind = 'delivery.state' ORDER BY e.id",
            title,
            started_at,
        )
    finally:
        await conn.close()
    for e in events:
        if e["to_state"] == "claimed":
            result.claimed.setdefault(e["platform"], float(e["at"]))
        if e["to_state"] in ("uploaded", "publishing"):
            result.uploaded.setdefault(e["platform"], float(e["at"]))
    return result


async def raw_puts(base: str, clip: Path, size: int, count: int) -> float:
    """Seconds for ``count`` simultaneous streaming PUTs of the file to the sink."""
    from pellacia.http import client_session

    async def body() -> AsyncIterator[bytes]:
        with clip.open("rb") as f:
            while piece := await asyncio.to_thread(f.read, MiB):
                yield piece

    async def put(http: Any) -> None:
        async with http.put(
            f"{base}/youtube/_bench/sink",
            data=body(),
            headers={"Content-Length": str(size), "Content-Type": "video/mp4"},
        ) as resp:
            got = await resp.json()
        if got["bytes"] != size:
            raise SystemExit(f"sink received {got['bytes']} of {size} bytes")

    async with client_session() as http:
        await put(http)  # warm-up: connections, imports, page cache
        start = time.monotonic()
        await asyncio.gather(*(put(http) for _ in range(count)))
        return time.monotonic() - start


# ----------------------------------------------------------------- report


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:6.2f}"


def print_round(r: Round) -> None:
    print(f"\n{r.priority} post: upload command returned after {r.submit_s:.2f} s")
    print(f"  {'platform':<10} {'claimed':>7} {'uploaded':>8} {'final':>7}  state")
    for p in sorted(SIX, key=lambda p: r.published.get(p, 1e9)):
        print(
            f"  {p:<10} {fmt(r.claimed.get(p))} {fmt(r.uploaded.get(p)):>8} "
            f"{fmt(r.published.get(p))}  {r.states.get(p, 'not final')}"
        )
    print(f"  {'total':<10} {'':>7} {'':>8} {fmt(r.total)}")


async def main_async(args: argparse.Namespace, tmp: Path) -> bool:
    from pellacia.testing.videos import make_large, make_video

    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    config = tmp / "config.toml"
    # two posts of the same accounts follow each other: no spacing between them
    config.write_text("[spacing]\nmin_interval = 0\njitter = 0\n")
    env.update(
        PELLACIA_DATA_DIR=str(tmp / "data"),
        PELLACIA_CONFIG=str(config),
        NO_COLOR="1",
    )
    cli(env, "db", "up")
    try:
        dsn = cli(env, "db", "url").strip()
        env["PELLACIA_DATABASE_URL"] = dsn
        cli(env, "db", "migrate")
        with sandbox_up(env) as url:
            env["PELLACIA_SANDBOX_URL"] = url
            for name in LOGINS:
                cli(env, "auth", "login", name)
            seed = make_video(tmp / "seed.mp4", seconds=5.0, width=720, height=1280, fps=30)
            clip = make_large(seed, tmp / "clip.mp4", args.size)
            clip.read_bytes()  # into the page cache: every run starts alike
            rounds: list[Round] = []
            with worker_running(env, tmp / "worker.log", args.concurrency):
                for i in range(args.rounds):
                    for priority in ("breaking", "normal"):
                        title = f"latency {priority} {i}"
                        rounds.append(await one_post(env, dsn, clip, priority, title))
                        print_round(rounds[-1])
            one = await raw_puts(url, clip, args.size, 1)
            six = await raw_puts(url, clip, args.size, len(SIX))
    finally:
        await asyncio.to_thread(
            subprocess.run, [CLI, "db", "down"], env=env, capture_output=True, check=False
        )
    size_mb = args.size / 1e6
    print(
        f"\nbaseline (same sandbox): raw PUT of {size_mb:.0f} MB {one:.2f} s, six at once {six:.2f} s"
    )
    ok = True
    for priority in ("breaking", "normal"):
        mine = [r for r in rounds if r.priority == priority]
        totals = [r.total for r in mine]
        median = statistics.median(totals)
        published = all(s == "published" for r in mine for s in r.states.values())
        line = f"{priority:<8} total to all six published: median {median:.2f} s"
        if len(totals) > 1:
            line += f" (of {', '.join(f'{t:.2f}' for t in totals)})"
        line += f"; {median / six:.1f}x six raw PUTs"
        if priority == "breaking":
            met = median < GOAL_S and published
            ok = ok and met
            line += f"; goal < {GOAL_S:.0f} s: " + ("met" if met else "MISSED")
        print(line)
    if args.keep:
        print(f"worker log: {tmp / 'worker.log'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("50M"))
    parser.add_argument("--rounds", type=int, default=1, help="posts of each priority")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="the worker's (default: its own)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pellacia-latency-"))
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

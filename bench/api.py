"""REST API benchmark: requests/s and p50/p99 latency of ``POST /v1/posts`` (an
idempotent replay: key lookup, no new post) and ``GET /v1/queue`` (the CLI's
``queue status`` queries), beside a bare FastAPI endpoint in the same run.

    pip install 'pellacia-dist[api]'
    python bench/api.py [--seconds 5] [--concurrency 16]

Each server is one uvicorn process (``pellacia-dist serve``, and a one-route
FastAPI app for the baseline); the load comes from this process (httpx, keep-alive,
``--concurrency`` requests in flight), on the same machine. Starts its own private
PostgreSQL cluster and removes it. Prints a table (not a test).
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

BARE_APP = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"ok": True}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(args: list[str], env: dict[str, str], url: str) -> Iterator[None]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _load(
    client: httpx.AsyncClient, method: str, path: str, seconds: float, concurrency: int, **kw: Any
) -> tuple[float, list[float], int]:
    """(requests/s, latencies in s, non-2xx count) of ``seconds`` of load."""
    latencies: list[float] = []
    bad = 0
    stop = time.perf_counter() + seconds

    async def one_client() -> None:
        nonlocal bad
        while time.perf_counter() < stop:
            started = time.perf_counter()
            answer = await client.request(method, path, **kw)
            latencies.append(time.perf_counter() - started)
            bad += not answer.is_success

    began = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - began), latencies, bad


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _prepare(dsn: str, folder: Path) -> tuple[str, dict[str, Any]]:
    """An admin key and a post body (the first create makes the post)."""
    from pellacia.api import keys
    from pellacia.store.migrate import migrate
    from pellacia.store.pool import connect_one
    from pellacia.testing.videos import make_video

    conn = await connect_one(dsn)
    try:
        await migrate(conn)
        key, _ = await keys.create(conn, "bench", "admin")
    finally:
        await conn.close()
    video = await asyncio.to_thread(make_video, folder / "clip.mp4", seconds=1.0)
    return key, {"path": str(video), "platforms": ["youtube"], "title": "Bench"}


async def main(args: argparse.Namespace) -> None:
    from pellacia.store.cluster import EmbeddedCluster

    base = Path(tempfile.mkdtemp(prefix="pellacia-bench-"))
    os.chmod(base, 0o755)
    cluster = EmbeddedCluster(base / "cluster", fast_unsafe=True)
    await asyncio.to_thread(cluster.start)
    try:
        dsn = cluster.dsn("postgres")
        (base / "in").mkdir()
        key, body = await _prepare(dsn, base / "in")
        api_port, bare_port = _port(), _port()
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "PELLACIA_DATA_DIR": str(base / "data"),
            "PELLACIA_CONFIG": str(base / "none.toml"),
            "PELLACIA_API__ALLOWED_ROOTS": f'["{base / "in"}"]',
            "PELLACIA_API__RATE_PER_MINUTE": "100000000",
            "PELLACIA_API__RATE_BURST": "1000000",
            "PELLACIA_LOG_LEVEL": "warning",
        }
        env.pop("PELLACIA_DATABASE_URL", None)
        entry = "from pellacia.cli.main import main; main()"
        serve = [sys.executable, "-c", entry, "serve", "--port", str(api_port)]
        bare = [sys.executable, "-c", BARE_APP, str(bare_port)]
        rows = []
        headers = {"X-API-Key": key, "Idempotency-Key": "bench-1"}
        with (
            _server(serve, env, f"http://127.0.0.1:{api_port}/healthz"),
            _server(bare, env, f"http://127.0.0.1:{bare_port}/bare"),
        ):
            limits = httpx.Limits(max_connections=args.concurrency)
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", limits=limits) as api,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{bare_port}", limits=limits) as b,
            ):
                first = await api.post("/v1/posts", json=body, headers=headers, timeout=60)
                first.raise_for_status()
                cases = [
                    ("bare FastAPI GET /bare", b, "GET", "/bare", {}),
                    ("GET /v1/queue", api, "GET", "/v1/queue", {"headers": headers}),
                    (
                        "POST /v1/posts (idempotent replay)",
                        api,
                        "POST",
                        "/v1/posts",
                        {"headers": headers, "json": body},
                    ),
                ]
                for label, client, method, path, kw in cases:
                    await _load(client, method, path, 1.0, args.concurrency, **kw)  # warm up
                    rate, lat, bad = await _load(
                        client, method, path, args.seconds, args.concurrency, **kw
                    )
                    rows.append(
                        (
                            label,
                            f"{rate:,.0f}/s",
                            f"{pct(lat, 0.5):.1f} ms",
                            f"{pct(lat, 0.99):.1f} ms",
                            str(bad),
                        )
                    )
        header = ("", "requests/s", "p50", "p99", "non-2xx")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        print(
            f"{os.cpu_count()} CPUs, one uvicorn process per server, {args.concurrency} "
            f"requests in flight, {args.seconds:.0f} s each, PostgreSQL {cluster.server_version()}"
        )
        for r in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
    finally:
        await asyncio.to_thread(cluster.stop)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))

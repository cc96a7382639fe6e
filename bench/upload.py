"""Upload streaming benchmark: pellacia-dist plugins against a raw aiohttp PUT.

    python bench/upload.py                 # 2 GiB file
    python bench/upload.py --size 256M     # quick run

Writes a test file (a repeated 8 MiB random block: the fakes do not look
inside), starts the sandbox in a subprocess (so the server's CPU and memory
stay out of the client's figures), then in the same run measures:

- raw: one streaming aiohttp PUT of the whole file to the YouTube fake's
  ``/_bench/sink`` (which reads, hashes and counts the body like the upload
  endpoint does), the best a client can do on this machine;
- youtube: ``upload()`` of pellacia-dist-youtube (resumable, 8 MiB chunks);
- tiktok: ``upload()`` of pellacia-dist-tiktok, when installed and working.

For each: MiB/s, ratio to raw, and the peak RSS growth of this (client)
process, sampled every 5 ms in a thread. Goals: >= 0.9x raw, < 64 MiB RSS.
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import asyncio
import gc
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

MiB = 1024 * 1024
BLOCK = 8 * MiB

SERVER = r"""
import asyncio, sys
from pellacia_sandbox.host import SandboxHost

async def main():
    async with SandboxHost(only=sys.argv[1:]) as host:
        # keep per-byte server work to reading and counting, for every run alike
        host.fake("youtube").configure(hash_bytes=False)
        print(host.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def parse_size(text: str) -> int:
    """``2G``, ``256M``, ``512K`` or a byte count."""
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def make_file(path: Path, size: int) -> None:
    block = os.urandom(BLOCK)
    with path.open("wb") as f:
        left = size
        while left > 0:
            n = min(left, BLOCK)
            f.write(block[:n])
            left -= n


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(BLOCK):
            h.update(piece)
    return h.hexdigest()


class RssSampler:
    """Peak RSS of this process while the ``with`` block runs."""

    def __init__(self, interval: float = 0.005) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        gc.collect()
        self.start = self.peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


@dataclass
class Result:
    name: str
    seconds: float | None = None
    rss_growth: int | None = None
    note: str = ""


def media_info(path: Path, size: int) -> Any:
    from pellacia.contract import MediaInfo

    # The file is not a real video (the fakes do not decode): describe a plausible one.
    return MediaInfo(
        path=path,
        size=size,
        container="mp4",
        duration=120.0,
        width=1080,
        height=1920,
        video_codec="h264",
        audio_codec="aac",
        bitrate=None,
        fps=30.0,
    )


async def measure(name: str, run: Callable[[], Awaitable[str]]) -> Result:
    with RssSampler() as rss:
        t0 = time.perf_counter()
        try:
            note = await run()
        except Exception as exc:  # a plugin that fails is reported, not fatal
            return Result(name, note=f"failed: {type(exc).__name__}: {str(exc)[:120]}")
        seconds = time.perf_counter() - t0
    return Result(name, seconds, rss.growth, note)


async def raw_put(base: str, path: Path, size: int) -> str:
    """One PUT of the whole file, streamed from disk in 1 MiB reads."""
    from pellacia.http import client_session

    async def body() -> AsyncIterator[bytes]:
        with path.open("rb") as f:
            while piece := await asyncio.to_thread(f.read, MiB):
                yield piece

    async with (
        client_session() as http,
        http.put(
            f"{base}/youtube/_bench/sink",
            data=body(),
            headers={"Content-Length": str(size), "Content-Type": "video/mp4"},
        ) as resp,
    ):
        got = await resp.json()
    if got["bytes"] != size:
        raise RuntimeError(f"sink received {got['bytes']} of {size} bytes")
    return ""


async def plugin_upload(
    base: str, platform_name: str, path: Path, size: int, chunk: int | None
) -> str:
    from pellacia.plugins import get_registry
    from pellacia.testing.context import open_platform_context
    from pellacia.testing.sessions import MemoryUploadSession
    from pellacia_sandbox.control import SandboxControl

    platform = get_registry().platform(platform_name)
    settings: dict[str, Any] = {"processing_poll_interval": 0.01}
    if chunk:
        settings["chunk_size"] = chunk
    from pellacia.contract import PublishRequest

    request = PublishRequest(
        delivery_id=f"bench-{platform_name}",
        idempotency_key=f"bench-{platform_name}-{time.time_ns()}",
        platform=platform_name,
        account="sandbox-account",
        video=media_info(path, size),
        title="Upload benchmark",
        description="pellacia-dist bench/upload.py",
    )
    async with open_platform_context(platform, base, settings=settings) as kit:
        session = MemoryUploadSession()
        receipt = await platform.upload(request, session, kit.ctx)
    async with SandboxControl(base) as control:
        state = await control.state(platform_name)
    posts = state.get("posts") or []
    uploads = state.get("uploads") or []
    received = sum(int(u.get("bytes_received", 0)) for u in uploads)
    note = f"{len(session.saved)} state saves"
    if posts and posts[-1].get("bytes") not in (None, size):
        raise RuntimeError(f"the fake stored {posts[-1].get('bytes')} of {size} bytes")
    if received and received != size:
        note += f"; fake received {received} bytes"
    return note + (f"; id {receipt.remote_id}" if receipt.remote_id else "")


def start_server(platforms: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, *platforms],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the sandbox did not start (said {line!r})")
    return proc, line


def stop_server(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def reset(base: str, platform: str) -> None:
    from pellacia_sandbox.control import SandboxControl

    async with SandboxControl(base) as control:
        await control.reset(platform)


async def run(args: argparse.Namespace) -> list[Result]:
    size = parse_size(args.size)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="pellacia-bench-"))
    path = workdir / "bench.mp4"
    t0 = time.perf_counter()
    make_file(path, size)
    print(f"wrote {size / MiB:,.0f} MiB test file in {time.perf_counter() - t0:.1f} s")
    sha256_file(path)  # warm the page cache so every run reads from memory alike
    proc, base = start_server(["youtube", "tiktok"])
    server = psutil.Process(proc.pid)
    results: list[Result] = []
    warm = workdir / "warm.bin"
    make_file(warm, 16 * MiB)
    try:
        # warm up imports, connections and the server before anything is timed
        await raw_put(base, warm, 16 * MiB)
        await plugin_upload(base, "youtube", warm, 16 * MiB, args.chunk_size)
        await reset(base, "youtube")
        for _ in range(args.repeat):
            results.append(await measure("raw aiohttp PUT", lambda: raw_put(base, path, size)))
            await reset(base, "youtube")
            results.append(
                await measure(
                    "pellacia youtube",
                    lambda: plugin_upload(base, "youtube", path, size, args.chunk_size),
                )
            )
            await reset(base, "youtube")
            if "tiktok" in args.skip:
                continue
            try:
                from pellacia.plugins import get_registry

                get_registry().platform("tiktok")
            except Exception as exc:
                results.append(Result("pellacia tiktok", note=f"skipped: {exc}"))
                continue
            results.append(
                await measure(
                    "pellacia tiktok", lambda: plugin_upload(base, "tiktok", path, size, None)
                )
            )
            await reset(base, "tiktok")
        server_rss = server.memory_info().rss
    finally:
        stop_server(proc)
        cleanup(workdir, [warm] if args.keep else [warm, path], remove_dir=not args.dir)
    print_table(results, size)
    print(f"sandbox server RSS at the end: {server_rss / MiB:.0f} MiB (separate process)")
    return results


def cleanup(workdir: Path, files: list[Path], *, remove_dir: bool) -> None:
    for f in files:
        f.unlink(missing_ok=True)
    if remove_dir and not any(workdir.iterdir()):
        workdir.rmdir()


def print_table(results: list[Result], size: int) -> None:
    """Each run, then the median of each kind (ratios against the median raw PUT)."""
    print()
    print(f"{'run':<26} {'MiB/s':>8} {'x raw':>7} {'RSS growth':>11}  note")
    print("-" * 78)
    raw = _median([r.seconds for r in results if r.name.startswith("raw") and r.seconds])
    for r in results:
        _row(r.name, r.seconds, raw, r.rss_growth, r.note, size)
    names = list(dict.fromkeys(r.name for r in results))
    if len(results) > len(names):
        print("-" * 78)
        for name in names:
            runs = [r for r in results if r.name == name]
            secs = [r.seconds for r in runs if r.seconds]
            growth = max((r.rss_growth or 0 for r in runs), default=0)
            note = runs[-1].note if not secs else f"median of {len(secs)}, max RSS growth"
            _row(f"{name} (median)", _median(secs), raw, growth, note, size)
    print(f"\nfile {size / MiB:,.0f} MiB; goals: >= 0.90x raw, RSS growth < 64 MiB")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _row(
    name: str,
    seconds: float | None,
    raw: float | None,
    growth: int | None,
    note: str,
    size: int,
) -> None:
    if seconds is None:
        print(f"{name:<26} {'-':>8} {'-':>7} {'-':>11}  {note}")
        return
    rate = size / MiB / seconds
    ratio = f"{raw / seconds:.2f}" if raw else "-"
    print(f"{name:<26} {rate:>8.1f} {ratio:>7} {(growth or 0) / MiB:>7.1f} MiB  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="2G", help="file size (2G, 256M, ...)")
    parser.add_argument("--chunk-size", type=parse_size, default=8 * MiB, help="YouTube chunk")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each upload")
    parser.add_argument("--skip", nargs="*", default=[], help="e.g. --skip tiktok")
    parser.add_argument("--dir", help="where to write the test file (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the test file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

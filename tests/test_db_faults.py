"""Database faults, as an operator meets them.

* PostgreSQL stopped under load (`pellacia-dist db down`, later `db up`) while a
  publish is in doubt: two `worker`s, `serve` and `watch` keep running, say they
  are not ready (``/readyz`` 503 with the reason, API calls 503, one log line each
  way, CLI commands one line), an event stream stays open, items dropped in the
  watched folder wait, and once it is back every delivery ends published exactly
  once at the fake (the one in doubt by reconcile), with no try left open.
* The data directory's disk full (a small tmpfs): an API upload is refused with
  507 and leaves neither a post nor a file, the worker still puts a delivery in
  the manual queue (saying why its package is missing), `manual export` fails
  with one line naming the folder, and no half package is left anywhere.
* PostgreSQL's own disk full: `upload` says so in one line and writes nothing;
  with room again the same server takes the post.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pellacia.testing.cli import CLI, cli_env
from pellacia.testing.videos import make_video
from pellacia_testplatform.fake import FakeTestPlatform

CHUNK = 16 * 1024
POSTS = 8
#: items dropped in the `watch` folder while the database is away
ITEMS = 2
#: how long PostgreSQL stays down after the processes said so (a few worker retries)
OUTAGE_SECONDS = 4.0
GONE, BACK = "database unavailable", "database back"
CUT = "cut short by the database outage"


@dataclass
class Proc:
    """A `pellacia-dist` subprocess with its stderr in a file."""

    proc: asyncio.subprocess.Process
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def count(self, event: str) -> int:
        return len(re.findall(re.escape(event), self.text()))

    def when(self, event: str) -> datetime:
        """The time stamp of the first log line with ``event``."""
        line = next(line for line in self.text().splitlines() if event in line)
        return datetime.fromisoformat(line.split()[0])


@dataclass
class World:
    data: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    async def cli(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            CLI,
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, f"{args}: {text}"
        return text

    async def start(self, name: str, *args: str) -> Proc:
        log = self.data.parent / f"{name}.log"
        handle = log.open("wb")
        proc = await asyncio.create_subprocess_exec(
            CLI, *args, env=self.env, stdout=handle, stderr=handle
        )
        handle.close()
        started = Proc(proc, log)
        self.procs.append(started)
        return started


@pytest.fixture
def base() -> Iterator[Path]:
    # under the system temp dir and world-traversable: a root-run test hands the
    # cluster folder to PostgreSQL's unprivileged user
    path = Path(tempfile.mkdtemp(prefix="pellacia-dbfaults-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def world(base: Path, testplatform: FakeTestPlatform) -> AsyncIterator[World]:
    data = base / "data"
    config = base / "config.toml"
    config.write_text(
        f'data_dir = "{data}"\n'
        "lease_seconds = 3\n"
        "[spacing]\nmin_interval = 0\njitter = 0\n"
        '[chains]\ntestplatform = ["api", "manual"]\n'
        "[plugins.testplatform]\n"
        f'base_url = "{testplatform.base_url}"\n'
        f'access_token = "tp-token-static"\nchunk_size = {CHUNK}\n'
        # the hung publish times out after `db down` has stopped the server
        "timeout = 4.0\n"
    )
    env = cli_env(PELLACIA_CONFIG=str(config), NO_COLOR="1")
    env.pop("DATABASE_URL", None)
    w = World(data, env)
    await w.cli("db", "up")  # the embedded cluster of this data directory only
    await w.cli("db", "migrate")
    try:
        yield w
    finally:
        for p in w.procs:
            if p.proc.returncode is None:
                p.proc.kill()
            await p.proc.wait()
            print(f"--- {p.log.name} (last lines)\n{p.text()[-3000:]}")  # shown on failure
        await w.cli("db", "down")


async def _until(what: str, check: Any, within: float = 30.0) -> float:
    """Poll ``check()`` (a subprocess's progress: nothing notifies us) until
    true; returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _serve_url(serve: Proc) -> str | None:
    found = re.search(r"running on (http://127\.0\.0\.1:\d+)", serve.text())
    return found.group(1) if found else None


@pytest.mark.slow
async def test_postgres_stopped_under_load(
    world: World, testplatform: FakeTestPlatform, base: Path
) -> None:
    dsn = (await world.cli("db", "url")).strip()
    video = make_video(base / "clip.mp4", seconds=1.0, width=160, height=120, noise=True)
    await _submit(dsn, testplatform, video, world.data)
    clips = [
        make_video(base / f"item{i}.mp4", seconds=1.0, width=128 + 16 * i, height=96, noise=True)
        for i in range(ITEMS)
    ]
    inbox = base / "inbox"
    inbox.mkdir()
    testplatform.chunk_delay = 0.02
    # the third publish is made at the fake but its answer never comes: the
    # worker finds out (timeout) while the database is away, so cannot record it
    testplatform.fail("hang-after", op="publish", after=2)
    serve = await world.start("serve", "serve", "--port", "0")
    await _until("serve to listen", lambda: _aval(_serve_url(serve) is not None))
    url = _serve_url(serve)
    assert url is not None
    # a dashboard follows the events through the whole outage on one connection
    made = await _run(world.env, "api-key", "create", "--name", "dash", "--scopes", "read")
    key = made.stdout.strip()
    streamed: list[str] = []
    stream = asyncio.create_task(_follow(f"{url}/v1/events/stream", key, streamed))
    await _until("the stream to open", lambda: _aval(streamed == ["open"]))
    workers = [await world.start(f"worker{i}", "worker") for i in (1, 2)]
    watch = await world.start("watch", "watch", str(inbox))
    await _until("watch to watch", lambda: _aval(watch.count("watching") == 1))
    procs = (*workers, serve, watch)
    pids = [p.proc.pid for p in procs]

    async with httpx.AsyncClient() as client:

        async def ready(code: int) -> bool:
            return (await client.get(f"{url}/readyz", timeout=10)).status_code == code

        await _until("serve to be ready", lambda: ready(200))
        await _until("the third publish", lambda: _aval(testplatform.posts_created >= 3))
        down_at, down_wall = time.monotonic(), datetime.now(UTC)
        await world.cli("db", "down")  # returns once PostgreSQL has stopped
        stop_took = time.monotonic() - down_at
        await _until("serve to say not ready", lambda: ready(503))
        reply = (await client.get(f"{url}/readyz", timeout=10)).json()
        assert reply["status"] == "unavailable", reply
        assert reply["checks"]["database"].startswith("unavailable: "), reply
        listing = await client.get(f"{url}/v1/posts", headers={"X-API-Key": "pk_x"}, timeout=10)
        assert listing.status_code == 503 and listing.headers["Retry-After"], listing.text
        # a command meanwhile: one line, exit 1 (DATABASE_URL: an embedded cluster
        # would be started by any command)
        status = await _run({**world.env, "DATABASE_URL": dsn}, "queue", "status")
        assert status.returncode == 1, status.stdout + status.stderr
        assert status.stderr.startswith("error: the database is unavailable: "), status.stderr
        assert len(status.stderr.splitlines()) == 1, status.stderr
        await _until(
            "each worker to say the database is gone",
            lambda: _aval(all(w.count(GONE) for w in workers)),
        )
        await _until("the run in doubt to end", lambda: _aval(any(w.count(CUT) for w in workers)))
        for i, clip in enumerate(clips):  # the production stage goes on meanwhile
            shutil.copy(clip, inbox / clip.name)
            (inbox / f"item{i}.json").write_text('{"platforms": ["testplatform"]}')
        await _until("watch to say the database is gone", lambda: _aval(watch.count(GONE) == 1))
        # the fault itself: the database stays away for a few more worker retries
        await asyncio.sleep(OUTAGE_SECONDS)
        assert all(p.proc.returncode is None for p in procs)
        up_at, up_wall = time.monotonic(), datetime.now(UTC)
        await world.cli("db", "up")  # returns once PostgreSQL accepts connections
        start_took = time.monotonic() - up_at
        await _until("serve to be ready again", lambda: ready(200))
        await _until(
            "each process to say the database is back",
            lambda: _aval(all(p.count(BACK) for p in procs)),
        )

        async def drained() -> bool:
            published = "SELECT count(*) FROM deliveries WHERE state = 'published'"
            return await _count(dsn, published) == POSTS + ITEMS

        try:
            await _until("every delivery published", drained, within=60)
            drain = time.monotonic() - up_at
        except TimeoutError:
            states = "SELECT state, state_reason, last_error, due_at, wait_reason FROM deliveries"
            print([dict(r) for r in await _rows(dsn, states)])
            raise
    noticed = {p.log.stem: (p.when(GONE) - down_wall).total_seconds() for p in procs}
    back = {p.log.stem: (p.when(BACK) - up_wall).total_seconds() for p in procs}

    # the same processes, each of which said "gone" and "back" once
    assert [p.proc.pid for p in procs] == pids
    assert all(p.proc.returncode is None for p in procs)
    for p in procs:
        assert (p.count(GONE), p.count(BACK)) == (1, 1), p.text()
        assert p.count("[warning") <= 3, p.text()  # no flood while it was down
    # nothing lost, nothing doubled, nothing left open
    for row in await _rows(dsn, "SELECT idempotency_key FROM deliveries"):
        assert len(testplatform.posts_for(row["idempotency_key"])) == 1, row
    assert testplatform.posts_created == POSTS + ITEMS
    # each item that came during the outage became one post once it was back
    assert await _count(dsn, "SELECT count(*) FROM posts") == POSTS + ITEMS
    assert sorted(p.name for p in (inbox / "accepted").iterdir()) == sorted(
        [c.name for c in clips] + [f"item{i}.json" for i in range(ITEMS)]
    )
    # the stream lived through it and carries every publish, once
    await _until(
        "the stream to carry every publish",
        lambda: _aval(streamed.count("delivery.published") >= POSTS + ITEMS or stream.done()),
    )
    assert not stream.done(), stream
    stream.cancel()
    assert streamed.count("delivery.published") == POSTS + ITEMS, streamed
    outcomes = {
        r["outcome"]: r["n"]
        for r in await _rows(dsn, "SELECT outcome, count(*) AS n FROM delivery_attempts GROUP BY 1")
    }
    assert outcomes.get(None) is None, outcomes
    # the try the outage cut short is closed by its worker once the database is
    # back ("database lost"), or by the other worker's lease sweep if sooner
    assert outcomes.get("database lost", 0) + outcomes.get("worker lost", 0) == 1, outcomes
    assert outcomes["published"] == POSTS + ITEMS, outcomes
    assert await _count(dsn, "SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL") == 0
    # the publish the outage hid was found at the fake, not made again
    by_reconcile = "SELECT count(*) FROM deliveries WHERE state_reason = 'reconcile'"
    assert await _count(dsn, by_reconcile) == 1
    print(
        f"\noutage {up_at - down_at:.1f}s (`db down` took {stop_took:.2f}s); said gone after "
        f"`db down` began: {_secs(noticed)}; said back after `db up` began (it took "
        f"{start_took:.2f}s): {_secs(back)}; "
        f"queue drained {drain:.2f}s after `db up` began; fake posts {testplatform.posts_created}/"
        f"{POSTS + ITEMS}; "
        f"attempts {outcomes}"
    )
    for p in procs:
        p.proc.send_signal(signal.SIGTERM)
        # uvicorn ends by re-raising the signal it handled
        assert await asyncio.wait_for(p.proc.wait(), 30) in (0, -signal.SIGTERM)


async def _follow(url: str, key: str, seen: list[str]) -> None:
    """Read an event stream into ``seen`` ("open", then each event type)."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", url, headers={"X-API-Key": key}) as reply,
    ):
        assert reply.status_code == 200, await reply.aread()
        seen.append("open")
        async for line in reply.aiter_lines():
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))


def _secs(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}s" for name, value in values.items())


async def _aval(value: bool) -> bool:
    return value


async def _rows(dsn: str, query: str) -> list[Any]:
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def _count(dsn: str, query: str) -> int:
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        n: int = await conn.fetchval(query)
        return n
    finally:
        await conn.close()


async def _submit(
    dsn: str, fake: FakeTestPlatform, video: Path, data: Path, count: int = POSTS
) -> list[str]:
    from pellacia.delivery.service import create_post
    from pellacia.plugins import load_plugins
    from pellacia.store.pool import create_pool
    from pellacia_testplatform.fixtures import settings_for

    pool = await create_pool(dsn, max_size=2)
    try:
        settings = settings_for(fake, data, plugin={"chunk_size": CHUNK})
        for i in range(count):
            await create_post(
                pool,
                load_plugins(),
                settings,
                file=video,
                platforms="testplatform",
                title=f"Outage {i}",
                allow_duplicate=True,
            )
        rows = await pool.fetch("SELECT idempotency_key FROM deliveries")
    finally:
        await pool.close()
    return [r["idempotency_key"] for r in rows]


# ------------------------------------------------------------------ full disk


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` on a small tmpfs of its own (root only, as in CI)."""
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/data`` on an 8 MB disk."""
    with _tmpfs(tmp_path / "data", "8M") as data:
        yield data


@pytest.fixture
def pg_disk(base: Path) -> Iterator[Path]:
    """A 64 MB disk for a PostgreSQL cluster of its own (just over what initdb needs)."""
    with _tmpfs(base / "pg", "64M") as disk:
        yield disk


def _fill(folder: Path) -> Path:
    """Write a file until the file system has no block left; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):  # ENOSPC: on to smaller writes
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def _files(folder: Path, *but: Path) -> list[Path]:
    """Every file and hidden entry under ``folder``, but ``but``."""
    return sorted(
        p for p in folder.rglob("*") if (p.is_file() or p.name.startswith(".")) and p not in but
    )


async def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [CLI, *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
async def test_full_data_directory(
    small_disk: Path, tmp_path: Path, pg_dsn: str, testplatform: FakeTestPlatform
) -> None:
    from pellacia.testing.api import api_settings, live_api
    from pellacia.vault import KEY_FILE_NAME, vault_for

    data = small_disk
    settings = api_settings(testplatform, tmp_path, pg_dsn)
    assert settings.data_dir == data
    clip = make_video(tmp_path / "in" / "clip.mp4", seconds=1.0, noise=True)
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{data}"\n'
        '[chains]\ntestplatform = ["manual"]\n'
        f'[plugins.testplatform]\nbase_url = "{testplatform.base_url}"\n'
    )
    env = cli_env(PELLACIA_CONFIG=str(config), DATABASE_URL=pg_dsn, NO_COLOR="1")
    [key] = await _submit(pg_dsn, testplatform, clip, data, count=1)
    vault_for(settings)  # the data directory was in use before it filled up: its key exists
    key_file = data / KEY_FILE_NAME
    filler = _fill(data)

    # the API: refused with 507, no post row, no file
    with live_api(settings) as api:
        async with httpx.AsyncClient(base_url=api.url, headers=api.headers("write")) as c:
            with clip.open("rb") as f:
                reply = await c.post(
                    "/v1/posts/upload",
                    files={"file": ("clip.mp4", f, "video/mp4")},
                    data={"metadata": '{"platforms": ["testplatform"]}'},
                    timeout=60,
                )
    assert reply.status_code == 507, reply.text
    assert "full" in reply.json()["detail"], reply.text
    assert await _count(pg_dsn, "SELECT count(*) FROM posts") == 1
    assert _files(data, filler, key_file) == []

    # the worker: the delivery is in the manual queue all the same, saying why
    # there is no package; the process ends normally
    worker = await _run(env, "worker", "--once")
    assert worker.returncode == 0, worker.stderr
    assert worker.stderr.count("manual package not written") == 1, worker.stderr
    [row] = await _rows(pg_dsn, "SELECT state, manual_package, last_error FROM deliveries")
    assert row["state"] == "manual" and row["manual_package"] is None, dict(row)
    assert f"no space left on device in {data / 'manual'}" in row["last_error"], dict(row)
    assert _files(data, filler, key_file) == []

    # `manual export`: one line naming the folder, exit 1, no half package
    [did] = await _rows(pg_dsn, "SELECT id FROM deliveries")
    export = await _run(env, "manual", "export", "--id", str(did["id"]))
    assert export.returncode == 1, export.stdout + export.stderr
    assert export.stderr == f"error: no space left on device in {data / 'manual'}\n"
    print(f"\ndata directory full, `manual export` says: {export.stderr.strip()}")
    assert _files(data, filler, key_file) == []

    # room again: the same command writes the whole package
    filler.unlink()
    export = await _run(env, "manual", "export", "--id", str(did["id"]))
    assert export.returncode == 0, export.stderr
    package = data / "manual" / str(did["id"])
    assert (package / "video.mp4").stat().st_size == clip.stat().st_size
    assert {p.name for p in package.iterdir()} >= {"metadata.json", "INSTRUCTIONS.md"}
    assert key in (package / "metadata.json").read_text()
    assert [p for p in (data / "manual").iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
async def test_full_database_disk(
    base: Path, pg_disk: Path, testplatform: FakeTestPlatform
) -> None:
    from pellacia.store.cluster import EmbeddedCluster
    from pellacia.store.pool import connect_one

    disk = pg_disk
    cluster = EmbeddedCluster(disk / "cluster", fast_unsafe=True)
    try:
        await asyncio.to_thread(cluster.start)
        conn = await connect_one(cluster.dsn("postgres"))
        try:
            await conn.execute('CREATE DATABASE "pellacia"')
        finally:
            await conn.close()
        dsn = cluster.dsn()
        config = base / "config.toml"
        config.write_text(
            f'data_dir = "{base / "data"}"\n'
            f'[plugins.testplatform]\nbase_url = "{testplatform.base_url}"\n'
        )
        env = cli_env(PELLACIA_CONFIG=str(config), DATABASE_URL=dsn, NO_COLOR="1")
        assert (await _run(env, "db", "migrate")).returncode == 0
        clip = make_video(base / "clip.mp4", seconds=1.0, noise=True)
        upload = ("upload", "--platform", "testplatform", "--file", str(clip))
        filler = _fill(disk)

        full = await _run(env, *upload)
        assert full.returncode == 1, full.stdout + full.stderr
        assert len(full.stderr.splitlines()) == 1, full.stderr
        assert "no space left on device" in full.stderr, full.stderr
        assert "PostgreSQL's data directory" in full.stderr, full.stderr
        print(f"\nPostgreSQL disk full, `upload` says: {full.stderr.strip()}")

        filler.unlink()  # room again: the same server takes the post, once
        done = await _run(env, *upload)
        assert done.returncode == 0, done.stdout + done.stderr
        assert await _count(dsn, "SELECT count(*) FROM posts") == 1
        assert await _count(dsn, "SELECT count(*) FROM deliveries") == 1
    finally:
        await asyncio.to_thread(cluster.stop)

"""Disaster recovery as an operator runs it: back up while a worker publishes,
lose the whole cluster, restore onto a fresh one with the exported vault key,
and the queue goes on — every post on the platform exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli
from pellacia.testing.cli import CLI, cli_env, fake_state, sandbox_up, sql, wait_for
from pellacia.testing.videos import make_video

POSTS = 8
#: no platform-side duplicate check here (X and LinkedIn refuse the same text twice)
PLATFORM = "facebook"
LOGIN = "meta"


def _run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


def _config(path: Path) -> Path:
    path.write_text(
        "lease_seconds = 3\n"
        # a post every 2 s on the account: the run outlasts the backup, however slow the
        # machine, so some posts go out after it and some are still queued at the loss
        "[spacing]\nmin_interval = 2\njitter = 0\n"
        f'[chains]\n{PLATFORM} = ["api", "manual"]\n'
    )
    return path


class Cluster:
    """One data directory with its embedded cluster, driven through the CLI."""

    def __init__(self, data_dir: Path, config: Path, sandbox: str) -> None:
        from pellacia.store.cluster import embedded_cluster

        self.data_dir = data_dir
        self.directory = embedded_cluster(data_dir).directory  # where `db up` puts it
        self.env = cli_env(
            PELLACIA_CONFIG=str(config),
            PELLACIA_DATA_DIR=str(data_dir),
            PELLACIA_SANDBOX_URL=sandbox,
        )

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(self.env, *args, ok=ok)

    def up(self) -> None:
        self.cli("db", "up")
        assert json.loads(self.cli("db", "status", "--json").stdout)["running"]
        self.dsn = self.cli("db", "url").stdout.strip()

    def destroy(self) -> None:
        """The machine is gone: the cluster stops, its files and the key file too."""
        from pellacia.store.cluster import EmbeddedCluster

        with contextlib.suppress(Exception):  # not started, or already stopped
            EmbeddedCluster(self.directory).stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def states(self) -> Counter[str]:
        return Counter(r["state"] for r in sql(self.dsn, "SELECT state FROM deliveries"))

    def worker(self, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                [CLI, "worker"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


async def _submit(cluster: Cluster, config: Path, sandbox: str, clip: Path) -> None:
    """The posts, written as `upload --test` writes them (one process, not eight)."""
    from pellacia.config import load_settings
    from pellacia.delivery.service import create_post
    from pellacia.plugins import load_plugins
    from pellacia.store.pool import create_pool

    settings = load_settings(config, data_dir=cluster.data_dir, sandbox_url=sandbox)
    pool = await create_pool(cluster.dsn, max_size=2)
    try:
        registry = load_plugins()
        for i in range(POSTS):
            await create_post(
                pool, registry, settings, file=clip, platforms=PLATFORM,
                title=f"Backup drill {i}", test=True,
            )  # fmt: skip
    finally:
        await pool.close()


@pytest.fixture
def sandbox() -> Iterator[str]:
    with sandbox_up("facebook", "instagram") as url:  # Meta's one sign-in serves both
        yield url


@pytest.mark.slow
def test_restore_on_a_fresh_cluster_continues_the_queue_nothing_lost_or_doubled(
    sandbox: str, tmp_path: Path
) -> None:
    config = _config(tmp_path / "config.toml")
    clip = make_video(tmp_path / "clip.mp4", seconds=3.0, width=540, height=960)  # a reel
    old = Cluster(tmp_path / "old", config, sandbox)
    new = Cluster(tmp_path / "new", config, sandbox)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        old.up()
        old.cli("auth", "login", LOGIN)
        asyncio.run(_submit(old, config, sandbox, clip))
        workers.append(old.worker(tmp_path / "worker-old.log"))
        wait_for(lambda: old.states()["published"] >= 2, "two posts out before the backup")

        dump = tmp_path / "backups" / "pellacia.dump"
        dump.parent.mkdir()
        backup = json.loads(old.cli("db", "backup", str(dump), "--json").stdout)
        published_then = old.states()["published"]  # at least what the snapshot holds
        key_file = tmp_path / "kept-apart" / "vault.key"
        key_file.parent.mkdir()
        exported = old.cli("vault", "export-key", str(key_file))
        assert dump.stat().st_mode & 0o777 == 0o600 and key_file.stat().st_mode & 0o777 == 0o600

        # a post goes out after the backup: the restored queue does not know it
        wait_for(
            lambda: len(fake_state(sandbox, PLATFORM)["posts"]) > published_then,
            "a post after the backup",
        )
        _stop(workers.pop())
        posted_before_loss = len(fake_state(sandbox, PLATFORM)["posts"])
        assert posted_before_loss < POSTS, "the drill needs posts still queued at the loss"
        old.destroy()

        new.cli("vault", "import-key", str(key_file))
        new.up()
        started = time.monotonic()
        restored = json.loads(new.cli("db", "restore", str(dump), "--json").stdout)
        restore_wall = time.monotonic() - started
        assert "0 migration(s) applied" in new.cli("db", "migrate").stdout
        assert restored["missing_key_ids"] == [] and restored["credentials"] >= 1
        in_backup = restored["deliveries"].get("published", 0)
        assert in_backup < posted_before_loss  # some posts are newer than the backup
        assert restored["to_reconcile"] == POSTS - in_backup

        workers.append(new.worker(tmp_path / "worker-new.log"))
        wait_for(lambda: new.states()["published"] == POSTS, "every post published", 60)
        _stop(workers.pop())

        posts = fake_state(sandbox, PLATFORM)["posts"]
        captions = Counter(p["title"] for p in posts)
        assert captions == Counter(f"Backup drill {i}" for i in range(POSTS)), captions
        remote = {r["remote_id"] for r in sql(new.dsn, "SELECT remote_id FROM deliveries")}
        assert remote == {p["id"] for p in posts}
        # the posts made after the backup were found on the platform, not made again
        found = sql(
            new.dsn,
            "SELECT count(*) AS n FROM events WHERE kind = 'delivery.state' "
            "AND payload->>'to' = 'published' AND payload->>'reason' = 'reconcile'",
        )[0]["n"]
        assert found >= posted_before_loss - in_backup
        for output in (exported.stdout, exported.stderr):
            assert key_file.read_text().splitlines()[-1] not in output
        print(
            f"\nbackup {backup['bytes']} B in {backup['seconds']} s; restore "
            f"{restored['seconds']} s ({restore_wall:.1f} s with the CLI); "
            f"{posted_before_loss - in_backup} post(s) newer than the backup reconciled"
        )
    finally:
        for proc in workers:
            proc.kill()
            proc.wait()
        for cluster in (old, new):
            cluster.destroy()


# ------------------------------------------------------------------ refusals


def _invoke(env: dict[str, str], *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, input=input)


def _invoke_while_connected(dsn: str, env: dict[str, str], *args: str) -> Any:
    """The command while another client (a worker, say) holds a connection."""
    from pellacia.store.pool import connect_one

    async def run() -> Any:
        conn = await connect_one(dsn)
        try:
            return await asyncio.to_thread(_invoke, env, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_backup_and_restore_refuse_to_overwrite_and_never_show_a_password(
    pg_dsn: str, tmp_path: Path
) -> None:
    env = {"PELLACIA_DATABASE_URL": pg_dsn, "PELLACIA_DATA_DIR": str(tmp_path)}
    dump = tmp_path / "a.dump"
    first = _invoke(env, "db", "backup", str(dump))
    assert first.exit_code == 0, first.output
    assert "backup written" in first.output and dump.stat().st_mode & 0o777 == 0o600
    again = _invoke(env, "db", "backup", str(dump))
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    forced = _invoke(env, "db", "backup", str(dump), "--force", "--json")
    assert forced.exit_code == 0 and json.loads(forced.output)["bytes"] == dump.stat().st_size

    # the database holds data (a credential): restoring over it needs --force
    assert _invoke(env, "auth", "set", "youtube", "--stdin", input="tok").exit_code == 0
    refused = _invoke(env, "db", "restore", str(dump))
    assert refused.exit_code == 1 and "holds data" in refused.output
    busy = _invoke_while_connected(pg_dsn, env, "db", "restore", str(dump))
    assert busy.exit_code == 1 and "other client(s) are connected" in busy.output
    replaced = _invoke(env, "db", "restore", str(dump), "--force", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.output)["credentials"] == 0  # the state of the backup
    not_ours = tmp_path / "notes.txt"
    not_ours.write_text("hello")
    bad = _invoke(env, "db", "restore", str(not_ours))
    assert bad.exit_code == 2 and "not a backup" in bad.output

    secret = "s3cr3t-pa55word"
    unreachable = {
        "PELLACIA_DATABASE_URL": f"postgresql://pellacia:{secret}@127.0.0.1:1/pellacia",
        "PELLACIA_DATA_DIR": str(tmp_path),
    }
    for args in (("db", "backup", str(tmp_path / "b.dump")), ("db", "restore", str(dump))):
        failed = _invoke(unreachable, *args)
        assert failed.exit_code == 1 and secret not in failed.output, failed.output
    assert not (tmp_path / "b.dump").exists()


def test_password_travels_outside_the_command_line() -> None:
    from pellacia.store.backup import target

    db = target("postgresql://app:p%40ss%3Aw@db.internal:5433/news?sslmode=require")
    assert "p@ss:w" not in db.conninfo and "p%40ss" not in db.conninfo
    assert db.conninfo == "postgresql://app@db.internal:5433/news?sslmode=require"
    assert db.env()["PGPASSWORD"] == "p@ss:w"
    assert "p@ss:w" not in db.scrub("FATAL: password p@ss:w refused") and "p@ss:w" not in repr(db)


async def _refresh_through(vault: Any, dsn: str) -> list[str]:
    """Read the stored token and write it back (a refresh), through ``vault``."""
    from pellacia.store.pool import connect_one

    conn = await connect_one(dsn)
    try:
        tokens = await vault.get(conn, "youtube", "default")
        await vault.put(conn, "youtube", "default", tokens)
        return [str(r["key_id"]) for r in await conn.fetch("SELECT key_id FROM credentials")]
    finally:
        await conn.close()


def test_vault_key_export_import_and_rotation(pg_dsn: str, tmp_path: Path) -> None:
    from pellacia.vault import load_keyring, open_vault

    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    env = {"PELLACIA_DATABASE_URL": pg_dsn, "PELLACIA_DATA_DIR": str(old_dir)}
    assert _invoke(env, "auth", "set", "youtube", "--stdin", input="tok").exit_code == 0
    key = load_keyring(old_dir, None).current

    export = tmp_path / "vault.key"
    done = _invoke(env, "vault", "export-key", str(export))
    assert done.exit_code == 0 and key.key_id in done.output and key.encoded() not in done.output
    assert export.stat().st_mode & 0o777 == 0o600
    refused = _invoke(env, "vault", "export-key", str(export))
    assert refused.exit_code == 2 and "exists" in refused.output

    # a new machine that already made a key of its own keeps it, after the imported one
    other = {**env, "PELLACIA_DATA_DIR": str(new_dir)}
    assert _invoke(other, "auth", "list").exit_code == 0  # creates its own key file
    own = load_keyring(new_dir, None).current
    imported = _invoke(other, "vault", "import-key", str(export))
    assert imported.exit_code == 0 and key.encoded() not in imported.output
    assert [k.key_id for k in load_keyring(new_dir, None).keys] == [key.key_id, own.key_id]
    listed = _invoke(other, "auth", "list", "--json")  # the credential opens here
    assert listed.exit_code == 0 and '"account": "default"' in listed.output

    running = open_vault(old_dir, None)  # a worker's, opened before the rotation
    rotated = _invoke(env, "vault", "rotate-key", "--json")
    assert rotated.exit_code == 0, rotated.output
    result = json.loads(rotated.output)
    assert result["resealed"] == 1 and result["old_key_ids"] == [key.key_id]
    saved = Path(result["old_keys_file"])
    assert saved.stat().st_mode & 0o777 == 0o600
    assert load_keyring(old_dir, None).current.key_id == result["key_id"] != key.key_id
    assert len(load_keyring(old_dir, None).keys) == 1
    assert key.encoded() in saved.read_text() and key.encoded() not in rotated.output
    stored = sql(pg_dsn, "SELECT key_id FROM credentials")
    assert [r["key_id"] for r in stored] == [result["key_id"]]
    # the running process follows the rotation: it opens the re-sealed row and
    # seals a refreshed token with the new key, never the retired one
    assert asyncio.run(_refresh_through(running, pg_dsn)) == [result["key_id"]]

    one_env_key = {**env, "PELLACIA_SECRET_KEY": key.encoded()}
    refused = _invoke(one_env_key, "vault", "rotate-key")
    assert refused.exit_code == 1 and "vault new-key" in refused.output
    assert key.encoded() not in refused.output
    fresh = tmp_path / "fresh.key"
    assert _invoke(env, "vault", "new-key", str(fresh)).exit_code == 0
    assert fresh.stat().st_mode & 0o777 == 0o600
    assert os.path.getsize(fresh) > 44


async def test_a_restored_delivery_is_looked_for_before_its_missing_video_fails_it(
    pg_dsn: str, testplatform: Any, tmp_path: Path
) -> None:
    """On a new machine without the videos, a delivery the backup saw queued but
    that went out after it is found on the platform (published), not failed over
    the missing file (which an operator would answer by submitting it again)."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.delivery.executor import DeliveryExecutor
    from pellacia.delivery.service import create_post
    from pellacia.plugins import load_plugins
    from pellacia.store import queue
    from pellacia.store.models import RunControl
    from pellacia.store.pool import create_pool
    from pellacia_testplatform.fixtures import settings_for

    video = make_video(tmp_path / "clip.mp4", seconds=1.0)
    settings = settings_for(
        testplatform, tmp_path / "data", spacing={"min_interval": 0, "jitter": 0}
    )
    registry = load_plugins()
    env = {"PELLACIA_DATABASE_URL": pg_dsn, "PELLACIA_DATA_DIR": str(tmp_path / "data")}
    dump = tmp_path / "before.dump"

    async def run_due(pool: Any, limit: int) -> None:
        """Claim and run, one at a time (one in flight per account), ``limit`` times."""
        executor = DeliveryExecutor(pool, registry, settings, SYSTEM_CLOCK, worker_id="w")
        for _ in range(limit):
            async with pool.acquire() as conn:
                claimed = await queue.claim(
                    conn, worker_id="w", now=SYSTEM_CLOCK.now(), lease_seconds=60, limit=1,
                    spacing=settings.spacing_for,
                )  # fmt: skip
            for one in claimed:
                await executor.run(one, RunControl())

    pool = await create_pool(pg_dsn, max_size=2)
    try:
        out, never = [
            (await create_post(
                pool, registry, settings, file=video, platforms="testplatform", title=title
            )).deliveries[0].id
            for title in ("Out after the backup", "Never out")
        ]  # fmt: skip
        assert (await asyncio.to_thread(_invoke, env, "db", "backup", str(dump))).exit_code == 0
        await run_due(pool, limit=1)  # the first one goes out after the backup
        assert testplatform.posts_created == 1
    finally:
        await pool.close()

    video.unlink()  # the new machine has no copy of the video
    restored = await asyncio.to_thread(
        _invoke, env, "db", "restore", str(dump), "--force", "--json"
    )
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.output)["to_reconcile"] == 2
    pool = await create_pool(pg_dsn, max_size=2)
    try:
        await run_due(pool, limit=2)
        rows = {
            r["id"]: r
            for r in await pool.fetch("SELECT id, state, remote_id, last_error FROM deliveries")
        }
    finally:
        await pool.close()
    assert rows[out]["state"] == "published"
    assert rows[out]["remote_id"] == testplatform.posts[0].id
    assert testplatform.posts_created == 1  # found, not posted again
    assert rows[never]["state"] == "failed" and "is gone" in rows[never]["last_error"]

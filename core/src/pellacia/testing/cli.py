"""Helpers for end-to-end tests that drive ``pellacia-dist`` as a user does:
subprocesses of the installed CLI, a ``sandbox up`` of its own, SQL peeks.

    from pellacia.testing.cli import CLI, cli_env, sandbox_up, sql, wait_for

    with sandbox_up("tiktok") as url:
        env = cli_env(PELLACIA_SANDBOX_URL=url, PELLACIA_DATABASE_URL=dsn)
        subprocess.run([CLI, "auth", "login", "tiktok"], env=env, check=True)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: the ``pellacia-dist`` of the running interpreter's environment
CLI = str(Path(sys.executable).with_name("pellacia-dist"))


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``PELLACIA_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env.update(extra)
    return env


@contextmanager
def sandbox_up(*only: str) -> Iterator[str]:
    """``pellacia-dist sandbox up --port 0 [--only P ...]`` in its own process, as
    a user starts it; yields its base URL and stops it afterwards."""
    argv = [CLI, "sandbox", "up", "--port", "0"]
    for platform in only:
        argv += ["--only", platform]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env()
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("sandbox listening on "):
                yield line.split()[-1]
                break
        else:
            raise RuntimeError(f"the sandbox did not start (exit {proc.wait()})")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)  # reaps it and closes the pipe


def sql(dsn: str, query: str, *args: Any) -> list[Any]:
    """Rows of one query on a fresh connection (from synchronous test code)."""

    async def fetch() -> list[Any]:
        from pellacia.store.pool import connect_one

        conn = await connect_one(dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def wait_for(predicate: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Poll ``predicate`` (a subprocess's progress: nothing to be notified by)
    until true; ``TimeoutError`` naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def fake_state(url: str, platform: str) -> dict[str, Any]:
    """A running sandbox's state of one fake (posts, uploads, requests)."""
    from pellacia_sandbox.control import SandboxControl

    state: dict[str, Any] = asyncio.run(SandboxControl(url).state(platform))
    return state

"""``pellacia-dist sandbox up|status`` as a user runs them: real subprocesses."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp

CLI = "from pellacia.cli.main import main; main()"
LINE_TIMEOUT_S = 30


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}


async def _run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), LINE_TIMEOUT_S)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_sandbox_up_prints_urls_serves_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        "sandbox",
        "up",
        "--port",
        "0",
        "--only",
        "example",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = await asyncio.wait_for(proc.stdout.readline(), LINE_TIMEOUT_S)
            assert line, f"sandbox up exited early: {lines}"
            lines.append(line.decode().strip())
        text = "\n".join(lines)
        base = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert base, text
        url = base.group(1)
        assert f"example    {url}/example" in text
        assert f"--sandbox {url}" in text and f"PELLACIA_SANDBOX_URL={url}" in text
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_control/status") as r:
            assert (await r.json())["fakes"] == {"example": f"{url}/example"}
        code, out, err = await _run("sandbox", "status", "--url", url)
        assert code == 0, err
        assert f"example    {url}/example" in out
        # without --url: the command context's sandbox URL (here the root --sandbox)
        code, out, err = await _run("--sandbox", url, "sandbox", "status")
        assert code == 0, err
        assert f"sandbox at {url}" in out
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stdout.read(), LINE_TIMEOUT_S)
        await asyncio.wait_for(proc.wait(), LINE_TIMEOUT_S)
    assert proc.returncode == 0
    assert "sandbox stopped" in rest.decode()


async def test_sandbox_up_refuses_a_public_bind_address() -> None:
    code, _, err = await _run("sandbox", "up", "--host", "0.0.0.0", "--port", "0")
    assert code == 2
    assert "loopback" in err


async def test_sandbox_status_without_a_sandbox_says_so() -> None:
    code, _, err = await _run("sandbox", "status", "--url", "http://127.0.0.1:9")
    assert code == 1
    assert "no sandbox answering" in err

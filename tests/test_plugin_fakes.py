"""Fakes that installed plugins register (``register_fakes``) join the sandbox,
each plugin isolated: one whose hook raises is reported and the others still
load; a fake never replaces one the sandbox has; a class serving another name
is refused. The plugins are real distributions (dist-info with an entry point)
on the PYTHONPATH of a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

FAKE = """
from aiohttp import web
from pellacia_sandbox.fakes.base import FakePlatform


class TinyFake(FakePlatform):
    name = "tinytube"

    def setup(self, app):
        app.router.add_get("/ping", self._ping)

    async def _ping(self, request):
        return web.json_response({"pong": True})

    def reset(self):
        pass

    def snapshot(self):
        return {"posts": [], "uploads": []}

    def native_error(self, kind, **params):
        return web.json_response({"error": kind}, status=500)
"""

PLUGINS = {
    "goodfakes": """
        @hookimpl
        def register_fakes(register):
            register("tinytube", "goodfakes_fake:TinyFake")
            register("example", "goodfakes_fake:TinyFake")  # the sandbox has one already
            register("other", "goodfakes_fake:TinyFake")  # the class serves tinytube
    """,
    "badfakes": """
        @hookimpl
        def register_fakes(register):
            raise RuntimeError("no fakes today")
    """,
}

PROBE = """
import asyncio, json
import aiohttp
from pellacia_sandbox.host import SandboxHost

async def main():
    async with SandboxHost(port=0, only={"tinytube", "example", "other"}) as host:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{host.base_url}/tinytube/ping") as r:
                pong = await r.json()
        print(json.dumps({"status": host.status(), "pong": pong, "base": host.base_url}))

asyncio.run(main())
"""


def write_plugin(site: Path, name: str, body: str) -> None:
    header = "from pellacia.hookspecs import hookimpl\n\nPLUGIN_API_VERSION = 1\n"
    (site / f"{name}_plugin.py").write_text(header + textwrap.dedent(body))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[pellacia_dist]\n{name} = {name}_plugin\n")


def test_hook_register_fakes(tmp_path: Path) -> None:
    """Plugins' fakes join the sandbox, each plugin isolated."""
    (tmp_path / "goodfakes_fake.py").write_text(FAKE)
    for name, body in PLUGINS.items():
        write_plugin(tmp_path, name, body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    status, base = out["status"], out["base"]
    assert out["pong"] == {"pong": True}
    assert status["fakes"] == {"example": f"{base}/example", "tinytube": f"{base}/tinytube"}
    skipped = status["skipped"]
    assert "RuntimeError: no fakes today" in skipped["plugin:badfakes"]
    assert skipped["example (goodfakes_fake:TinyFake)"] == "the sandbox already has a fake of it"
    assert skipped["other"] == "goodfakes_fake:TinyFake serves 'tinytube', not 'other'"


def test_without_plugins_the_sandbox_serves_only_its_own(tmp_path: Path) -> None:
    (tmp_path / "goodfakes_fake.py").write_text(FAKE)
    write_plugin(tmp_path, "goodfakes", PLUGINS["goodfakes"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    probe = (
        "import asyncio\n"
        "from pellacia_sandbox.host import SandboxHost\n"
        "async def main():\n"
        "    async with SandboxHost(port=0, plugins=False) as host:\n"
        "        print(sorted(host.fakes), sorted(host.skipped))\n"
        "asyncio.run(main())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "tinytube" not in run.stdout and "example" in run.stdout

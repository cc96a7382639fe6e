"""The plugins written in docs/ as a third party would, installed, pass the conformance kit.

``docs/example-plugin`` (a made-up platform whose fake ships with the sandbox)
and ``docs/peertube-plugin`` (a federated, password-grant platform whose
upload creates the video, with its own fake that joins the sandbox through
``register_fakes``). Each is installed into a temporary directory put on
PYTHONPATH of subprocesses only: the main environment keeps exactly the
project's own distributions, so ``pellacia-dist plugins list`` there never
shows them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from pellacia.testing.conformance import PlatformConformance

ROOT = Path(__file__).resolve().parents[1]
CLI = "from pellacia.cli.main import main; main()"
#: docs folder -> (entry point, platform, its own tests beyond the kit's scenarios)
PLUGINS = {
    "example-plugin": ("example", "example", 0),
    "peertube-plugin": ("peertube", "peertube", 5),
}
#: docs folder -> the distributions it is made of (a third party's fake is one of them)
DISTRIBUTIONS = {
    "example-plugin": ("example-plugin",),
    "peertube-plugin": ("peertube-plugin", "peertube-plugin/fake"),
}


def install(sources: list[Path], target: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")
    built = subprocess.run(
        [*command, *map(str, sources)], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, f"pip could not install {sources}:\n{built.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, str]]:
    """``installed(folder)``: the environment of a subprocess that sees that docs
    plugin installed (not editable); each is installed once per module."""
    envs: dict[str, dict[str, str]] = {}

    def env_for(folder: str) -> dict[str, str]:
        if folder not in envs:
            target = tmp_path_factory.mktemp(f"{folder}-site")
            install([ROOT / "docs" / d for d in DISTRIBUTIONS[folder]], target)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
            envs[folder] = env
        return envs[folder]

    return env_for


@pytest.fixture(params=sorted(PLUGINS))
def plugin_env(
    request: pytest.FixtureRequest, installed: Callable[[str], dict[str, str]]
) -> Iterator[tuple[str, dict[str, str]]]:
    """``(docs folder, environment)`` for each docs plugin."""
    folder: str = request.param
    yield folder, dict(installed(folder))


def test_installed_plugin_loads_and_registers_its_platform(
    plugin_env: tuple[str, dict[str, str]],
) -> None:
    folder, env = plugin_env
    entry, platform, _ = PLUGINS[folder]
    listed = subprocess.run(
        [sys.executable, "-c", CLI, "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    plugins = {info["name"]: info for info in json.loads(listed.stdout)}
    assert entry in plugins, sorted(plugins)
    assert plugins[entry]["error"] is None
    assert f"platform:{platform}" in plugins[entry]["provides"]


def test_plugin_passes_the_conformance_kit(plugin_env: tuple[str, dict[str, str]]) -> None:
    folder, env = plugin_env
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            ".",
            "-c",
            "pyproject.toml",
        ],
        cwd=ROOT / "docs" / folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    scenarios = [name for name in dir(PlatformConformance) if name.startswith("test_")]
    own = PLUGINS[folder][2]
    assert f"{len(scenarios) + own} passed" in run.stdout, run.stdout[-2000:]


@asynccontextmanager
async def sandbox_up(env: dict[str, str], platform: str) -> AsyncIterator[tuple[str, list[str]]]:
    """``pellacia-dist sandbox up --only PLATFORM`` in a subprocess: ``(its URL, what it printed)``."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", CLI, "sandbox", "up", "--port", "0", "--only", platform),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, f"sandbox up exited early: {lines}"
            lines.append(line.decode().strip())
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", "\n".join(lines))
        assert found, lines
        yield found.group(1), lines
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0


async def test_sandbox_up_serves_the_fake_a_plugin_registers(
    plugin_env: tuple[str, dict[str, str]],
) -> None:
    """``sandbox up`` serves a third party's fake (``register_fakes``) like its own."""
    folder, env = plugin_env
    platform = PLUGINS[folder][1]
    async with sandbox_up(env, platform) as (url, lines):
        assert f"{platform:<10} {url}/{platform}" in lines, lines
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_control/status") as r:
            status = await r.json()
    assert status["fakes"] == {platform: f"{url}/{platform}"}, status
    assert status["skipped"] == {}, status


def test_docs_plugins_are_not_installed_in_this_environment() -> None:
    """The product's own environment lists only its real distributions."""
    assert importlib.util.find_spec("pellacia_example") is None
    assert importlib.util.find_spec("pellacia_peertube") is None


async def cli(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", CLI, *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_peertube_through_core_password_login_then_upload_wait(
    installed: Callable[[str], dict[str, str]], pg_dsn: str, tmp_path: Path
) -> None:
    """The third-party plugin through core, as an operator runs it: the account's
    instance in the config and no client id, `auth login` with a password on stdin,
    `upload --wait` to the plugin's own fake. One video, every byte, no secret printed."""
    from pellacia.testing.context import SANDBOX_CREDENTIALS
    from pellacia.testing.videos import make_video

    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, noise=True)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path / "data"}"

[[accounts.peertube]]
name = "newsroom"
base_url = "https://video.example.org"

[plugins.peertube]
chunk_size = 65536

[chains]
peertube = ["api", "manual"]

[spacing]
min_interval = 0
jitter = 0
"""
    )
    env = {**installed("peertube-plugin"), "DATABASE_URL": pg_dsn, "PELLACIA_CONFIG": str(config)}
    async with sandbox_up(env, "peertube") as (url, _):
        env["PELLACIA_SANDBOX_URL"] = url
        password = SANDBOX_CREDENTIALS["password"]
        login = await cli(
            env, "auth", "login", "peertube", "--account", "newsroom", "--username",
            "newsroom", "--stdin", stdin=password + "\n",
        )  # fmt: skip
        assert login[0] == 0, login[2]
        upload = await cli(
            env, "upload", "--platform", "peertube", "--file", str(clip),
            "--title", "Flood warning", "--hashtags", "#news #flood", "--wait", "--json",
        )  # fmt: skip
        assert upload[0] == 0, upload[1] + upload[2]
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_control/peertube/state") as r:
            state = await r.json()
    [delivery] = json.loads(upload[1])["deliveries"]
    assert delivery["state"] == "published", (delivery, upload[2][-3000:])
    [video] = state["posts"]
    assert (video["title"], video["account"], video["bytes"]) == (
        "Flood warning",
        "newsroom",
        clip.stat().st_size,
    )
    assert delivery["remote_url"].endswith(f"/videos/watch/{video['uuid']}")
    assert video["tags"] == ["news", "flood"]
    printed = login[1] + login[2] + upload[1] + upload[2]
    assert password not in printed


def instance_config(tmp_path: Path, instance: str) -> Path:
    """A config whose PeerTube account lives on ``instance``; no sandbox anywhere."""
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path / "data"}"

[[accounts.peertube]]
name = "newsroom"
base_url = "{instance}"

[plugins.peertube]
chunk_size = 65536

[chains]
peertube = ["api", "manual"]

[spacing]
min_interval = 0
jitter = 0

[retry]
tries_per_layer = 1
"""
    )
    return config


async def test_peertube_auth_login_signs_in_on_the_accounts_own_instance(
    installed: Callable[[str], dict[str, str]], pg_dsn: str, tmp_path: Path
) -> None:
    """Without a sandbox, `auth login` talks to the instance the account names
    (here the fake, as if it were the account's PeerTube server)."""
    from pellacia.testing.context import SANDBOX_CREDENTIALS

    env = dict(installed("peertube-plugin"))
    async with sandbox_up(env, "peertube") as (url, _):
        config = instance_config(tmp_path, f"{url}/peertube")
        env.update(DATABASE_URL=pg_dsn, PELLACIA_CONFIG=str(config))
        login = await cli(
            env, "auth", "login", "peertube", "--account", "newsroom", "--username",
            "newsroom", "--stdin", stdin=SANDBOX_CREDENTIALS["password"] + "\n",
        )  # fmt: skip
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_control/peertube/state") as r:
            state = await r.json()
    assert login[0] == 0, login[2]
    assert [r["path"] for r in state["requests"]] == [
        "/api/v1/oauth-clients/local",
        "/api/v1/users/token",
    ]


async def test_peertube_upload_reaches_the_accounts_own_instance(
    installed: Callable[[str], dict[str, str]], pg_dsn: str, tmp_path: Path
) -> None:
    """Without a sandbox, `upload --wait` publishes on the instance the account names."""
    from pellacia.testing.context import SANDBOX_CREDENTIALS
    from pellacia.testing.videos import make_video

    clip = make_video(tmp_path / "clip.mp4", seconds=1.0)
    env = dict(installed("peertube-plugin"))
    async with sandbox_up(env, "peertube") as (url, _):
        config = instance_config(tmp_path, f"{url}/peertube")
        env.update(DATABASE_URL=pg_dsn, PELLACIA_CONFIG=str(config))
        login = await cli(
            env, "auth", "login", "peertube", "--account", "newsroom", "--username",
            "newsroom", "--stdin", stdin=SANDBOX_CREDENTIALS["password"] + "\n",
        )  # fmt: skip
        assert login[0] == 0, login[2]
        upload = await cli(
            env, "upload", "--platform", "peertube", "--file", str(clip), "--wait", "--json"
        )  # fmt: skip
    [delivery] = json.loads(upload[1])["deliveries"]
    assert delivery["state"] == "published", (delivery, upload[2][-3000:])


def test_peertube_plugin_imports_every_module_without_the_sandbox(
    installed: Callable[[str], dict[str, str]],
) -> None:
    """The fake is a distribution of its own: the plugin never needs the sandbox."""
    probe = """
import importlib, pkgutil, sys
from importlib.abc import MetaPathFinder

class Hide(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pellacia_sandbox":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
package = importlib.import_module("pellacia_peertube")
for module in pkgutil.walk_packages(package.__path__, "pellacia_peertube."):
    importlib.import_module(module.name)
from pellacia.plugins import load_plugins
registry = load_plugins()
print(sorted(registry.platforms))
"""
    run = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=installed("peertube-plugin"),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "peertube" in run.stdout

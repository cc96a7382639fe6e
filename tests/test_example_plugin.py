"""The worked example plugin (docs/example-plugin), installed, passes the conformance kit.

It is installed into a temporary directory put on PYTHONPATH of subprocesses
only: the main environment keeps exactly the project's own distributions, so
``pellacia-dist plugins list`` there never shows the example.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia.testing.conformance import PlatformConformance

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "example-plugin"
CLI = "from pellacia.cli.main import main; main()"


@pytest.fixture(scope="module")
def example_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of a subprocess that sees the example plugin installed (not editable)."""
    target = tmp_path_factory.mktemp("example-site")
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")
    command.append(str(EXAMPLE))
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"pip could not install the example plugin:\n{built.stderr}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    yield env


def test_installed_example_plugin_loads_and_registers_its_platform(
    example_env: dict[str, str],
) -> None:
    listed = subprocess.run(
        [sys.executable, "-c", CLI, "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        env=example_env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    plugins = {info["name"]: info for info in json.loads(listed.stdout)}
    assert "example" in plugins, sorted(plugins)
    assert plugins["example"]["error"] is None
    assert "platform:example" in plugins["example"]["provides"]


def test_example_plugin_passes_the_conformance_kit(example_env: dict[str, str]) -> None:
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
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        env=example_env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    scenarios = [name for name in dir(PlatformConformance) if name.startswith("test_")]
    assert f"{len(scenarios)} passed" in run.stdout, run.stdout[-2000:]


def test_example_plugin_is_not_installed_in_this_environment() -> None:
    """The product's own environment lists only its real distributions."""
    assert importlib.util.find_spec("pellacia_example") is None

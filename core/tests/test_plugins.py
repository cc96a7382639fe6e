"""Plugin discovery through real entry points, broken plugins included.

The faulty plugins live in tests/plugins/broken-site as real distributions
(dist-info + package) that entry-point discovery finds on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BROKEN_SITE = REPO / "tests" / "plugins" / "broken-site"
CLI = str(Path(sys.executable).with_name("pellacia-dist"))
REAL = {"browser", "linkedin", "meta", "sandbox", "telegram", "tiktok", "twitter", "vpn", "youtube"}


def run_cli(
    *args: str, extra_path: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    # only the real installed plugins, plus extra_path: nothing other tests put on the path
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_") and k != "PYTHONPATH"
    }
    full_env.update(env)
    if extra_path is not None:
        full_env["PYTHONPATH"] = str(extra_path)
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, timeout=60)


def listed(result: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}


def test_all_real_plugins_load_without_error() -> None:
    plugins = listed(run_cli("plugins", "list", "--json"))
    assert set(plugins) >= REAL
    for name in REAL | {"core"}:
        assert plugins[name]["error"] is None, plugins[name]
        assert plugins[name]["version"]
        assert set(plugins[name]) >= {
            "name",
            "distribution",
            "version",
            "provides",
            "hooks",
            "error",
        }
    assert "platform:youtube" in plugins["youtube"]["provides"]
    assert {"platform:instagram", "platform:facebook"} <= set(plugins["meta"]["provides"])
    assert "register_platforms" in plugins["youtube"]["hooks"]
    assert plugins["core"]["provides"][:1] == ["route:direct"]


def test_broken_plugins_are_reported_and_everything_else_works() -> None:
    plugins = listed(run_cli("plugins", "list", "--json", extra_path=BROKEN_SITE))
    errors = {name: p["error"] for name, p in plugins.items()}
    assert "nonexistent_sdk" in errors["test-broken-import"]
    assert "written for plugin API 0" in errors["test-old-api"]
    assert "could not read my settings" in errors["test-bad-register"]
    assert "requires pellacia-dist>=9.0" in errors["test-needs-new-core"]
    # check_pending: a hook that matches no hookspec fails its plugin, with the reason
    assert "unknown hook register_platfroms" in errors["test-misspelled"]
    assert plugins["test-misspelled"]["provides"] == []
    assert "'credentials'" in errors["test-bad-signature"]  # an argument no hook offers
    # two providers of one platform: neither is used, both say how to resolve it
    for name in ("test-duplicate", "youtube"):
        assert "already provided" in errors[name] and "PELLACIA_DISABLE_PLUGINS" in errors[name]
        assert plugins[name]["provides"] == []
    assert all(plugins[name]["error"] is None for name in REAL - {"youtube"})
    resolved = listed(
        run_cli(
            "plugins",
            "list",
            "--json",
            extra_path=BROKEN_SITE,
            PELLACIA_DISABLE_PLUGINS="test-duplicate",
        )
    )
    assert resolved["youtube"]["error"] is None
    assert "platform:youtube" in resolved["youtube"]["provides"]
    # other commands keep working with broken plugins installed
    for args in (["--help"], ["--version"], ["validate", "--help"], ["plugins", "list"]):
        result = run_cli(*args, extra_path=BROKEN_SITE)
        assert result.returncode == 0, (args, result.stderr)
    table = run_cli("plugins", "list", extra_path=BROKEN_SITE)
    assert "nonexistent_sdk" in table.stdout
    assert "test-misspelled failed to load: PluginLoadError: unknown hook register_platfroms" in (
        table.stdout
    )


def test_strict_mode_raises_on_the_first_broken_plugin() -> None:
    result = run_cli("plugins", "list", extra_path=BROKEN_SITE, PELLACIA_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "PluginLoadError" in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PELLACIA_LOAD_PLUGINS": ""}, {"core"}),
        ({"PELLACIA_LOAD_PLUGINS": "youtube,tiktok"}, {"core", "youtube", "tiktok"}),
        ({"PELLACIA_DISABLE_PLUGINS": "youtube"}, (REAL - {"youtube"}) | {"core"}),
    ],
)
def test_allow_and_deny_lists(env: dict[str, str], expected: set[str]) -> None:
    assert set(listed(run_cli("plugins", "list", "--json", **env))) == expected


def test_no_platform_installed_says_so() -> None:
    result = run_cli("plugins", "list", PELLACIA_LOAD_PLUGINS="")
    assert result.returncode == 0
    assert "No platform plugin is installed" in result.stdout


def test_settings_reach_a_real_plugin_through_its_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    from pellacia.plugins import load_plugins

    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "tiktok")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    for settings, cap in (({}, 15), ({"tiktok": {"daily_post_cap": 20}}, 20)):
        platform = load_plugins(settings, include_defaults=False).platform("tiktok")
        assert {q.name: q.limit for q in platform.quotas}["tiktok:daily-posts"] == cap
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "youtube")
    for settings, units, cost in (
        ({}, 10_000, 1600),
        ({"youtube": {"daily_units": 1_000_000, "insert_cost": 1}}, 1_000_000, 1),
    ):
        [budget] = load_plugins(settings, include_defaults=False).platform("youtube").quotas
        assert (budget.limit, budget.cost_per_delivery) == (units, cost)

"""The hook contract, hook by hook, through real plugins found by entry point.

Two plugins in tests/plugins/contract-site implement the hooks: ``test-contract``
as the contract is now (every ``settings`` argument, ``register_commands(cli,
context)``) and ``test-old-style`` as it was before those arguments existed
(only ``register``/``cli``, settings through ``configure``). Every hook has a
``test_hook_<name>`` here or elsewhere in the suite and a heading with its
signature in docs/plugin-guide.md; the last tests fail when one lacks either.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pellacia import hookspecs
from pellacia.plugins import Registry, load_plugins

REPO = Path(__file__).resolve().parents[2]
CONTRACT_SITE = REPO / "tests" / "plugins" / "contract-site"
BROKEN_SITE = REPO / "tests" / "plugins" / "broken-site"
CLI = str(Path(sys.executable).with_name("pellacia-dist"))

SETTINGS: dict[str, dict[str, Any]] = {
    "test-contract": {
        "display_name": "Contract Video",
        "route": "from-settings",
        "browser_platform": "contract",
        "sink": "from-settings",
        "validator": "from-settings",
        "owner": "contract",
    },
    "test-old-style": {"route": "from-configure"},
}


def hookspec_names() -> list[str]:
    marker = f"{hookspecs.PROJECT}_spec"
    return sorted(n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, marker))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """Both contract plugins loaded (strict: any failure raises), nothing else."""
    monkeypatch.syspath_prepend(str(CONTRACT_SITE))
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "test-contract,test-old-style")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "1")
    return load_plugins(SETTINGS, include_defaults=False)


def provided(registry: Registry, plugin: str) -> list[str]:
    (info,) = [i for i in registry.plugins if i.name == plugin]
    assert info.error is None
    return info.provides


def test_hook_register_platforms(registry: Registry) -> None:
    assert registry.platform("contract").display_name == "Contract Video"
    assert provided(registry, "test-contract")[0] == "platform:contract"


def test_hook_register_routes(registry: Registry) -> None:
    assert sorted(registry.routes) == ["contract:from-settings", "old:from-configure"]


def test_hook_register_browser_uploaders(registry: Registry) -> None:
    (uploader,) = registry.browser_uploaders["contract"]
    assert uploader.platform == "contract"


def test_hook_register_alert_sinks(registry: Registry) -> None:
    assert sorted(s.name for s in registry.alert_sinks) == ["contract:from-settings", "old-sink"]


def test_hook_register_validators(registry: Registry) -> None:
    assert [v.name for v in registry.validators] == ["contract:from-settings"]


def test_hook_register_migrations(registry: Registry) -> None:
    (source,) = registry.migrations
    assert (source.owner, source.package) == ("contract", "pellacia_test_contract.plugin")


def test_hook_configure(registry: Registry) -> None:
    # the old way still works: configure ran first, with the plugin's own table
    assert "route:old:from-configure" in provided(registry, "test-old-style")


def test_old_style_plugin_keeps_working_when_hooks_gain_arguments(registry: Registry) -> None:
    """The registration hooks gained ``settings`` and ``register_commands`` gained
    ``context`` after the old-style plugin was written: it declares neither, and
    loads, registers and adds its command all the same."""
    manager = registry.manager
    old = manager.get_plugin("test-old-style")
    for name in ("register_routes", "register_alert_sinks", "register_commands"):
        spec = getattr(manager.hook, name).spec
        (impl,) = [i for i in getattr(manager.hook, name).get_hookimpls() if i.plugin is old]
        assert set(impl.argnames) < set(spec.argnames)  # it takes a strict subset
    assert provided(registry, "test-old-style") == [
        "route:old:from-configure",
        "alert-sink:old-sink",
    ]


def run_cli(*args: str, site: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_") and k != "PYTHONPATH"
    }
    full_env.update(env, PYTHONPATH=str(site))
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, timeout=60)


def test_hook_register_commands(tmp_path: Path) -> None:
    """A plugin command gets its settings table, the config, the sandbox URL
    and core's HTTP session factory; an old one declaring only ``cli`` still runs."""
    config = tmp_path / "config.toml"
    config.write_text('[plugins.test-contract]\nroute = "r1"\nlimit = 3\n')
    env = {"PELLACIA_LOAD_PLUGINS": "test-contract,test-old-style", "HOME": str(tmp_path)}
    probe = run_cli(
        "--config",
        str(config),
        "--sandbox",
        "http://127.0.0.1:9",
        "contract-probe",
        site=CONTRACT_SITE,
        **env,
    )
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout)
    assert got["settings"] == {"route": "r1", "limit": 3}
    assert got["sandbox_url"] == "http://127.0.0.1:9"
    assert got["config_has_plugins"] == ["test-contract"]
    assert got["user_agent"].startswith("pellacia-dist/")
    old = run_cli("old-probe", site=CONTRACT_SITE, **env)
    assert (old.returncode, old.stdout) == (0, "old-style command works\n"), old.stderr


def test_misspelled_hook_fails_its_plugin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BROKEN_SITE))
    monkeypatch.syspath_prepend(str(CONTRACT_SITE))
    monkeypatch.setenv("PELLACIA_LOAD_PLUGINS", "test-misspelled,test-contract")
    monkeypatch.setenv("PELLACIA_STRICT_PLUGINS", "0")
    registry = load_plugins(SETTINGS, include_defaults=False)
    errors = {info.name: info.error for info in registry.plugins}
    assert errors["test-contract"] is None and "contract" in registry.platforms
    error = errors["test-misspelled"] or ""
    assert "unknown hook register_platfroms" in error and "register_platforms" in error
    assert registry.manager.get_plugin("test-misspelled") is None
    registry.manager.check_pending()  # nothing unchecked is left registered


def _signature(name: str) -> str:
    params = inspect.signature(getattr(hookspecs, name)).parameters
    return f"{name}({', '.join(params)})"


def test_every_hookspec_has_a_docstring_and_a_guide_heading_with_its_signature() -> None:
    guide = (REPO / "docs" / "plugin-guide.md").read_text()
    headings = set(re.findall(r"^#{2,4} `([^`]+)`", guide, flags=re.M))
    names = hookspec_names()
    assert "register_platforms" in names and "configure" in names
    for name in names:
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"
        assert _signature(name) in headings, (
            f"docs/plugin-guide.md has no heading ### `{_signature(name)}`"
        )
    # and no heading documents a hook that is gone or a signature that changed
    documented = {h for h in headings if re.fullmatch(r"\w+\([\w, ]*\)", h)}
    assert documented <= {_signature(name) for name in names}


def test_every_hookspec_has_a_test_that_calls_it() -> None:
    sources = [
        path.read_text()
        for path in REPO.glob("**/tests/**/test_*.py")
        if ".venv" not in path.parts and "node_modules" not in path.parts
    ]
    for name in hookspec_names():
        pattern = re.compile(rf"^(async )?def test_hook_{name}\b", flags=re.M)
        assert any(pattern.search(text) for text in sources), f"no test_hook_{name} in the tests"

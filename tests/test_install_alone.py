"""Each distribution installs on its own: core alone works and says so; core +
one plugin (with that plugin's own dependencies, nothing of its siblings')
loads, provides what it should and imports every one of its modules. A plugin
importing what only a sibling declares fails here.

Cost: the wheels are built once, core's third-party dependencies are installed
once into a shared base venv, and each case gets a fresh venv without pip that
sees the base through a ``.pth`` file, into which the base's pip installs core
and the one plugin (only the plugin's own extra dependencies get installed).
Third-party packages come from the index pip is configured with (and its
cache); ours, a plugin requiring the sandbox say, from the wheels built here.
About a minute in all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]


class Dist(NamedTuple):
    folder: str
    package: str
    #: what ``plugins list`` shows it provides
    provides: set[str]
    #: the plugins it declares a dependency on (installed with it)
    requires: frozenset[str] = frozenset()


#: entry-point name -> its distribution
DISTRIBUTIONS: dict[str, Dist] = {
    "youtube": Dist("plugin-youtube", "pellacia_youtube", {"platform:youtube"}),
    "tiktok": Dist("plugin-tiktok", "pellacia_tiktok", {"platform:tiktok"}),
    "meta": Dist("plugin-meta", "pellacia_meta", {"platform:instagram", "platform:facebook"}),
    "twitter": Dist("plugin-twitter", "pellacia_twitter", {"platform:twitter", "validator:x-text"}),
    "linkedin": Dist("plugin-linkedin", "pellacia_linkedin", {"platform:linkedin"}),
    "vpn": Dist("plugins/vpn", "pellacia_vpn", {"command:vpn", "command:test"}),
    "browser": Dist("plugins/browser", "pellacia_browser", {"command:browser"}),
    # a sink once configured; the operator bot's command always
    "telegram": Dist("plugins/telegram", "pellacia_telegram", {"command:telegram"}),
    "sandbox": Dist("plugins/sandbox", "pellacia_sandbox", {"command:sandbox"}),
    "example": Dist("docs/example-plugin", "pellacia_example", {"platform:example"}),
    "peertube": Dist("docs/peertube-plugin", "pellacia_peertube", {"platform:peertube"}),
    # a third party's fake: it provides nothing to core, only to the sandbox it requires
    "peertube-fake": Dist(
        "docs/peertube-plugin/fake", "pellacia_peertube_fake", set(), frozenset({"sandbox"})
    ),
}

IMPORT_ALL = (
    "import importlib, importlib.util, pkgutil, sys\n"
    "package = importlib.import_module(sys.argv[1])\n"
    "for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
    "    # a page script needs the plugin's browser extra (pellacia-dist-browser)\n"
    "    if module.name.endswith('.browser') and importlib.util.find_spec('pellacia_browser') is None:\n"
    "        continue\n"
    "    importlib.import_module(module.name)\n"
)


def run(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stderr}"


def pip(base: Path, target: Path, *args: str) -> None:
    """The base's pip installing into ``target`` (which has no pip of its own)."""
    run(str(base / "bin" / "python"), "-m", "pip", "--python", str(target / "bin" / "python"),
        "install", "-q", *args)  # fmt: skip


def cli(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env_dir / "bin" / "pellacia-dist"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env_dir)},
    )


def listed(env_dir: Path) -> dict[str, dict[str, object]]:
    result = cli(env_dir, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One wheel per distribution, built once: "core" and each entry-point name."""
    out = tmp_path_factory.mktemp("wheels")
    folders = {"core": "core", **{name: d.folder for name, d in DISTRIBUTIONS.items()}}
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
        *(str(REPO / folder) for folder in folders.values()))  # fmt: skip
    built = {p.name.split("-")[0]: p for p in out.glob("*.whl")}
    return {
        name: built[
            "pellacia_dist" if name == "core" else f"pellacia_dist_{name.replace('-', '_')}"
        ]
        for name in folders
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Path:
    """A venv holding core's third-party dependencies (and pip), but not core."""
    env_dir = tmp_path_factory.mktemp("base")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    run(python, "-m", "pip", "install", "-q", str(wheels["core"]))
    run(python, "-m", "pip", "uninstall", "-q", "-y", "pellacia-dist")
    return env_dir


def fresh_env(base: Path, env_dir: Path, wheels: list[Path]) -> Path:
    """A new venv that sees the base's packages and gets ``wheels`` (with their
    own dependencies, which land in it, not in the base)."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    (site,) = (env_dir / "lib").glob("python3*/site-packages")
    (base_site,) = (base / "lib").glob("python3*/site-packages")
    (site / "_core_dependencies.pth").write_text(f"{base_site}\n")
    # our own distributions a plugin requires come from the wheels built here
    pip(base, env_dir, "--find-links", str(wheels[0].parent), *map(str, wheels))
    return env_dir


@pytest.mark.slow
def test_core_alone(base: Path, wheels: dict[str, Path], tmp_path: Path) -> None:
    env_dir = fresh_env(base, tmp_path / "venv", [wheels["core"]])
    assert list(listed(env_dir)) == ["core"]
    assert "No platform plugin is installed" in cli(env_dir, "plugins", "list").stdout
    assert cli(env_dir, "--help").returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_plugin_alone_with_core(
    name: str, base: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    _, package, provides, requires = DISTRIBUTIONS[name]
    env_dir = fresh_env(base, tmp_path / "venv", [wheels["core"], wheels[name]])
    plugins = listed(env_dir)
    assert set(plugins) == {"core", name} | requires
    assert all(plugin["error"] is None for plugin in plugins.values()), plugins
    assert set(plugins[name]["provides"]) == provides  # type: ignore[arg-type]
    # every module of the plugin imports with only what it declares
    imported = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", IMPORT_ALL, package],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    for command in (p.partition(":")[2] for p in provides if p.startswith("command:")):
        assert cli(env_dir, command, "--help").returncode == 0


@pytest.mark.slow
def test_core_plus_youtube_validates_for_youtube_only(
    base: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    from pellacia.testing.videos import make_video

    env_dir = fresh_env(base, tmp_path / "venv", [wheels["core"], wheels["youtube"]])
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0)
    ok = cli(env_dir, "validate", str(clip), "--platforms", "all")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "youtube" in ok.stdout and "tiktok" not in ok.stdout
    unknown = cli(env_dir, "validate", str(clip), "--platforms", "tiktok")
    assert unknown.returncode == 2
    assert "youtube" in unknown.stdout + unknown.stderr  # names what is installed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))

"""The example config in docs/configuration.md loads, checks clean and masks its secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def example_toml() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "docs/configuration.md should hold one complete toml example"
    return blocks[0]


def test_documented_example_has_no_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PELLACIA_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("PELLACIA_STRICT_PLUGINS", raising=False)
    config = tmp_path / "config.toml"
    config.write_text(example_toml(), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "config", "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [p for p in report["problems"] if p["level"] == "error"] == []
    # nothing unknown: every documented key is a real one
    assert not [p for p in report["problems"] if "unknown key" in p["message"]]
    shown = runner.invoke(cli, ["--config", str(config), "config", "show"]).output
    for secret in ("GOCSPX-change-me", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "user:change-me@"):
        assert secret not in shown


def test_every_settings_section_is_documented() -> None:
    from pellacia.config import Settings

    text = DOC.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        if name in ("config_file", "routes"):
            continue  # set by the loader / superseded by [plugins.vpn.routes]
        assert f"`{name}`" in text or f"[{name}" in text or f"[[{name}" in text, name

"""``pellacia-dist test alerts`` against the sandbox Telegram; the ``test`` group's fallbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pellacia.cli import test_cmd
from pellacia.cli.main import cli
from pellacia.plugins import reset_registry
from pellacia_sandbox.host import SandboxHost

TOKEN = "987654321:AAFsandboxTOKENabcdefghijklmnopqrstu"


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[SandboxHost]:
    async with SandboxHost(only=["telegram"]) as running:
        yield running


def configure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: SandboxHost, chat: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins.telegram]\nbot_token = "{TOKEN}"\nchat_id = "{chat}"\n'
        f'base_url = "{host.base_url}/telegram"\n'
    )
    monkeypatch.setenv("PELLACIA_CONFIG", str(config))
    monkeypatch.setenv("PELLACIA_DATA_DIR", str(tmp_path))
    reset_registry()


async def invoke(*args: str) -> Result:
    # the CLI runs its own event loop: keep it off the sandbox's
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_test_alerts_passes_against_the_sandbox(
    host: SandboxHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.reset()
    configure(tmp_path, monkeypatch, host, "100200300")
    result = await invoke("test", "alerts")
    assert result.exit_code == 0, result.output
    assert "PASS alert sink telegram: sent" in result.output
    assert "PASS alert sink log: sent" in result.output
    [message] = host.fake("telegram").snapshot()["messages"]
    assert "pellacia-dist test alert" in message["text"]


async def test_test_alerts_fails_and_says_why(
    host: SandboxHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.reset()
    configure(tmp_path, monkeypatch, host, "555")  # a chat the bot cannot write to
    result = await invoke("test", "alerts")
    assert result.exit_code == 1
    assert "FAIL alert sink telegram: Rejected" in result.output
    assert "chat 555: Chat not found" in result.output
    assert "PASS alert sink log" in result.output  # the other sinks still report
    assert host.fake("telegram").snapshot()["messages"] == []


def test_a_missing_plugin_check_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PELLACIA_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setattr(test_cmd, "PLUGIN_CHECKS", {"radar": "pellacia-dist-radar"})
    result: Any = CliRunner().invoke(cli, ["test", "radar", "--platform", "x"])
    assert result.exit_code == 1
    assert "FAIL radar: not installed: install pellacia-dist-radar" in result.output
    listed = CliRunner().invoke(cli, ["test", "--help"]).output
    assert "radar" in listed and "alerts" in listed and "platform" in listed

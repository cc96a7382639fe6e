"""``pellacia-dist config show|check`` on real TOML files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pellacia.cli.main import cli

SECRETS = (
    "pgpass-s3cret",
    "vault-key-s3cret",
    "yt-client-s3cret",
    "proxy-pass-s3cret",
    "socks-pass-s3cret",
    "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "env-key-s3cret",
)

FULL = """
database_url = "postgresql://dist:pgpass-s3cret@db.internal:5432/dist"
secret_key = "vault-key-s3cret"
timezone = "Europe/Paris"

[[accounts.youtube]]
name = "newsroom"
client_id = "1234.apps.googleusercontent.com"
client_secret = "yt-client-s3cret"

[chains]
youtube = ["api", "manual"]

[plugins.vpn.routes.nl]
url = "socks5://alice:socks-pass-s3cret@proxy.internal:1080"

[plugins.telegram]
bot_token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
chat_id = "-1001234567890"
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "PELLACIA_CONFIG",
        "PELLACIA_SECRET_KEY",
        "DATABASE_URL",
        "PELLACIA_DATABASE_URL",
        "PELLACIA_STRICT_PLUGINS",
        "PELLACIA_LOAD_PLUGINS",
    ):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(runner: CliRunner, path: Path | None, *args: str) -> tuple[int, str]:
    argv = (["--config", str(path)] if path else []) + ["config", *args]
    result = runner.invoke(cli, argv, catch_exceptions=False)
    return result.exit_code, result.output


def test_show_masks_every_secret(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, FULL)
    monkeypatch.setenv("PELLACIA_SECRET_KEY", "env-key-s3cret")  # env wins over the file
    code, text = run(runner, path, "show")
    assert code == 0, text
    code_json, raw = run(runner, path, "show", "--json")
    assert code_json == 0, raw
    for output in (text, raw):
        for secret in SECRETS:
            assert secret not in output
    data = json.loads(raw)
    settings = data["settings"]
    assert settings["secret_key"] == "**********"
    assert settings["database_url"] == "postgresql://dist:**********@db.internal:5432/dist"
    assert settings["accounts"]["youtube"][0]["client_secret"] == "**********"
    assert settings["accounts"]["youtube"][0]["client_id"] == "1234.apps.googleusercontent.com"
    vpn_url = settings["plugins"]["vpn"]["routes"]["nl"]["url"]
    assert vpn_url == "socks5://alice:**********@proxy.internal:1080"
    assert settings["plugins"]["telegram"]["bot_token"] == "**********"
    assert settings["plugins"]["telegram"]["chat_id"] == "-1001234567890"
    assert settings["timezone"] == "Europe/Paris"
    # sources: the file and the names (never values) of the environment used
    assert data["sources"]["config_file"] == str(path)
    assert "PELLACIA_SECRET_KEY" in data["sources"]["environment"]
    assert f"# config file: {path}" in text
    assert 'timezone = "Europe/Paris"' in text


def test_show_without_a_config_file(runner: CliRunner, tmp_path: Path) -> None:
    env = {"PELLACIA_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "empty")}
    result = runner.invoke(cli, ["config", "show", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sources"]["config_file"] is None
    result = runner.invoke(cli, ["config", "show"], env=env, catch_exceptions=False)
    assert "# config file: none (defaults and environment)" in result.output


def test_check_clean_config(runner: CliRunner, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[accounts.youtube]]
name = "newsroom"
client_id = "1234.apps.googleusercontent.com"

[chains]
youtube = ["api", "manual"]
""",
    )
    code, text = run(runner, path, "check")
    assert code == 0, text
    assert "ok: no problem found" in text


def test_check_explains_every_problem(runner: CliRunner, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
timezone = "Mars/Olympus"

[[accounts.myspace]]
name = "old"
client_id = "x"

[[accounts.tiktok]]
name = "newsroom"

[chains]
youtube = ["api", "teleport", "manual"]
friendster = ["api", "manual"]
linkedin = ["api"]

[spacing]
min_interval = 0
jitter = 0

[retry]
base_delay = 10
max_delay = 2

[plugins.telegram]
bot_token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

[plugins.nosuchplugin]
x = 1

[spaceing]
min_interval = 5
""",
    )
    code, text = run(runner, path, "check", "--json")
    assert code == 1
    report = json.loads(text)
    assert report["ok"] is False
    found = {(p["level"], p["where"]) for p in report["problems"]}
    expected = {
        ("error", "accounts.myspace"),
        ("error", "chains.friendster"),
        ("error", "chains.youtube"),  # unknown layer
        ("warning", "chains.linkedin"),  # no manual at the end
        ("error", "accounts.tiktok[0]"),  # no client_id
        ("warning", "spacing"),
        ("error", "retry"),
        ("error", "plugins.telegram"),  # chat_id missing
        ("warning", "plugins.nosuchplugin"),
        ("warning", "spaceing"),
        ("error", "timezone"),
    }
    assert expected <= found, sorted(found - expected)
    messages = " | ".join(p["message"] for p in report["problems"])
    assert "unknown layer 'teleport'" in messages
    assert "no installed plugin provides platform 'myspace'" in messages
    assert "does not end with 'manual'" in messages
    assert "chat_id is missing" in messages
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in text
    # the human form says the same and counts
    code, human = run(runner, path, "check")
    assert code == 1
    assert "error: chains.youtube: unknown layer 'teleport'" in human
    assert "warning: chains.linkedin:" in human
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in human


def test_warnings_alone_exit_zero(runner: CliRunner, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[accounts.youtube]]
name = "a"
client_id = "id"

[chains]
youtube = ["api"]
""",
    )
    code, text = run(runner, path, "check")
    assert code == 0, text
    assert "0 error(s), 1 warning(s)" in text


def test_unparsable_toml_names_the_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, 'log_level = "info"\n[spacing]\nmin_interval = \n')
    code, text = run(runner, path, "check")
    assert code == 1
    assert "is not valid TOML" in text and "line 3" in text
    code, text = run(runner, path, "show")
    assert code == 1
    assert "line 3" in text


def test_invalid_values_never_echo_the_input(runner: CliRunner, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'secret_key = 123456789012\n[spacing]\nmin_interval = "pigeon-pass"\n',
    )
    code, text = run(runner, path, "check")
    assert code == 1
    assert "spacing.min_interval" in text
    assert "secret_key" in text
    assert "123456789012" not in text and "pigeon-pass" not in text


def test_missing_explicit_file_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    code, text = run(runner, tmp_path / "absent.toml", "check")
    assert code == 1
    assert "does not exist" in text


def test_a_plugin_refusing_its_section_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[plugins.vpn.routes.bad]
url = "ftp://bob:ftp-s3cret@127.0.0.1:21"

[plugins.telegram]
chat_id = "100200300"
""",
    )
    code, text = run(runner, path, "check")
    assert code == 1
    assert (
        "error: plugins.vpn: plugin failed to load: ConfigError: [plugins.vpn.routes.bad]" in text
    )
    assert "error: plugins.telegram:" in text and "no bot_token" in text
    assert "ftp-s3cret" not in text

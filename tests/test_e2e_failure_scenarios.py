"""The specification's failure scenarios, end to end, as a user meets them:

- every VPN route dies mid-upload: the browser layer publishes (one post);
- a platform is down (every call answers 5xx): the delivery goes through the
  chain to the manual queue with ONE alert to the operator, not one per try;
- every layer is forced to fail: the manual package is complete (video,
  metadata, instructions, the reason) and holds no secret.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pellacia.testing.cli import CLI, cli_env, sql, wait_for
from pellacia.testing.videos import make_large, make_video
from pellacia_vpn.importer import import_route
from pellacia_vpn.testing import world as w
from pellacia_vpn.tunnel import Credentials
from vpn_world import FAKE_IP, MISSING, direct_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not (shutil.which("chromium") or Path("/usr/bin/chromium").is_file()),
        reason="Chromium is not installed",
    ),
]

PLATFORM = "tiktok"
#: the TikTok fake's API (its web pages, TikTok Studio, live under /tiktokstudio/)
API_PATHS = "^/v2/"


@pytest.fixture(autouse=True)
def _no_fault_left_behind(sandbox: Any) -> Iterator[None]:
    """The faults and page modes armed here must not reach the tests after these."""
    asyncio.run(sandbox.control.reset(PLATFORM))
    yield
    asyncio.run(sandbox.control.clear_faults())
    asyncio.run(sandbox.control.reset(PLATFORM))


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


class Operator:
    """A Telegram chat of the sandbox's fake that alerts go to, with its own bot."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.bot_id = 7_000_000_000 + secrets.randbelow(10**8)
        self.token = f"{self.bot_id}:AAF{secrets.token_hex(16)}"
        self.chat_id = 100_000_000 + secrets.randbelow(10**8)
        sandbox.host.fake("telegram").add_chat(self.chat_id)

    def config(self) -> str:
        return (
            f'[plugins.telegram]\nbot_token = "{self.token}"\nchat_id = "{self.chat_id}"\n'
            f'base_url = "{self.sandbox.base_url}/telegram"\n'
        )

    def messages(self) -> list[dict[str, Any]]:
        state = asyncio.run(self.sandbox.control.state("telegram"))
        return [m for m in state["messages"] if m["bot_id"] == self.bot_id]


def _sign_in(sandbox: Any, env: dict[str, str], tmp_path: Path) -> str:
    """`auth login` and a browser profile signed in to the fake's pages; the cookie."""
    login = _cli(env, "auth", "login", PLATFORM)
    assert login.returncode == 0, login.stdout + login.stderr
    cookie = sandbox.host.fake(PLATFORM).web.sessions.issue("sandbox-account")
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "cookies": [
                    {"name": "sessionid", "value": cookie, "domain": "127.0.0.1", "path": "/"}
                ]
            }
        )
    )
    login = _cli(env, "browser", "login", PLATFORM, "--account", "default", "--import", str(state))
    assert login.returncode == 0, login.stdout + login.stderr
    return cookie


def _env(
    sandbox: Any, pg_dsn: str, tmp_path: Path, chain: list[str] | None, extra: str
) -> dict[str, str]:
    """The CLI's environment: TikTok's ``chain`` (None: the default one), short
    retries, and ``extra`` config."""
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    chains = f"[chains]\n{PLATFORM} = {json.dumps(chain)}\n" if chain else ""
    config.write_text(
        f'data_dir = "{data}"\n{chains}'
        "[retry]\ntries_per_layer = 2\nbase_delay = 0.05\nmax_delay = 0.2\n" + extra
    )
    return cli_env(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_CONFIG=str(config),
        PELLACIA_SANDBOX_URL=sandbox.base_url,
        NO_COLOR="1",
    )


def _upload(env: dict[str, str], clip: Path, title: str) -> dict[str, Any]:
    argv = ["upload", "--platform", PLATFORM, "--file", str(clip), "--title", title]
    done = _cli(env, *argv, "--test", "--wait", "--json")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    [delivery] = json.loads(done.stdout)["deliveries"]
    return dict(delivery)


def test_platform_down_goes_through_the_chain_to_manual_with_one_alert(
    sandbox: Any, pg_dsn: str, tmp_path: Path
) -> None:
    operator = Operator(sandbox)
    # the default chain: api, api+vpn and browser+vpn (no route here: skipped), browser, manual
    env = _env(sandbox, pg_dsn, tmp_path, None, operator.config())
    _sign_in(sandbox, env, tmp_path)
    # the whole platform is down: its API and its web pages answer 5xx to everything
    asyncio.run(sandbox.control.add_fault(PLATFORM, "server_error", times=None))
    # a slow Telegram: the alert is still on its way when the delivery is final and
    # `upload --wait` stops its worker (which once cut the alert off)
    asyncio.run(sandbox.control.add_fault("telegram", "delay", times=None, seconds=0.5))
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, width=360, height=640)
    delivery = _upload(env, clip, "Platform down")
    assert delivery["state"] == "manual", delivery

    tried = sql(
        pg_dsn,
        "SELECT layer, outcome, error FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
        _uuid(delivery["id"]),
    )
    # the web page's failure says the site is down, not that the page changed
    assert "page answered HTTP 5" in tried[-1]["error"], tried[-1]["error"]
    layers = [r["layer"] for r in tried]
    assert layers.count("api") == 2 and layers.count("browser") == 2, tried  # every layer tried
    assert all(r["outcome"] == "error" for r in tried), tried
    alerts = sql(pg_dsn, "SELECT payload FROM events WHERE kind = 'alert'")
    assert len(alerts) == 1, [a["payload"] for a in alerts]  # one, not one per try
    assert "needs a person" in alerts[0]["payload"]["title"]
    sent = operator.messages()
    assert len(sent) == 1, sent  # it reached the operator, once
    [message] = sent
    assert delivery["id"] in message["text"] and "needs a person" in message["text"]
    assert asyncio.run(sandbox.control.state(PLATFORM))["posts"] == []


def test_every_layer_failing_leaves_a_complete_manual_package_without_secrets(
    sandbox: Any, pg_dsn: str, tmp_path: Path
) -> None:
    operator = Operator(sandbox)
    chain = ["api", "api+vpn", "browser", "browser+vpn", "manual"]
    # a proxy route nothing listens behind: both +vpn layers fail to connect
    dead_proxy = '[plugins.vpn.routes.dead]\nkind = "proxy"\nurl = "socks5://127.0.0.1:9"\n'
    env = _env(sandbox, pg_dsn, tmp_path, chain, operator.config() + dead_proxy)
    cookie = _sign_in(sandbox, env, tmp_path)
    control = sandbox.control
    asyncio.run(control.add_fault(PLATFORM, "server_error", path=API_PATHS, times=None))
    sandbox.host.fake(PLATFORM).web.configure(captcha=True)  # the web page wants a human
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, width=360, height=640)
    title = "Everything failed"
    delivery = _upload(env, clip, title)
    assert delivery["state"] == "manual", delivery

    tried = sql(
        pg_dsn,
        "SELECT DISTINCT layer FROM delivery_attempts WHERE delivery_id = $1",
        _uuid(delivery["id"]),
    )
    assert {r["layer"] for r in tried} == set(chain) - {"manual"}, tried
    [row] = sql(
        pg_dsn, "SELECT manual_package, last_error FROM deliveries WHERE id = $1",
        _uuid(delivery["id"]),
    )  # fmt: skip
    package = Path(row["manual_package"])
    names = {p.name for p in package.iterdir()}
    assert {"video.mp4", "metadata.json", "INSTRUCTIONS.md", "errors.json"} <= names, names
    assert (package / "video.mp4").read_bytes() == clip.read_bytes()
    meta = json.loads((package / "metadata.json").read_text())
    assert meta["platform"] == PLATFORM and meta["title"] == title
    assert meta["reason"] == row["last_error"] and meta["reason"]
    instructions = (package / "INSTRUCTIONS.md").read_text()
    assert row["last_error"] in instructions
    assert f"manual resolve --id {delivery['id']}" in instructions
    assert any(p.suffix == ".png" for p in (package / "screenshots").iterdir())  # the captcha

    secret_values = [
        operator.token,
        cookie,
        *_stored_tokens(pg_dsn, tmp_path / "data"),
        urlsplit(pg_dsn).password or "",
    ]
    for path in package.rglob("*"):
        if path.is_file():  # every file, the video and screenshots too
            content = path.read_bytes()
            leaked = [s[:6] for s in secret_values if s and s.encode() in content]
            assert not leaked, (path.name, leaked)
    for message in operator.messages():  # the alerts (the captcha, the manual entry)
        assert not [s[:6] for s in secret_values if s and s in message["text"]]


def _uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def _stored_tokens(dsn: str, data: Path) -> list[str]:
    """The access and refresh tokens `auth login` sealed in the vault."""
    from pellacia.store.pool import connect_one
    from pellacia.vault import open_vault

    async def read() -> list[str]:
        conn = await connect_one(dsn)
        try:
            tokens = await open_vault(data, None).get(conn, PLATFORM, "default")
        finally:
            await conn.close()
        assert tokens is not None
        return [tokens.access_token, tokens.refresh_token or ""]

    return asyncio.run(read())


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_every_vpn_route_dying_mid_upload_the_browser_publishes_once(
    world: w.World, fake_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    """The API is reachable only through tunnels (no direct route to the fake);
    both tunnels' servers die mid-file; the web page, reachable directly, posts."""
    from pellacia_sandbox.control import SandboxControl

    data = tmp_path / "data"
    for name in ("o1", "w1"):
        openvpn = name.startswith("o")
        import_route(
            world.openvpn_client(name, f"pw-{name}") if openvpn else world.wireguard_client(name),
            name=name,
            data_dir=data,
            routes_dir=data / "vpn",
            platforms=[PLATFORM],
            credentials=Credentials(name, f"pw-{name}") if openvpn else None,
        )
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{data}"\n'
        f'[chains]\n{PLATFORM} = ["api", "api+vpn", "browser", "manual"]\n'
        "[retry]\ntries_per_layer = 2\nbase_delay = 0.2\nmax_delay = 1\n"
        f'[plugins.vpn]\ndir = "{data / "vpn"}"\nprefix = "pve"\nsubnet = "10.205.0.0/16"\n'
        f'check_url = "{w.CHECK_URL}"\nprobe_interval = 0.25\nprobe_timeout = 1.0\n'
    )
    env = cli_env(
        PELLACIA_DATABASE_URL=pg_dsn,
        PELLACIA_CONFIG=str(config),
        PELLACIA_SANDBOX_URL=fake_url,
        NO_COLOR="1",
    )
    direct_path(True)  # signing in is not what this test is about
    login = _cli(env, "auth", "login", PLATFORM)
    assert login.returncode == 0, login.stdout + login.stderr
    cookie = _web_session(fake_url)
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {"cookies": [{"name": "sessionid", "value": cookie, "domain": FAKE_IP, "path": "/"}]}
        )
    )
    login = _cli(env, "browser", "login", PLATFORM, "--account", "default", "--import", str(state))
    assert login.returncode == 0, login.stdout + login.stderr

    control = SandboxControl(fake_url)
    # slow chunks, so the tunnels die while the file is on its way
    asyncio.run(control.add_fault(PLATFORM, "delay", method="PUT", times=None, seconds=0.7))
    seed = make_video(tmp_path / "seed.mp4", seconds=1.0, width=720, height=1280)
    clip = make_large(seed, tmp_path / "big.mp4", 32 * 1024 * 1024)
    direct_path(False)
    upload = subprocess.Popen(
        [CLI, "upload", "--platform", PLATFORM, "--file", str(clip), "--title", "No tunnel left",
         "--test", "--force-vpn-fallback", "--wait", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: (
                upload.poll() is not None
                or any(
                    (r["bytes_sent"] or 0) > 0
                    for r in sql(pg_dsn, "SELECT bytes_sent FROM deliveries")
                )
            ),
            "a chunk through a tunnel",
        )
        assert upload.poll() is None, upload.communicate()
        world.stop("openvpn")  # every route's server, mid-file
        world.stop("wireguard")
        direct_path(True)  # the web page is reachable directly; the API never was
        out, err = upload.communicate(timeout=90)
    finally:
        if upload.poll() is None:
            upload.kill()
            upload.communicate()
    assert upload.returncode == 0, out + err
    [delivery] = json.loads(out)["deliveries"]
    assert delivery["state"] == "published", delivery
    tried = sql(pg_dsn, "SELECT layer, route, outcome FROM delivery_attempts ORDER BY id")
    steps = [(r["layer"], r["outcome"]) for r in tried]
    assert steps[-1] == ("browser", "published"), steps
    assert {r["route"] for r in tried if r["layer"] == "api+vpn"} <= {"vpn:o1", "vpn:w1"}
    assert all(o == "error" for layer, o in steps if layer == "api+vpn"), steps
    asyncio.run(control.clear_faults())
    fake = asyncio.run(control.state(PLATFORM))
    [post] = [p for p in fake["posts"] if p.get("title") == "No tunnel left"]  # exactly one
    assert post["publish_id"].startswith("v_web")  # made by the web page
    assert post["bytes"] == clip.stat().st_size


def _web_session(fake_url: str) -> str:
    """A session cookie from the fake's sign-in form (what a person does once)."""
    import http.client
    from http.cookies import SimpleCookie

    where = urlsplit(fake_url)
    conn = http.client.HTTPConnection(where.hostname or FAKE_IP, where.port, timeout=10)
    try:
        conn.request(
            "POST",
            f"{where.path.rstrip('/')}/{PLATFORM}/login",
            body="username=sandbox-account",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        reply = conn.getresponse()
        cookies = SimpleCookie(reply.getheader("Set-Cookie") or "")
    finally:
        conn.close()
    return cookies["sessionid"].value

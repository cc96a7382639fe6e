"""No secret leaks, end to end: a realistic run against the sandbox, then a scan
of everything it left behind for every secret it handled.

The run signs in three platforms (with their own OAuth client secrets), stores
hand-made tokens for a spare account, imports a VPN route with a password and
a browser session cookie, makes API keys and a webhook, serves the API and runs
a worker at debug level, posts through the API, forces a token refresh, sends X
into the manual queue (a package, a Telegram alert, a webhook message) and
TikTok there through its browser layer (a captcha: screenshot and page HTML).
The browser plugin records no Playwright traces; any it would write under the
data directory is unzipped and scanned with the rest. It then asks every
``--json`` command it can, provokes errors, exports the manual package as a
zip and dumps the database.

The scan looks for each secret (and its URL-encoded form) in: the logs and
stderr of every process, every ``--json`` output, error bodies and messages,
the webhook payloads received, the manual package (folder and zip), every file
in the data directory, and the ``pg_dump``. Each kind of artefact must have
been seen and be non-empty: a scan of nothing fails. The only places a secret
may appear are the outputs that show it once by design (``api-key create``,
``webhook add``).
"""

from __future__ import annotations

import asyncio
import glob
import json
import shutil
import signal
import socket
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pellacia.testing.cli import CLI, cli_env, sql, wait_for
from pellacia.testing.videos import make_video

pytestmark = pytest.mark.slow

PLATFORMS = ("youtube", "tiktok", "twitter")
CLIENT_SECRETS = {
    "youtube": "cs-youtube-Zq8Wm4Rt7Kp2Lx9V",
    "tiktok": "cs-tiktok-Hj3Nd6Fs1Qw5Ey8B",
    "twitter": "cs-twitter-Uc7Ga2Mv4Ti9Ok3P",
}
BOT_TOKEN = "4242424242:AAHscanBotTokenVq7Xm2Lp9Rz4WkE5sT1u"
VPN_PASSWORD = "vpn-pw-scan-Jf8Dq3Xs6Ln1"
#: in the database URL every process gets (the test cluster trusts its socket: any works)
DB_PASSWORD = "db-pw-scan-Rk2Vn7Hq4Ws9"
SPARE = {
    "access_token": "spare-at-scan-Yb5Hc8Ne2Tm7",
    "refresh_token": "spare-rt-scan-Gv4Kw9Pa1Sx6",
}
CHAT = 100200300


@dataclass
class Artefacts:
    """What the run left behind, by kind: (label, bytes)."""

    items: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    def add(self, kind: str, label: str, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.items.setdefault(kind, []).append((label, raw))

    def add_file(self, kind: str, path: Path) -> None:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    self.add(kind, f"{path.name}!{name}", archive.read(name))
        self.add(kind, str(path), path.read_bytes())


class Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint on 127.0.0.1 keeping every request's headers and body."""

    received: list[bytes] = []

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(size)
        type(self).received.append(bytes(str(self.headers), "latin-1") + body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[type[Receiver], str]]:
    handler = type("Hook", (Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def scan_sandbox(sandbox: Any) -> Iterator[Any]:
    """The session's sandbox with tokens that are easy to tell apart and the
    clients' secrets checked; put back as it was afterwards."""
    for platform in PLATFORMS:
        asyncio.run(sandbox.control.reset(platform))
        sandbox.host.fake(platform).tokens.prefix = f"scan-{platform}"
    sandbox.host.fake("tiktok").configure(client_secret=CLIENT_SECRETS["tiktok"])
    asyncio.run(sandbox.control.reset("telegram"))
    try:
        yield sandbox
    finally:
        asyncio.run(sandbox.control.clear_faults())
        for platform in (*PLATFORMS, "telegram"):
            asyncio.run(sandbox.control.reset(platform))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(tmp: Path, sandbox_url: str) -> Path:
    accounts = "".join(
        f'[[accounts.{p}]]\nname = "default"\nclient_id = "{"scan-yt-client" if p == "youtube" else "sandbox-client"}"\n'
        f'client_secret = "{CLIENT_SECRETS[p]}"\n'
        for p in PLATFORMS
    )
    path = tmp / "config.toml"
    path.write_text(
        f'data_dir = "{tmp / "data"}"\n'
        'log_level = "debug"\n'
        "[spacing]\nmin_interval = 0\njitter = 0\n"
        "[retry]\ntries_per_layer = 2\nbase_delay = 0.05\nmax_delay = 0.2\nprocessing_check_every = 0.2\n"
        '[chains]\nyoutube = ["api"]\ntiktok = ["api", "browser", "manual"]\n'
        'twitter = ["api", "manual"]\n'
        f'[api]\nallowed_roots = ["{tmp / "in"}"]\n'
        '[webhooks]\nallowed_hosts = ["127.0.0.1"]\ninterval = 0.2\n'
        f'[plugins.telegram]\nbot_token = "{BOT_TOKEN}"\nchat_id = "{CHAT}"\n'
        f'base_url = "{sandbox_url}/telegram"\ngroup_window = 0\n'
        # processing polls at once: the run is about secrets, not waiting
        "[plugins.youtube]\nprocessing_poll_interval = 0.1\n"
        "[plugins.tiktok]\nstatus_poll_interval = 0.1\n" + accounts
    )
    return path


def _run(
    env: dict[str, str], art: Artefacts, *args: str, stdin: str | None = None, kind: str = "cli"
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [CLI, "--log-level", "debug", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    art.add(kind, " ".join(args), done.stdout + (done.stderr if kind == "errors" else ""))
    art.add("stderr", " ".join(args), done.stderr)
    return done


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, [*done.args, done.stdout, done.stderr]
    return done


def _pg_dump(dsn: str) -> bytes:
    tool = shutil.which("pg_dump") or max(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    dump = subprocess.run(
        [tool, "--no-owner", "--data-only", "-d", dsn], capture_output=True, timeout=60
    )
    assert dump.returncode == 0, dump.stderr
    return dump.stdout


def _vault_tokens(env: dict[str, str], dsn: str) -> set[str]:
    """Every token the vault holds now, unsealed with the run's own key."""
    from pellacia.store import credentials
    from pellacia.store.pool import connect_one
    from pellacia.vault import load_keyring, unseal

    ring = load_keyring(Path(env["PELLACIA_DATA_DIR"]), None, create=False)

    async def read() -> set[str]:
        conn = await connect_one(dsn)
        try:
            rows = await credentials.all_rows(conn)
        finally:
            await conn.close()
        found = set()
        for r in rows:
            tokens = unseal(ring.find(r["key_id"]), r["platform"], r["account"], r["ciphertext"])
            found |= {t for t in (tokens.access_token, tokens.refresh_token) if t}
        return found

    return asyncio.run(read())


def _forms(secret: str) -> set[str]:
    """The secret as it could be written down: raw, URL-encoded, base64 body."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    if secret.startswith("whsec_"):
        forms.add(secret.removeprefix("whsec_"))
    return {f for f in forms if len(f) >= 12}


def test_no_secret_in_any_artefact_of_an_e2e_run(
    scan_sandbox: Any,
    pg_dsn: str,
    tmp_path: Path,
    receiver: tuple[type[Receiver], str],
) -> None:
    sandbox = scan_sandbox
    hook, hook_url = receiver
    art = Artefacts()
    (tmp_path / "in").mkdir()
    config = _config(tmp_path, sandbox.base_url)
    env = cli_env(
        PELLACIA_CONFIG=str(config),
        PELLACIA_DATABASE_URL=pg_dsn.replace("://postgres@", f"://postgres:{DB_PASSWORD}@"),
        PELLACIA_DATA_DIR=str(tmp_path / "data"),
        PELLACIA_SANDBOX_URL=sandbox.base_url,
    )
    sandbox.host.fake("telegram").add_chat(CHAT)

    # ---- sign in, keys, a webhook, a VPN route
    _ok(_run(env, art, "auth", "login", "youtube", "--no-browser"))  # makes the vault key
    ovpn = tmp_path / "route.ovpn"
    ovpn.write_text("client\ndev tun\nproto udp\nremote 127.0.0.1 1194\nauth-user-pass\n")
    # the browser layer's session: a cookie of TikTok's fake upload page
    cookie = sandbox.host.fake("tiktok").web.sessions.issue("sandbox-account")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"cookies": [
        {"name": "sessionid", "value": cookie, "domain": "127.0.0.1", "path": "/"}]}))  # fmt: skip
    setup: list[tuple[str, tuple[str, ...], str | None]] = [
        ("cli", ("browser", "login", "tiktok", "--account", "default", "--import", str(state)),
         None),
        ("cli", ("auth", "login", "tiktok", "--no-browser"), None),
        ("cli", ("auth", "login", "twitter", "--no-browser"), None),
        ("cli", ("auth", "set", "youtube", "--account", "spare", "--stdin"), json.dumps(SPARE)),
        ("cli", ("vpn", "import", str(ovpn), "--name", "scanvpn", "--username", "scanuser",
                 "--password-stdin"), VPN_PASSWORD + "\n"),
        ("shown-once", ("api-key", "create", "--name", "scan-read", "--scopes", "read",
                        "--json"), None),
        ("shown-once", ("api-key", "create", "--name", "scan-admin", "--scopes", "admin",
                        "--json"), None),
        ("shown-once", ("webhook", "add", hook_url, "--json"), None),
    ]  # fmt: skip
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda c: _ok(_run(env, art, *c[1], stdin=c[2], kind=c[0])), setup))
    keys = {"read": json.loads(made[5].stdout)["key"], "admin": json.loads(made[6].stdout)["key"]}
    webhook_secret = json.loads(made[7].stdout)["secret"]

    # ---- serve the API and run a worker, both at debug level
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    serve_log, worker_log = (logs / "serve.log").open("wb"), (logs / "worker.log").open("wb")
    base = [CLI, "--log-level", "debug"]
    serve = subprocess.Popen([*base, "serve", "--port", str(port)], env=env,
                             stdout=serve_log, stderr=subprocess.STDOUT)  # fmt: skip
    worker: subprocess.Popen[bytes] | None = None
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        wait_for(lambda: _answers(api), "the API to answer", 30)
        clip = make_video(tmp_path / "in" / "clip.mp4", seconds=1.0, width=360, height=640)
        admin = {"X-API-Key": keys["admin"]}
        created = api.post("/v1/posts", headers=admin, json={
            "path": str(clip), "platforms": list(PLATFORMS), "title": "Scan run", "test": True})  # fmt: skip
        assert created.status_code == 201, created.text
        art.add("json", "POST /v1/posts", created.text)
        # errors: unknown key, read key writing, a path outside the roots
        for answer in (
            api.get("/v1/queue", headers={"X-API-Key": keys["admin"][:-4] + "xxxx"}),
            api.post("/v1/posts", headers={"X-API-Key": keys["read"]}, json={"path": "/x"}),
            api.post("/v1/posts", headers=admin, json={"path": str(config), "platforms": ["x"]}),
        ):
            assert answer.status_code in (400, 401, 403), answer.text
            art.add("errors", f"{answer.request.method} {answer.request.url}", answer.text)
        asyncio.run(sandbox.control.expire_tokens("youtube"))  # the worker must refresh
        asyncio.run(sandbox.control.add_fault("twitter", "server_error", path="^/2/", times=None))
        # TikTok's API fails, its upload page shows a captcha: screenshots, then manual
        asyncio.run(sandbox.control.add_fault("tiktok", "server_error", path="^/v2/post/",
                                              times=None))  # fmt: skip
        sandbox.host.fake("tiktok").web.configure(captcha=True)
        worker = subprocess.Popen([*base, "worker"], env=env, stdout=worker_log,
                                  stderr=subprocess.STDOUT)  # fmt: skip
        post_id = created.json()["post_id"]

        def settled() -> bool:
            rows = sql(pg_dsn, "SELECT state FROM deliveries WHERE post_id = $1", post_id)
            return all(r["state"] in ("published", "manual", "failed") for r in rows)

        wait_for(settled, "every delivery to settle", 60)
        wait_for(lambda: len(hook.received) >= 4, "webhook messages", 30)
        wait_for(lambda: sandbox.host.fake("telegram").snapshot()["messages"] != [],
                 "the Telegram alert", 30)  # fmt: skip
        for path in ("/v1/queue", f"/v1/posts/{post_id}", "/v1/manual", "/v1/accounts",
                     "/v1/webhooks", "/v1/routes", "/metrics"):  # fmt: skip
            answer = api.get(path, headers=admin)
            assert answer.status_code == 200, (path, answer.text)
            art.add("json", f"GET {path}", answer.text)
    finally:
        api.close()
        for proc in (worker, serve):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        serve_log.close()
        worker_log.close()
    states = {r["platform"]: r["state"] for r in sql(
        pg_dsn, "SELECT platform, state FROM deliveries WHERE post_id = $1", post_id)}  # fmt: skip
    assert states == {"youtube": "published", "tiktok": "manual", "twitter": "manual"}, states
    assert sandbox.host.fake("youtube").tokens.stats["refreshes"] >= 1

    # ---- every --json the CLI has for this state, errors, the manual package
    [manual_id] = [str(r["id"]) for r in sql(
        pg_dsn, "SELECT id FROM deliveries WHERE platform = 'tiktok'")]  # fmt: skip
    export = tmp_path / "export"
    export.mkdir()
    broken = tmp_path / "broken.toml"
    # a config with a secret next to a mistake: the error names the mistake, not the secret
    broken.write_text(
        f'[accounts.youtube]\nname = "x"\nclient_secret = "{CLIENT_SECRETS["youtube"]}"\n'
        f'[plugins.telegram]\nbot_token = "{BOT_TOKEN}"\nmin_level = "loud"\n'
    )
    bad_env = {**env, "PELLACIA_CONFIG": str(broken)}
    calls: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
        ("json", env, (*args, "--json"))
        for args in (
            ("queue", "status"), ("manual", "list"), ("account", "list"), ("auth", "list"),
            ("schedule", "list"), ("webhook", "list"), ("api-key", "list"), ("config", "show"),
            ("config", "check"), ("plugins", "list"), ("vpn", "status"), ("db", "status"),
            ("manual", "export", "--id", manual_id, "--zip", "--to", str(export)),
        )
    ]  # fmt: skip
    calls += [
        ("errors", env, args)
        for args in (
            ("manual", "resolve", "--id", "ffffffff", "--post-url", "https://x.com/a/status/1"),
            ("auth", "set", "tiktok", "--token-file", str(tmp_path / "absent.json")),
            ("webhook", "add", "http://10.0.0.1/x"),
            ("upload", "--platform", "nowhere", "--file", str(clip)),
        )
    ]
    calls += [
        ("errors", bad_env, args)
        for args in (("config", "check", "--json"), ("config", "show"), ("queue", "status"))
    ]
    # independent commands: a few at a time (each is mostly interpreter start-up)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: _run(c[1], art, *c[2], kind=c[0]), calls))
    for (kind, _env, args), done in zip(calls, results, strict=True):
        if kind == "json":
            json.loads(_ok(done).stdout)
        else:
            assert done.returncode != 0, args
    for done in results[-3:]:
        assert "accounts" in done.stdout + done.stderr, done
    for path in logs.iterdir():
        art.add_file("logs", path)
    for message in hook.received:
        art.add("webhooks", "received", message)
    art.add("telegram", "sent", json.dumps(sandbox.host.fake("telegram").snapshot()["messages"]))
    for path in export.rglob("*"):
        if path.is_file():
            art.add_file("manual", path)
    key_file = tmp_path / "data" / "secret.key"  # the vault key: where it must be, only
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file() and not path.is_symlink() and path != key_file:
            art.add_file("data-dir", path)
    art.add("pg_dump", pg_dsn, _pg_dump(pg_dsn))

    # ---- the secrets
    issued = {
        token
        for platform in PLATFORMS
        for token, held in vars(sandbox.host.fake(platform).tokens)["_tokens"].items()
        if held.kind in ("access", "refresh")
    }
    vault = _vault_tokens(env, pg_dsn)
    assert vault and vault <= issued | set(SPARE.values()), "the vault holds the issued tokens"
    secrets = {
        **{f"token {t[:14]}": t for t in issued | vault},
        **{f"spare {k}": v for k, v in SPARE.items()},
        **{f"client secret {p}": s for p, s in CLIENT_SECRETS.items()},
        "telegram bot token": BOT_TOKEN,
        "browser session cookie": cookie,
        "vpn password": VPN_PASSWORD,
        "vault key": key_file.read_text().strip(),
        **(
            {"database password": DB_PASSWORD}
            if DB_PASSWORD in env["PELLACIA_DATABASE_URL"]
            else {}
        ),
        "webhook secret": webhook_secret,
        **{f"api key {scope}": key for scope, key in keys.items()},
    }
    shown_once = {label for label, _ in art.items["shown-once"]}
    assert len(shown_once) == 3

    # ---- the scan (the outputs that show a secret once by design excepted)
    kinds = ("cli", "stderr", "json", "errors", "logs", "webhooks", "telegram", "manual",
             "data-dir", "pg_dump")  # fmt: skip
    for kind in kinds:
        assert any(data for _label, data in art.items.get(kind, ())), f"no {kind} to scan"
    assert all(data for _label, data in art.items["errors"]), "every error says something"
    logged = b"".join(d for _l, d in art.items["logs"])
    assert b"published" in logged and b"needs a person" in logged, "the logs tell the run"
    assert any(label.endswith(".zip!metadata.json") for label, _ in art.items["manual"])
    # the browser layer's evidence (page HTML, screenshot) and its Chromium profile
    assert any(
        "screenshots/" in label and label.endswith(".html") for label, _ in art.items["manual"]
    )
    assert any("/browser/profiles/" in label for label, _ in art.items["data-dir"])
    leaks = [
        f"{name} in {kind}: {label}"
        for kind in kinds
        for label, data in art.items[kind]
        for name, secret in secrets.items()
        if any(form.encode() in data for form in _forms(secret))
    ]
    assert leaks == []
    # the scan can find: each secret is where it is shown once, or used as such
    shown = b"".join(d for _l, d in art.items["shown-once"])
    assert keys["admin"].encode() in shown and webhook_secret.encode() in shown


def _answers(api: httpx.Client) -> bool:
    try:
        return api.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False

"""The chaos run shared by ``bench/chaos.py`` and the test suite.

Everything is local, in one temporary directory: a private PostgreSQL cluster
(``pellacia-dist db up``) and the sandbox's six platform fakes on 127.0.0.1,
in this process, with probabilistic faults armed on every platform. It:

1. signs ``accounts`` accounts in on each platform through the plugins' own
   sign-in (the fake's consent page, one user per account: a Meta sign-in
   binds a Page and its Instagram account) and submits posts through the
   product's ``create_post`` until there are ``deliveries`` deliveries;
2. runs ``workers`` ``pellacia-dist worker`` processes and SIGKILLs them at
   random (and at fixed points of progress, so a short run gets its kills too),
   restarting each at once; expires every platform's tokens now and then;
   stops PostgreSQL and starts it again mid-run; takes the sandbox down and
   brings it back on the same port with its state (a platform's outage);
3. once every delivery is final, compares the database with what each fake
   holds (``Audit``) and prints the breakdown and one summary line.

SQL here only reads (the audit and the claim probe's rolled-back claim): it
is measurement, as in ``bench/``, not a second store.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pellacia.store import audit as store_audit
from pellacia.store import models

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
PLATFORMS: tuple[str, ...] = ("tiktok", "youtube", "instagram", "facebook", "twitter", "linkedin")
#: one sign-in per entry: the platform signed in on -> every platform it serves
SIGN_INS: dict[str, tuple[str, ...]] = {
    "tiktok": ("tiktok",),
    "youtube": ("youtube",),
    "facebook": ("facebook", "instagram"),
    "twitter": ("twitter",),
    "linkedin": ("linkedin",),
}
FINAL = frozenset(str(state) for state in models.FINAL)
#: not the token endpoints: a rotating refresh token (X) whose answer is lost is
#: gone for good, and only a new sign-in mends that (the platform's protocol)
_NOT_TOKEN_ENDPOINTS = r"^(?!.*(?:oauth|/token|accessToken))"
#: the calls that create or finish a post on each platform (lost answers there
#: are what reconcile-before-repeat exists for)
PUBLISH_PATHS: dict[str, str] = {
    "tiktok": r"/publish/video/init/|/upload/video/",
    "youtube": r"/upload/youtube/v3/videos",
    "instagram": r"media_publish",
    "facebook": r"video_reels|/upload:",
    "twitter": r"/2/tweets$|/finalize",
    "linkedin": r"/rest/posts|/rest/videos",
}
#: (kind, share of the fault rate, rule fields); "publish" rules get PUBLISH_PATHS
FAULT_MIX: tuple[tuple[str, float, dict[str, Any]], ...] = (
    ("server_error", 0.28, {}),
    # the API's own throttle answer, which its OAuth server never gives (Google's
    # would read as a refused refresh)
    ("rate_limit", 0.12, {"retry_after": 2, "path": _NOT_TOKEN_ENDPOINTS}),
    ("reset", 0.16, {"after_bytes": 32768, "path": _NOT_TOKEN_ENDPOINTS}),
    ("lose_response", 0.12, {"path": _NOT_TOKEN_ENDPOINTS}),
    ("lose_response", 0.12, {"path": "publish"}),
    ("delay", 0.14, {"seconds": 1.0}),
    ("reset", 0.06, {"after_bytes": 0, "path": _NOT_TOKEN_ENDPOINTS}),
)
# Token expiry is not a rule: a 401 drawn at random also refuses the token a
# refresh issued a moment ago, which no platform does (a run of 10,000 made
# ~75 such "refused after a refresh" manual entries, all the injector's). The
# fakes expire every token they issued each ``expire_every`` seconds instead
# (``Run.expire_tokens``): every delivery in flight then meets a real 401 and
# the refresh path.
#: the Meta plugin's fixed 24-hour budgets are 30 reels / 50 posts per account:
#: at most this many deliveries per account and platform keeps a run inside them
PER_ACCOUNT = 25
MARKER = re.compile(r"\bCX(\d{6})\b")


@dataclass
class ChaosOptions:
    """What a run does; the defaults are the bench's."""

    deliveries: int = 1000
    accounts: int = 8
    workers: int = 3
    concurrency: int = 4
    size: int = 4 * 1024**2
    fault_rate: float = 0.10
    kill_every: float = 8.0
    min_kills: int = 3
    lease: float = 5.0
    spacing: float = 0.0
    expire_every: float = 15.0
    db_restart: bool = True
    sandbox_restart: bool = True
    outage_seconds: float = 3.0
    chain: tuple[str, ...] = ("api", "manual")
    retry_base_delay: float = 1.0
    retry_max_delay: float = 8.0
    #: seconds between checks of an uploaded video (and YouTube's wait after an
    #: unannounced rate limit); the product's default is a minute
    check_every: float = 10.0
    #: Meta throttled with a plain 429 + Retry-After instead of its own answer,
    #: which keeps an account away a minute at least (for a short run's budget)
    quick_throttles: bool = False
    #: LinkedIn sign-ins ask for r_member_social (reconcile can read the posts)
    linkedin_read_scope: bool = True
    window: int = 0  # deliveries per progress window; 0: a fifth of the run
    max_minutes: float = 60.0
    seed: int = 1


@dataclass
class Window:
    """One stretch of ``window`` finished deliveries."""

    finished: int
    seconds: float
    rate: float
    claim_p50_ms: float
    claim_p99_ms: float
    queued: int


@dataclass
class ChaosResult:
    """What the run counted and what the audit found."""

    deliveries: int = 0
    states: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    published_absent: list[str] = field(default_factory=list)
    present_not_published: list[str] = field(default_factory=list)
    manual_unknown: int = 0
    manual_other: int = 0
    manual_posted: list[str] = field(default_factory=list)
    manual_without_reason: list[str] = field(default_factory=list)
    manual_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: int = 0
    failed_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    drain_seconds: float = 0.0
    kills: int = 0
    exits: int = 0
    db_restarts: int = 0
    sandbox_restarts: int = 0
    token_expiries: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    faulted: dict[str, collections.Counter[str]] = field(default_factory=dict)
    attempts: int = 0
    attempts_without_outcome: int = 0
    windows: list[Window] = field(default_factory=list)

    @property
    def manual(self) -> int:
        return self.manual_unknown + self.manual_other

    @property
    def mismatches(self) -> int:
        return len(self.published_absent) + len(self.present_not_published)

    @property
    def ok(self) -> bool:
        """Nothing lost or doubled, the database agrees with the platforms, every
        manual entry says why."""
        return not (self.lost or self.duplicates or self.mismatches or self.manual_without_reason)

    @property
    def published_share(self) -> float:
        return self.states.get("published", 0) / max(1, self.deliveries)

    def summary(self) -> str:
        """The one line: lost, duplicates, mismatches, manual, failed, drain, kills."""
        return (
            f"chaos: {self.deliveries} deliveries on {len(PLATFORMS)} platforms"
            f" | lost {len(self.lost)} | duplicates {len(self.duplicates)}"
            f" | published-but-absent {len(self.published_absent)}"
            f" | present-but-not-published {len(self.present_not_published)}"
            f" | manual {self.manual} (outcome unknown {self.manual_unknown}"
            f" / other {self.manual_other}; in fact posted {len(self.manual_posted)})"
            f" | failed {self.failed}"
            f" | published without a person {100 * self.published_share:.2f} %"
            f" | drain {self.drain_seconds:.0f} s"
            f" | kills {self.kills} (+{self.exits} exits)"
            f" | db restarts {self.db_restarts} | sandbox restarts {self.sandbox_restarts}"
        )


def accounts_per_platform(options: ChaosOptions) -> int:
    """``options.accounts``, or more when a platform's share would exceed ``PER_ACCOUNT``."""
    per_platform = math.ceil(options.deliveries / len(PLATFORMS))
    return max(options.accounts, math.ceil(per_platform / PER_ACCOUNT))


def plan(options: ChaosOptions) -> list[tuple[str, list[tuple[str, str]]]]:
    """The posts to submit: (title, [(platform, account), ...]), ``deliveries`` in all."""
    accounts = accounts_per_platform(options)
    posts: list[tuple[str, list[tuple[str, str]]]] = []
    left = options.deliveries
    i = 0
    while left > 0:
        targets = [(p, f"a{i % accounts:03d}") for p in PLATFORMS[: min(left, len(PLATFORMS))]]
        posts.append((f"CX{i:06d} chaos", targets))
        left -= len(targets)
        i += 1
    return posts


# ------------------------------------------------------------------ set-up


class Run:
    """One chaos run in ``tmp``; ``log`` prints progress (bench) or nothing (tests)."""

    def __init__(
        self, options: ChaosOptions, tmp: Path, log: Callable[[str], None] | None = None
    ) -> None:
        self.o = options
        self.tmp = tmp
        self.log = log or (lambda _line: None)
        self.rng = random.Random(options.seed)
        self.result = ChaosResult()
        self.env: dict[str, str] = {}
        self.dsn = ""
        self.sandbox: Any = None
        self.sandbox_url = ""
        self.workers: list[subprocess.Popen[bytes]] = []
        self._started_workers = 0
        self._patched: list[tuple[Any, str, Any]] = []

    # the CLI ---------------------------------------------------------------

    def cli(self, *argv: str, embedded: bool = False) -> str:
        """``pellacia-dist argv``; ``embedded``: without DATABASE_URL (``db up/down``)."""
        env = dict(self.env)
        if embedded:
            env.pop("PELLACIA_DATABASE_URL", None)
        done = subprocess.run(
            [CLI, *argv], env=env, capture_output=True, text=True, timeout=180, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"pellacia-dist {' '.join(argv)} failed:\n{done.stderr}")
        return done.stdout

    def write_config(self) -> Path:
        accounts = accounts_per_platform(self.o)
        table = "".join(
            f'[[accounts.{p}]]\nname = "a{i:03d}"\n' for p in PLATFORMS for i in range(accounts)
        )
        chains = "".join(f"{p} = {json.dumps(list(self.o.chain))}\n" for p in PLATFORMS)
        # r_member_social (LinkedIn's selected partners) lets a reconcile read the
        # member's posts; without it every delivery killed after its upload is a
        # manual entry (outcome unknown), by design
        linkedin_scopes = (
            'scopes = ["openid", "profile", "w_member_social", "r_member_social"]'
            if self.o.linkedin_read_scope
            else ""
        )
        config = self.tmp / "config.toml"
        config.write_text(
            f"""lease_seconds = {self.o.lease}

[spacing]
min_interval = {self.o.spacing}
jitter = 0

[retry]
base_delay = {self.o.retry_base_delay}
max_delay = {self.o.retry_max_delay}
processing_check_every = {self.o.check_every}

[chains]
{chains}
[plugins.tiktok]
status_poll_interval = 0.5
daily_post_cap = 1000000

[plugins.youtube]
processing_poll_interval = 0.5
daily_units = 1000000000
rate_limit_wait = {self.o.check_every}

[plugins.instagram]
status_poll_interval = 0.5

[plugins.facebook]
status_poll_interval = 0.5

[plugins.twitter]
daily_post_cap = 1000000

[plugins.linkedin]
daily_post_cap = 1000000
processing_poll_interval = 0.5
{linkedin_scopes}

{table}"""
        )
        return config

    def start_sandbox(self) -> Any:
        from pellacia_sandbox import host as host_module
        from pellacia_sandbox.fakes import meta_graph
        from pellacia_sandbox.faults import FaultTable
        from pellacia_sandbox.thread import ThreadedSandbox

        # the audit reads every request; Meta's app budget is 200 calls an hour
        # per user of the app, the fake models one user, which a run over many
        # accounts outgrows in minutes (both put back by ``stop_sandbox``)
        for module, name in (
            (host_module, "MAX_LOGGED_REQUESTS"),
            (meta_graph, "APP_CALLS_PER_HOUR"),
        ):
            self._patched.append((module, name, getattr(module, name)))
            setattr(module, name, 10**8)
        self.sandbox = ThreadedSandbox(port=0, only=set(PLATFORMS))
        host = self.sandbox.start()
        self.sandbox_url = host.base_url
        # the product keeps to each platform's caps itself; the fakes' daily caps
        # are lifted so a long run measures the engine, not a calendar day
        host.fake("tiktok").config["daily_post_cap"] = 10**7
        host.fake("youtube").config.daily_units = 10**10
        host.fake("twitter").config["daily_post_cap"] = 10**7
        host.fake("linkedin").config["daily_posts"] = 10**7
        host.fake("facebook").reels_limit = 10**7
        host.fake("instagram").publish_limit = 10**7
        host.faults = FaultTable(random.Random(self.o.seed))
        return host

    def stop_sandbox(self) -> None:
        """Stop the sandbox and put back the fakes' limits ``start_sandbox`` lifted."""
        if self.sandbox is not None:
            self.sandbox.stop()
        for module, name, value in reversed(self._patched):
            setattr(module, name, value)
        self._patched.clear()

    def arm_faults(self, host: Any) -> None:
        for platform in PLATFORMS:
            for kind, share, extra in FAULT_MIX:
                rule = {
                    "platform": platform,
                    "kind": kind,
                    "times": None,
                    "probability": self.o.fault_rate * share,
                    **extra,
                }
                if rule.get("path") == "publish":
                    rule["path"] = PUBLISH_PATHS[platform]
                meta = platform in ("instagram", "facebook")
                if kind == "rate_limit" and (
                    platform == "linkedin" or (meta and self.o.quick_throttles)
                ):
                    # LinkedIn's own 429 is its daily limit (no header: the plugin
                    # waits for midnight UTC), Meta's throttle lasts a minute at least
                    # (quick_throttles: a short run's budget); a plain 429 says when
                    rule.update(
                        kind="status",
                        status=429,
                        headers={"Retry-After": str(extra["retry_after"])},
                        body={"status": 429, "message": "Resource level throttle limit reached"},
                    )
                    del rule["retry_after"]
                host.faults.add(rule)

    async def sign_in(self, pool: Any) -> None:
        """Every account on every platform through the plugin's own sign-in."""
        from pellacia.config import load_settings
        from pellacia.contract import TokenSet
        from pellacia.http import client_session
        from pellacia.oauth_login import sign_in
        from pellacia.plugins import get_registry
        from pellacia.testing.context import kit_client, kit_credentials
        from pellacia.tokens import StaticTokenSource, platform_context
        from pellacia.vault import open_vault

        settings = load_settings(self.tmp / "config.toml")
        registry = get_registry(settings.plugins)
        vault = open_vault(self.tmp / "data", None)
        accounts = accounts_per_platform(self.o)
        async with client_session() as http:
            for login, served in SIGN_INS.items():
                platform = registry.platforms[login]
                for i in range(accounts):
                    account = f"a{i:03d}"
                    ctx = platform_context(
                        platform,
                        account=account,
                        http=http,
                        tokens=StaticTokenSource(TokenSet(access_token="")),
                        settings=settings.plugins.get(login, {}),
                        sandbox_url=self.sandbox_url,
                    )

                    async def consent(url: str, user: str = account) -> None:
                        # the fake approves at once (as `user`) and redirects to
                        # the flow's loopback callback
                        glue = "&" if "?" in url else "?"
                        target = f"{url}{glue}{urlencode({'login_hint': user})}"
                        async with http.get(target) as resp:
                            await resp.read()

                    tokens = await sign_in(
                        platform,
                        ctx,
                        kit_client(platform),
                        credentials=kit_credentials(account),
                        open_url=consent,
                        wait_seconds=30,
                    )
                    async with pool.acquire() as conn:
                        for name in served:
                            await vault.put(conn, name, account, tokens)

    async def submit(self, pool: Any, clip: Path) -> None:
        from pellacia.config import AccountSettings, load_settings
        from pellacia.delivery.service import create_post
        from pellacia.plugins import get_registry

        settings = load_settings(self.tmp / "config.toml")
        registry = get_registry(settings.plugins)
        for title, targets in plan(self.o):
            one_each = settings.model_copy(
                update={
                    "accounts": {p: [AccountSettings(name=a)] for p, a in targets},
                    "sandbox_url": self.sandbox_url,
                }
            )
            await create_post(
                pool,
                registry,
                one_each,
                file=clip,
                platforms=[p for p, _ in targets],
                title=title,
                description="chaos run",
                test=True,
                allow_duplicate=True,
            )

    # the workers -----------------------------------------------------------

    def start_worker(self) -> subprocess.Popen[bytes]:
        self._started_workers += 1
        # the worker keeps its own copy of the file descriptor
        with open(self.tmp / f"worker-{self._started_workers}.log", "wb") as log:
            return subprocess.Popen(
                [CLI, "worker", "--concurrency", str(self.o.concurrency)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill_one(self) -> None:
        victim = self.rng.randrange(len(self.workers))
        self.workers[victim].send_signal(signal.SIGKILL)
        self.workers[victim].wait()
        self.result.kills += 1
        self.workers[victim] = self.start_worker()

    def revive_exited(self) -> None:
        """A worker that ended on its own (not killed here) is counted and restarted."""
        for i, worker in enumerate(self.workers):
            if worker.poll() is not None:
                self.result.exits += 1
                self.workers[i] = self.start_worker()

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    # outages ---------------------------------------------------------------

    async def restart_database(self) -> None:
        self.log("  -- PostgreSQL down")
        await asyncio.to_thread(self.cli, "db", "down", embedded=True)
        await asyncio.sleep(self.o.outage_seconds)
        await asyncio.to_thread(self.cli, "db", "up", embedded=True)
        self.result.db_restarts += 1
        self.log("  -- PostgreSQL up")

    async def restart_sandbox(self) -> None:
        self.log("  -- sandbox down")
        await asyncio.to_thread(self.sandbox.go_down)
        await asyncio.sleep(self.o.outage_seconds)
        await asyncio.to_thread(self.sandbox.come_up)
        self.result.sandbox_restarts += 1
        self.log("  -- sandbox up")

    async def expire_tokens(self) -> None:
        from pellacia_sandbox.control import SandboxControl

        control = SandboxControl(self.sandbox_url)
        for platform in PLATFORMS:
            try:
                await control._call("POST", f"/{platform}/expire-tokens")
            except Exception as exc:
                self.log(f"  token expiry on {platform} skipped: {exc}")
                return
        self.result.token_expiries += 1


# ------------------------------------------------------------- the chaos loop


async def _counts(pool: Any) -> dict[str, int] | None:
    """Deliveries per state, or None while the database is away."""
    try:
        async with pool.acquire(timeout=5) as conn:
            return await store_audit.state_counts(conn)
    except Exception:
        return None


async def claim_probe(pool: Any, options: ChaosOptions, samples: int = 15) -> list[float]:
    """Database time (ms) of the workers' claim as the queue stands, each inside a
    rolled-back transaction (the queue does not change)."""
    from datetime import UTC, datetime

    from pellacia.config import SpacingSettings
    from pellacia.store import queue

    spacing = SpacingSettings(min_interval=options.spacing, jitter=0)

    class _Rollback(Exception):
        pass

    times: list[float] = []
    try:
        async with pool.acquire(timeout=5) as conn:
            for _ in range(samples):
                start = time.perf_counter()
                try:
                    async with conn.transaction():
                        await queue.claim(
                            conn,
                            worker_id="chaos-probe",
                            now=datetime.now(UTC),
                            lease_seconds=60,
                            limit=options.concurrency,
                            spacing=lambda _p: spacing,
                        )
                        raise _Rollback
                except _Rollback:
                    pass
                times.append((time.perf_counter() - start) * 1000)
    except Exception:
        return times
    return times


async def _lingering(pool: Any) -> list[str]:
    """The last few deliveries not final yet: why each waits."""
    try:
        async with pool.acquire(timeout=5) as conn:
            rows = await store_audit.unfinished(conn, limit=6)
    except Exception:
        return []
    return [
        f"    {r['platform']} {r['state']} due in {float(r['due_in'] or 0):.0f} s:"
        f" {r['wait_reason'] or ''} {(r['last_error'] or '')[:90]}"
        for r in rows
    ]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def chaos_loop(run: Run, pool: Any) -> None:
    """Workers run, get killed, and live through outages until every delivery is final."""
    o, result = run.o, run.result
    total = o.deliveries
    window = o.window or max(1, total // 5)
    # fixed points of progress for the outages and the first kills (a short run
    # gets them too); random kills come on top
    kill_at = [0.12, 0.3, 0.5][: o.min_kills]
    db_at = 0.4 if o.db_restart else None
    sandbox_at = 0.65 if o.sandbox_restart else None
    run.workers = [run.start_worker() for _ in range(o.workers)]
    started = time.monotonic()
    deadline = started + o.max_minutes * 60
    next_kill = started + run.rng.expovariate(1 / o.kill_every)
    next_expiry = started + o.expire_every
    last_print = started
    window_start, window_mark = started, 0
    outage: asyncio.Task[None] | None = None
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            state = await _counts(pool)
            if state is not None:
                done = sum(n for s, n in state.items() if s in FINAL)
                if done >= total and outage is None:
                    break
                share = done / total
                if kill_at and share >= kill_at[0]:
                    kill_at.pop(0)
                    run.kill_one()
                if outage is None and db_at is not None and share >= db_at:
                    db_at = None
                    outage = asyncio.create_task(run.restart_database())
                if outage is None and sandbox_at is not None and share >= sandbox_at:
                    sandbox_at = None
                    outage = asyncio.create_task(run.restart_sandbox())
                while done >= window_mark + window:
                    window_mark += window
                    elapsed = now - window_start
                    window_start = now
                    probe = await claim_probe(pool, o)
                    queued = total - done
                    result.windows.append(
                        Window(
                            finished=window_mark,
                            seconds=elapsed,
                            rate=window / max(elapsed, 1e-9),
                            claim_p50_ms=_pct(probe, 0.5),
                            claim_p99_ms=_pct(probe, 0.99),
                            queued=queued,
                        )
                    )
                    w = result.windows[-1]
                    run.log(
                        f"  window to {w.finished:6d} finished: {w.seconds:6.1f} s,"
                        f" {w.rate:6.2f} deliveries/s, claim {w.claim_p50_ms:.2f} ms p50"
                        f" / {w.claim_p99_ms:.2f} ms p99 ({w.queued} left)"
                    )
                if now - last_print >= 10:
                    last_print = now
                    run.log(
                        f"  {now - started:6.0f}s  kills {result.kills:3d}"
                        f"  exits {result.exits:2d}  {json.dumps(state, sort_keys=True)}"
                    )
                    if total - done <= 5:
                        for line in await _lingering(pool):
                            run.log(line)
            if outage is not None and outage.done():
                outage.result()  # an outage that could not be undone ends the run
                outage = None
            if now >= next_kill:
                run.kill_one()
                next_kill = now + run.rng.expovariate(1 / o.kill_every)
            if now >= next_expiry and outage is None:
                await run.expire_tokens()
                next_expiry = now + o.expire_every
            run.revive_exited()
            await asyncio.sleep(0.2)
        result.drain_seconds = time.monotonic() - started
    finally:
        if outage is not None:
            await outage
        run.stop_workers()


# ------------------------------------------------------------------- audit


def _marker(post: dict[str, Any]) -> str | None:
    for value in post.values():
        if isinstance(value, str):
            found = MARKER.search(value)
            if found:
                return found.group(0)
    return None


def fake_posts(host: Any) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(platform, marker) -> the posts each fake holds with that marker."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for platform in PLATFORMS:
        for post in host.state(platform)["posts"]:
            marker = _marker(post)
            if marker is not None:
                found[(platform, marker)].append(post)
    return found


def _shape(reason: str) -> str:
    """A reason with its ids and numbers folded, so alike reasons count together."""
    return re.sub(r"\d{4,}|[0-9a-f]{8}-[0-9a-f-]{27}", "N", reason)[:100]


async def audit(run: Run, pool: Any, host: Any) -> None:
    """Compare the database with the fakes; fills ``run.result``."""
    result = run.result
    async with pool.acquire() as conn:
        rows = await store_audit.deliveries_with_titles(conn)
        result.attempts_without_outcome, result.attempts = await store_audit.attempt_totals(conn)
    posts = fake_posts(host)
    result.deliveries = len(rows)
    result.states = dict(collections.Counter(r["state"] for r in rows))
    seen: set[tuple[str, str]] = set()
    for r in rows:
        marker = MARKER.search(r["title"] or "")
        key = (r["platform"], marker.group(0) if marker else "?")
        seen.add(key)
        there = posts.get(key, [])
        ident = f"{r['platform']}/{r['account']} {key[1]} ({str(r['id'])[:8]})"
        if len(there) > 1:
            result.duplicates.append(f"{ident}: {len(there)} posts")
        state = r["state"]
        if state not in FINAL:
            result.lost.append(f"{ident}: still {state}")
        elif state == "published" and not there:
            result.published_absent.append(ident)
        elif state == "manual":
            reason = (r["last_error"] or "").strip()
            if not reason:
                result.manual_without_reason.append(ident)
            result.manual_reasons[_shape(reason)] += 1
            if r["outcome_unknown"]:
                result.manual_unknown += 1
            else:
                result.manual_other += 1
            if there:
                shown = {k: there[0].get(k) for k in ("id", "status", "account") if k in there[0]}
                result.manual_posted.append(f"{ident}: {json.dumps(shown)} ({reason[:80]})")
        elif state in ("failed", "cancelled") and there:
            result.present_not_published.append(f"{ident}: {state}")
        if state == "failed":
            result.failed += 1
            result.failed_reasons[_shape(r["last_error"] or "")] += 1
    missing = run.o.deliveries - len(rows)
    if missing > 0:
        result.lost.append(f"{missing} deliveries never written")
    for key in posts.keys() - seen:
        result.present_not_published.append(f"{key[0]} {key[1]}: no such delivery")
    for platform in PLATFORMS:
        requests = host.fakes[platform].requests
        result.requests[platform] = len(requests)
        result.faulted[platform] = collections.Counter(q["fault"] for q in requests if q["fault"])


def report_lines(run: Run) -> Iterable[str]:
    """The breakdown above the summary line."""
    r, o = run.result, run.o
    total = sum(r.requests.values())
    faults: collections.Counter[str] = collections.Counter()
    for each in r.faulted.values():
        faults.update(each)
    faulted = sum(faults.values())
    yield ""
    yield (
        f"{r.deliveries} deliveries ({o.deliveries} asked) over {', '.join(PLATFORMS)};"
        f" {accounts_per_platform(o)} accounts each; {o.size} bytes per video"
    )
    yield (
        f"workers {o.workers} x concurrency {o.concurrency}, SIGKILLs {r.kills},"
        f" exits on their own {r.exits}, PostgreSQL restarts {r.db_restarts},"
        f" sandbox restarts {r.sandbox_restarts}, token expiries {r.token_expiries}"
    )
    yield (
        f"requests {total}, faulted {faulted} ({100 * faulted / max(1, total):.1f} %):"
        f" {json.dumps(dict(faults.most_common()))}"
    )
    for platform in PLATFORMS:
        n, f = r.requests.get(platform, 0), sum(r.faulted.get(platform, {}).values())
        yield f"  {platform:<10} requests {n:7d}  faulted {f:6d} ({100 * f / max(1, n):.1f} %)"
    yield f"states: {json.dumps(r.states, sort_keys=True)}"
    yield f"attempts {r.attempts}, without an outcome at the end {r.attempts_without_outcome}"
    for label, items in (
        ("lost", r.lost),
        ("duplicate", r.duplicates),
        ("published-but-absent", r.published_absent),
        ("present-but-not-published", r.present_not_published),
        ("manual without a reason", r.manual_without_reason),
        ("manual, in fact posted", r.manual_posted),
    ):
        for line in items[:10]:
            yield f"  {label}: {line}"
    for reason, n in r.manual_reasons.most_common(8):
        yield f"  manual x{n}: {reason}"
    for reason, n in r.failed_reasons.most_common(8):
        yield f"  failed x{n}: {reason}"
    if r.windows:
        rates = [w.rate for w in r.windows]
        claims = [w.claim_p50_ms for w in r.windows if not math.isnan(w.claim_p50_ms)]
        yield (
            f"windows: drain rate {min(rates):.2f}..{max(rates):.2f} deliveries/s"
            f" (median {statistics.median(rates):.2f}); claim p50"
            + (f" {min(claims):.2f}..{max(claims):.2f} ms" if claims else " n/a")
        )


async def run_chaos(
    options: ChaosOptions, tmp: Path, log: Callable[[str], None] | None = None
) -> ChaosResult:
    """A whole chaos run in ``tmp`` (reachable by the database's service user)."""
    # the run's own pool loses its connections when PostgreSQL restarts, and the
    # sandbox sees killed workers drop their requests: both expected, not news
    quiet = [logging.getLogger(name) for name in ("asyncpg.pool", "aiohttp.server")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    run = Run(options, tmp, log)
    try:
        await _run(run)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    for line in report_lines(run):
        run.log(line)
    return run.result


async def _run(run: Run) -> None:
    from pellacia.store.pool import create_pool
    from pellacia.testing.videos import make_large, make_video

    options, tmp = run.o, run.tmp
    run.env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    run.env.update(
        PELLACIA_DATA_DIR=str(tmp / "data"),
        PELLACIA_CONFIG=str(run.write_config()),
        PELLACIA_LOG_LEVEL="warning",
    )
    await asyncio.to_thread(run.cli, "db", "up", embedded=True)
    try:
        run.dsn = run.cli("db", "url", embedded=True).strip()
        run.env["PELLACIA_DATABASE_URL"] = run.dsn
        run.cli("db", "migrate")
        host = run.start_sandbox()
        run.env["PELLACIA_SANDBOX_URL"] = run.sandbox_url
        pool = await create_pool(run.dsn)
        try:
            await run.sign_in(pool)
            # 540x960, 3.2 s, 30 fps: inside every platform's rules (Facebook reels:
            # 540x960 and 3 s at least) and small enough for 256 KiB runs
            seed = make_video(tmp / "seed.mp4", seconds=3.2, width=540, height=960, fps=30)
            clip = make_large(seed, tmp / "clip.mp4", options.size)
            run.log(f"submitting {options.deliveries} deliveries ({options.size} bytes each) ...")
            await run.submit(pool, clip)
            run.arm_faults(host)
            await chaos_loop(run, pool)
            await audit(run, pool, host)
        finally:
            await pool.close()
    finally:
        run.stop_sandbox()
        await asyncio.to_thread(
            subprocess.run,
            [CLI, "db", "down"],
            env={k: v for k, v in run.env.items() if k != "PELLACIA_DATABASE_URL"},
            capture_output=True,
            check=False,
        )

"""Every ``pellacia-dist`` command fed random arguments (drawn from its own click
options): exit 0, or a clear error with a documented code (2 for usage and bad
input, 1 where the command documents it), never a traceback, and a refused
command leaves the database exactly as it was (every table's rows compared).

Commands that run until stopped, or that reach a network, a browser or the
machine's interfaces, are fed only invalid arguments (an unknown option: click
refuses it before the command runs): see ``INVALID_ONLY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from pellacia.cli.main import cli
from pellacia.scheduling.testing import enqueue
from pellacia.store.pool import connect_one
from pellacia.testing.cli import CLI, cli_env
from pellacia.testing.fuzz import fuzz_settings

#: long-running, or reaching past this machine's loopback (platform APIs, a
#: browser, VPN tunnels, a sandbox URL, a webhook target): invalid arguments only
INVALID_ONLY = frozenset(
    {
        "worker",
        "serve",
        "watch",
        "dashboard",
        "db up",
        "db down",
        "sandbox up",
        "sandbox status",
        "telegram bot",
        "auth login",
        "auth set",
        "auth rotate-key",
        "browser check",
        "browser login",
        "browser status",
        "analytics fetch",
        "analytics collect-daily",
        "webhook test",
        "test alerts",
        "test browser",
        "test platform",
        "test vpn",
        "vpn check",
        "vpn down",
        "vpn import",
        "vpn status",
        "vpn up",
    }
)
UNKNOWN_OPTION = "--no-such-option-fuzz"


def _leaves(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()) -> Iterator[Any]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        sub = click.Context(command, parent=ctx, info_name=name)
        if isinstance(command, click.Group):
            if command.invoke_without_command and command.params:
                yield (*path, name), command  # `schedule --at ...` is a command too
            yield from _leaves(command, sub, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(_leaves(cli, click.Context(cli, info_name="pellacia-dist")))

# ------------------------------------------------------------------ arguments

#: argv cannot carry NUL; "://" stays out so no random text is a reachable URL
texts = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=16
).filter(lambda s: "://" not in s)
#: words the commands know, so arguments reach past the first check
WORDS = (
    "youtube",
    "tiktok",
    "all",
    "youtube/news",
    "yt/news",
    "manual",
    "failed",
    "2026-12-27 14:00",
    "2030-11-03 01:30",  # happens twice in New York
    "2030-03-10 02:30",  # does not exist in New York
    "next-slot",
    "America/New_York",
    "2h",
    "0",
    "-1",
    "views",
    "admin",
    "read,write",
    "post.published",
    "http://127.0.0.1:9/hook",  # loopback: refused without allow_private, no DNS
    "https://youtu.be/abc123",
)


def _values(param: click.Parameter, world: dict[str, Any]) -> st.SearchStrategy[str]:
    kind = param.type
    common = st.one_of(texts, st.sampled_from(WORDS), st.sampled_from(world["ids"]))
    if isinstance(kind, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in kind.choices]), common)
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return st.one_of(st.integers(-(10**12), 10**12).map(str), common)
    if isinstance(kind, click.DateTime):
        return st.one_of(st.dates().map(str), common)
    if isinstance(kind, (click.Path, click.File)):
        # relative names only (the folder is the test's): nothing lands outside it
        names = st.one_of(texts, st.sampled_from(world["ids"]))
        return st.one_of(
            st.sampled_from(world["paths"]),
            names.map(lambda t: t.replace("/", "_").lstrip("~") or "_"),
        )
    return common


@st.composite
def argvs(draw: st.DrawFn, path: tuple[str, ...], world: dict[str, Any]) -> list[str]:
    """Some of the command's options and arguments with random values, maybe an
    unknown option or a stray word; required ones are sometimes left out."""
    command = COMMANDS[path]
    pieces: list[list[str]] = []
    positional: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument):
            if draw(st.integers(0, 9)) > 0:  # mostly given
                count = draw(st.integers(1, 2)) if param.nargs == -1 else param.nargs
                positional += [draw(_values(param, world)) for _ in range(count)]
            continue
        assert isinstance(param, click.Option)
        if not draw(st.booleans()) and not (param.required and draw(st.integers(0, 4)) > 0):
            continue
        name = draw(st.sampled_from(param.opts))
        if name in ("-h", "--help"):
            continue
        pieces.append([name] if param.is_flag else [name, draw(_values(param, world))])
    extra = draw(st.sampled_from(["", "", "", "unknown", "word"]))
    if extra == "unknown":
        pieces.append([UNKNOWN_OPTION])
    elif extra == "word":
        positional.append(draw(texts))
    order = draw(st.permutations(range(len(pieces))))
    argv = [word for i in order for word in pieces[i]]
    return [*path, *argv, *positional]


# -------------------------------------------------------------------- the world


class Snapshots:
    """Every table's rows, hashed, over one connection kept for the test: a
    refused command must not change any of them."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()  # never running between commands
        self.conn = self.loop.run_until_complete(connect_one(dsn))
        tables = self._fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        self.query = " UNION ALL ".join(
            f"SELECT '{t}' AS name, count(*)::text || ':' || "
            f"coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS digest "
            f'FROM "{t}" x'
            for t in sorted(r["tablename"] for r in tables)
        )

    def _fetch(self, query: str) -> list[Any]:
        return list(self.loop.run_until_complete(self.conn.fetch(query)))

    def take(self) -> dict[str, str]:
        return {r["name"]: r["digest"] for r in self._fetch(self.query)}

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


async def _seed(dsn: str) -> list[str]:
    conn = await connect_one(dsn)
    try:
        now = datetime.now(UTC)
        ready = await enqueue(conn, platforms=[("youtube", "news")], due_at=now)
        manual = await enqueue(conn, platforms=[("tiktok", "main")], due_at=now, state="manual")
        failed = await enqueue(conn, platforms=[("yt", "news")], due_at=now, state="failed")
    finally:
        await conn.close()
    return [str(i) for i in (*ready, *manual, *failed)]


@pytest.fixture(scope="module")
def world(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One seeded database and folder for the module: each command's examples
    run against what the ones before left (a fresh database each would cost
    more than the commands)."""
    from pellacia.testing.postgres import TEMPLATE, _admin, _with_database

    name = f"fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(pg_admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    dsn = _with_database(pg_admin_dsn, name)
    home = tmp_path_factory.mktemp("cli-fuzz")
    (home / "config.toml").write_text('timezone = "Europe/Paris"\n')
    (home / "empty.mp4").write_bytes(b"")
    (home / "dir").mkdir()
    ids = asyncio.run(_seed(dsn))
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("PELLACIA_")}
    env.update(
        PELLACIA_DATABASE_URL=dsn,
        PELLACIA_CONFIG=str(home / "config.toml"),
        PELLACIA_DATA_DIR=str(home / "data"),
        DATABASE_URL=None,
    )
    snapshots = Snapshots(dsn)
    try:
        yield {
            "home": home,
            "snapshots": snapshots,
            "env": env,
            "ids": [*ids, *(i[:8] for i in ids), str(uuid.UUID(int=0))],
            # inside the test folder only: a command that writes (manual export --to) stays there
            "paths": [str(home / "absent.mp4"), str(home / "empty.mp4"), str(home / "dir")],
        }
    finally:
        snapshots.close()
        asyncio.run(_admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(world: dict[str, Any], argv: list[str]) -> None:
    """``pellacia-dist argv`` in-process; checks the exit, the output and the database."""
    before = world.get("snapshot") or world["snapshots"].take()
    with contextlib.chdir(world["home"]):  # no stray .env; relative paths land there
        result = CliRunner().invoke(cli, argv, env=world["env"], catch_exceptions=True)
    output = result.stdout + result.stderr
    shown = f"pellacia-dist {argv!r} → {result.exit_code}\n{output}"
    # an exception other than SystemExit is a traceback for the user
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        shown,
        result.exc_info,
    )
    assert "Traceback" not in output, shown
    assert result.exit_code in (0, 1, 2), shown
    if result.stderr.startswith("Usage:"):  # click's usage errors
        assert result.exit_code == 2 and "\nError: " in result.stderr, shown
    elif result.exit_code == 2:  # ours: one "error: ..." line first
        assert result.stderr.startswith("error: "), shown
    if UNKNOWN_OPTION in argv[: argv.index(UNKNOWN_OPTION) + 1 if UNKNOWN_OPTION in argv else 0]:
        assert result.exit_code == 2 and "No such option" in result.stderr, shown
    after = world["snapshots"].take()
    if result.exit_code != 0:
        assert result.stderr.strip() or result.stdout.strip(), shown  # says why
        assert after == before, f"{shown}\nrows changed by a refused command"
    world["snapshot"] = after


FULL = sorted(" ".join(p) for p in COMMANDS if " ".join(p) not in INVALID_ONLY)
LIMITED = sorted(" ".join(p) for p in COMMANDS if " ".join(p) in INVALID_ONLY)


def test_the_command_tree_is_covered() -> None:
    """A new command is fuzzed, or named as long-running/external on purpose."""
    names = {" ".join(p) for p in COMMANDS}
    assert names >= INVALID_ONLY, INVALID_ONLY - names
    assert len(FULL) >= 25, FULL


@pytest.mark.parametrize("name", FULL)
def test_random_arguments_give_a_clear_answer_and_write_nothing_when_refused(
    world: dict[str, Any], name: str
) -> None:
    path = tuple(name.split())

    @fuzz_settings(max_examples=12)
    @given(argv=argvs(path, world))
    def check(argv: list[str]) -> None:
        run(world, argv)

    check()


@pytest.mark.parametrize("name", LIMITED)
def test_long_running_and_external_commands_refuse_unknown_options(
    world: dict[str, Any], name: str
) -> None:
    path = tuple(name.split())

    @fuzz_settings(max_examples=3)
    @given(words=st.lists(st.one_of(texts, st.sampled_from(WORDS)), max_size=3))
    def check(words: list[str]) -> None:
        run(world, [*path, UNKNOWN_OPTION, *words])

    check()


@pytest.mark.parametrize(
    "argv",
    [
        ["account", "pause", "yt/news", "--until", "garbage"],  # was a BadInput traceback
        ["account", "pause", "yt/news", "--until", "99999999999d"],  # was an OverflowError
        ["account", "pause", "yt/news", "--until", "0001-01-01 00:00"],  # was an OverflowError
        ["schedule", "--at", "0"],  # no --file: was an AssertionError traceback
        ["--config", "bad.toml", "queue", "status"],  # was a pydantic traceback
        ["--config", "broken.toml", "schedule", "list"],  # was a tomllib traceback
    ],
)
def test_found_by_fuzzing(world: dict[str, Any], argv: list[str]) -> None:
    (world["home"] / "bad.toml").write_text("spacing = 3\n")
    (world["home"] / "broken.toml").write_text("a = [\n")
    run(world, argv)


@fuzz_settings(max_examples=30)
@given(raw=st.binary(max_size=64))
def test_any_config_file_gives_settings_or_a_one_line_error(
    world: dict[str, Any], raw: bytes
) -> None:
    (world["home"] / "random.toml").write_bytes(raw)
    run(world, ["--config", "random.toml", "queue", "status", "--json"])


def test_a_broken_config_is_one_line_and_exit_2_in_a_real_process(world: dict[str, Any]) -> None:
    (world["home"] / "bad.toml").write_text('[retry]\ntries_per_layer = "many"\n')
    env = cli_env(**{k: v for k, v in world["env"].items() if v is not None})
    done = subprocess.run(
        [CLI, "--config", str(world["home"] / "bad.toml"), "schedule", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: invalid settings") and done.stderr.count("\n") == 1
    assert "retry.tries_per_layer" in done.stderr and "many" not in done.stderr

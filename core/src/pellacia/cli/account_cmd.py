"""``pellacia-dist account pause|resume|list``: hold an account back, let it go again.

A paused account's deliveries stay queued (they never fail) and show the wait
reason ``paused: <reason>``; deliveries already uploading finish.
"""

from __future__ import annotations

import getpass
import re
from datetime import datetime, timedelta

import click

from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app
from pellacia.cli.queue_cmd import _when, _with_conn

_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def split_account(text: str) -> tuple[str, str]:
    """``youtube/news`` -> (``youtube``, ``news``)."""
    platform, sep, account = text.partition("/")
    if not sep or not platform or not account:
        fail(f"give the account as platform/account (for example youtube/news), not {text!r}", 2)
    return platform.strip().lower(), account.strip()


def parse_until(text: str, now: datetime, zone: str) -> datetime:
    """A duration (``30m``, ``2h``, ``1d``) from now, or a local time ``YYYY-MM-DD HH:MM``."""
    from pellacia.delivery.errors import BadInput
    from pellacia.delivery.timeparse import parse_local

    match = _DURATION.match(text)
    if match:
        try:
            return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            raise BadInput(f"--until {text.strip()!r} is too far away") from None

    return parse_local(text, zone)


def operator() -> str:
    """Who acts from this shell (recorded on the event)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group()
def account() -> None:
    """Pause and resume accounts: a paused account's posts wait, never fail."""


@account.command()
@click.argument("ref", metavar="PLATFORM/ACCOUNT")
@click.option("--until", "until_text", help="A duration (30m, 2h, 1d) or a local time.")
@click.option("--reason", help="Why (shown as the wait reason of its posts).")
@pass_app
def pause(app: AppContext, ref: str, until_text: str | None, reason: str | None) -> None:
    """Hold PLATFORM/ACCOUNT back until resumed (or until --until)."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.store import accounts

    platform, name = split_account(ref)
    now = SYSTEM_CLOCK.now()
    until = parse_until(until_text, now, app.settings.timezone) if until_text else None
    if until is not None and until <= now:
        fail("--until is in the past", 2)
    _with_conn(
        app,
        lambda conn: accounts.pause(
            conn, platform, name, now=now, until=until, reason=reason, by=operator()
        ),
    )
    end = _when(until, app.settings.timezone) if until else "resumed"
    console().print(f"{platform}/{name} paused until {end}; its posts wait.")


@account.command()
@click.argument("ref", metavar="PLATFORM/ACCOUNT")
@pass_app
def resume(app: AppContext, ref: str) -> None:
    """Let PLATFORM/ACCOUNT's posts go again."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.store import accounts

    platform, name = split_account(ref)
    done = _with_conn(
        app,
        lambda conn: accounts.resume(conn, platform, name, now=SYSTEM_CLOCK.now(), by=operator()),
    )
    if not done:
        fail(f"{platform}/{name} is not paused", 1)
    console().print(f"{platform}/{name} resumed.")


@account.command(name="list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """Every known account and whether it is paused."""
    from pellacia.clock import SYSTEM_CLOCK
    from pellacia.store import accounts

    rows = _with_conn(app, lambda conn: accounts.states(conn, SYSTEM_CLOCK.now()))
    if as_json:
        emit_json(
            [
                {
                    "platform": r.platform,
                    "account": r.account,
                    "connected": r.connected,
                    "paused": r.paused,
                    "paused_until": r.until.isoformat() if r.paused and r.until else None,
                    "reason": r.reason if r.paused else None,
                    "by": r.by if r.paused else None,
                }
                for r in rows
            ]
        )
        return
    from rich.table import Table

    table = Table(title="Accounts", title_justify="left")
    for col in ("platform", "account", "connected", "state"):
        table.add_column(col)
    zone = app.settings.timezone
    for r in rows:
        state = "active"
        if r.paused:
            end = _when(r.until, zone) if r.until else "resumed"
            state = f"paused until {end} by {r.by}: {r.reason or 'no reason given'}"
        table.add_row(r.platform, r.account, "yes" if r.connected else "no", state)
    console().print(table if rows else "No accounts yet.")

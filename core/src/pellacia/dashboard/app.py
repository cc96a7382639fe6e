"""The dashboard's Textual app: live tables and the operator's keys.

Panels: deliveries per platform and state (with today's publishes and the
next due time), uploads in flight (progress, layer, route), accounts (spacing window, in flight, queued, paused or
rate-limited), what waits and why, the manual queue, token health, recent
events. Keys act on the row under the cursor of the focused table: ``r``
retry (manual), ``c`` cancel (waiting), ``p`` pause/resume (accounts), ``o``
show a manual item's package path; ``tab`` moves between tables, ``q`` quits.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import DataTable, Footer, Header, Static

from pellacia.dashboard.data import DatabaseSource, Snapshot

#: seconds between refreshes
REFRESH_S = 2.0

_TABLES: dict[str, tuple[str, ...]] = {
    "counts": ("platform", "state", "n"),
    "in-flight": ("delivery", "account", "state", "progress", "layer", "route"),
    "accounts": ("account", "next post", "in flight", "queued", "status"),
    "waiting": ("delivery", "account", "reason", "until"),
    "manual": ("delivery", "account", "title", "note"),
    "tokens": ("account", "health"),
    "events": ("at", "kind", "what"),
}


def _at(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%m-%d %H:%M:%S}"


def _event_text(event: dict[str, Any]) -> str:
    payload = event.get("payload") or {}
    if event["kind"] == "delivery.state":
        return f"{payload.get('from')} -> {payload.get('to')} {payload.get('reason') or ''}".strip()
    if event["kind"] == "alert":
        return f"{payload.get('level')}: {payload.get('title')}"
    return ", ".join(f"{k}={v}" for k, v in payload.items() if v is not None)[:120]


class Dashboard(App[None]):
    """``pellacia-dist dashboard``."""

    TITLE = "pellacia-dist"
    CSS = """
    Grid { grid-size: 2 4; }
    DataTable { height: 1fr; border: round $primary; }
    DataTable:focus { border: round $accent; }
    #headline { dock: top; height: 1; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("c", "cancel", "Cancel"),
        Binding("p", "pause", "Pause/resume"),
        Binding("o", "package", "Package path"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: DatabaseSource, *, who: str = "dashboard") -> None:
        super().__init__()
        self.source = source
        self.who = who
        self.snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading…", id="headline")
        with Grid():
            for name, columns in _TABLES.items():
                table: DataTable[str] = DataTable(id=name, cursor_type="row", zebra_stripes=True)
                table.border_title = name
                table.add_columns(*columns)
                yield table
        yield Footer()

    async def on_mount(self) -> None:
        await self.reload()
        self.set_interval(REFRESH_S, self.reload)

    async def reload(self) -> None:
        """Read a fresh snapshot and redraw every table."""
        snap = self.snapshot = await self.source.snapshot()
        status = snap.status
        self.query_one("#headline", Static).update(
            f"published {snap.published_today} · next due {_at(status.next_due)} · "
            f"manual {len(snap.manual)} · waiting {len(status.waiting)}"
        )
        self._fill(
            "counts",
            [
                ((p, s, str(n)), f"{p}:{s}")
                for p, by in status.counts.items()
                for s, n in by.items()
            ],
        )
        self._fill(
            "accounts",
            [(self._account_row(a), f"{a.platform}/{a.account}") for a in status.accounts],
        )
        self._fill(
            "waiting",
            [
                ((str(w.id)[:8], f"{w.platform}/{w.account}", w.reason, _at(w.until)), str(w.id))
                for w in status.waiting
            ],
        )
        self._fill(
            "manual",
            [
                (
                    (
                        str(m.delivery_id)[:8],
                        f"{m.platform}/{m.account}",
                        m.title,
                        "OUTCOME UNKNOWN" if m.outcome_unknown else (m.last_error or ""),
                    ),
                    str(m.delivery_id),
                )
                for m in snap.manual
            ],
        )
        self._fill("in-flight", [(self._flight_row(d), str(d["id"])) for d in snap.in_flight])
        self._fill(
            "tokens",
            [
                ((f"{t.platform}/{t.account}", t.text), f"{t.platform}/{t.account}")
                for t in snap.tokens
            ],
        )
        self._fill(
            "events",
            [
                ((_at(e["created_at"]), e["kind"], _event_text(e)), str(e["id"]))
                for e in snap.events
            ],
        )

    @staticmethod
    def _flight_row(d: dict[str, Any]) -> tuple[str, ...]:
        sent, total = d.get("bytes_sent"), d.get("bytes_total")
        progress = f"{100 * sent // total}%" if sent is not None and total else "-"
        return (
            str(d["id"])[:8],
            f"{d['platform']}/{d['account']}",
            d["state"],
            progress,
            d.get("layer") or "-",
            d.get("route") or "-",
        )

    @staticmethod
    def _account_row(a: Any) -> tuple[str, ...]:
        notes = []
        if a.paused:
            notes.append(f"PAUSED: {a.pause_reason or ''}".strip())
        if a.breaking_active:
            notes.append("breaking news")
        if a.blocked_until is not None:
            notes.append(f"rate-limited until {_at(a.blocked_until)}")
        return (
            f"{a.platform}/{a.account}",
            _at(a.next_at) if a.next_at else "now",
            str(a.in_flight),
            str(a.queued),
            "; ".join(notes) or "ok",
        )

    def _fill(self, name: str, rows: list[tuple[tuple[str, ...], str]]) -> None:
        table = self.query_one(f"#{name}", DataTable)
        cursor = table.cursor_row
        table.clear()
        for cells, key in rows:
            table.add_row(*cells, key=key)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    # ---------------------------------------------------------------- keys

    def _selected(self, name: str) -> str | None:
        """The key of the row under the cursor when table ``name`` has the focus."""
        table = self.focused
        if not isinstance(table, DataTable) or table.id != name or table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    async def _act(self, done: Any) -> None:
        from pellacia.delivery.errors import BadInput, NotFound

        try:
            self.notify(await done)
        except (BadInput, NotFound) as exc:
            self.notify(str(exc), severity="error")
        await self.reload()

    async def action_retry(self) -> None:
        key = self._selected("manual")
        if key is None:
            self.notify("select a manual item to retry", severity="warning")
            return
        await self._act(self.source.retry(uuid.UUID(key), self.who))

    async def action_cancel(self) -> None:
        key = self._selected("waiting")
        if key is None:
            self.notify("select a waiting delivery to cancel", severity="warning")
            return
        await self._act(self.source.cancel(uuid.UUID(key), self.who))

    async def action_pause(self) -> None:
        key = self._selected("accounts")
        if key is None:
            self.notify("select an account to pause or resume", severity="warning")
            return
        platform, _, account = key.partition("/")
        await self._act(self.source.toggle_pause(platform, account, self.who))

    def action_package(self) -> None:
        key = self._selected("manual")
        item = next(
            (
                m
                for m in (self.snapshot.manual if self.snapshot else [])
                if str(m.delivery_id) == key
            ),
            None,
        )
        if item is None:
            self.notify("select a manual item", severity="warning")
            return
        self.notify(item.package or "no package written", title="package", timeout=30)

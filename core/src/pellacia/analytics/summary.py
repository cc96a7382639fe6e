"""Reading the stored history: totals, per-post figures and a daily series.

Pure functions over the rows of ``store.analytics.snapshots``: a post's figure
for a range is its latest snapshot in the range; the daily series carries each
post's latest known figure forward (a weekly snapshot does not make the totals
dip on the days between).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pellacia.contract import UNIFIED_METRICS


@dataclass(frozen=True)
class PostFigures:
    """One delivery's latest metrics in the range."""

    delivery_id: str
    post_id: str
    platform: str
    account: str
    remote_id: str
    url: str | None
    title: str
    removed: bool
    day: date
    metrics: Mapping[str, float]


@dataclass
class Summary:
    """What ``analytics summary`` shows."""

    platform: str
    start: date
    end: date
    posts: list[PostFigures] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    #: (day, totals as of that day)
    series: list[tuple[date, dict[str, float]]] = field(default_factory=list)
    #: delivery id -> its snapshot of each day of the range (None: none that day)
    daily: dict[str, list[Mapping[str, float] | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "totals": self.totals,
            "posts": [
                {
                    **{k: v for k, v in p.__dict__.items() if k != "day"},
                    "day": p.day.isoformat(),
                    "daily": [
                        {"day": d.isoformat(), **m}
                        for (d, _), m in zip(self.series, self.daily[p.delivery_id], strict=True)
                        if m is not None
                    ],
                }
                for p in self.posts
            ],
            "series": [{"day": d.isoformat(), **m} for d, m in self.series],
        }


def _add(into: dict[str, float], metrics: Mapping[str, float]) -> None:
    for name, value in metrics.items():
        into[name] = into.get(name, 0.0) + value


def summarize(rows: Sequence[Mapping[str, Any]], platform: str, start: date, end: date) -> Summary:
    """The summary of ``rows`` (oldest day first) between ``start`` and ``end``."""
    latest: dict[str, Mapping[str, Any]] = {}
    by_day: dict[date, list[Mapping[str, Any]]] = {}
    for row in rows:
        latest[str(row["delivery_id"])] = row
        by_day.setdefault(row["day"], []).append(row)
    posts = [_figures(r) for r in latest.values()]
    posts.sort(key=lambda p: (-p.metrics.get("views", -1.0), p.title))
    summary = Summary(platform=platform, start=start, end=end, posts=posts)
    for post in posts:
        _add(summary.totals, post.metrics)
    known: dict[str, Mapping[str, float]] = {}
    summary.daily = {p.delivery_id: [] for p in posts}
    day = start
    while day <= end:
        today = {str(r["delivery_id"]): r["metrics"] for r in by_day.get(day, ())}
        for delivery, snapshots in summary.daily.items():
            snapshots.append(today.get(delivery))
        known.update(today)
        totals: dict[str, float] = {}
        for metrics in known.values():
            _add(totals, metrics)
        summary.series.append((day, totals))
        day += timedelta(days=1)
    return summary


def _figures(row: Mapping[str, Any]) -> PostFigures:
    return PostFigures(
        delivery_id=str(row["delivery_id"]),
        post_id=str(row["post_id"]),
        platform=row["platform"],
        account=row["account"],
        remote_id=row["remote_id"],
        url=row["remote_url"],
        title=row["title"],
        removed=bool(row["removed"]),
        day=row["day"],
        metrics=dict(row["metrics"]),
    )


def bars(series: Sequence[tuple[date, Mapping[str, float]]], metric: str, width: int = 40) -> str:
    """The series of ``metric`` as one text bar per day (absent days: no bar)."""
    values = [m.get(metric) for _, m in series]
    top = max((v for v in values if v is not None), default=0.0)
    lines = []
    for (day, _), value in zip(series, values, strict=True):
        if value is None:
            lines.append(f"{day:%Y-%m-%d}  {'':{width}}  -")
            continue
        filled = round(width * value / top) if top else 0
        lines.append(f"{day:%Y-%m-%d}  {'█' * filled:{width}}  {value:,.0f}")
    return "\n".join(lines)


TICKS = "▁▂▃▄▅▆▇█"


def spark(values: Sequence[float | None]) -> str:
    """A one-line chart of ``values`` (a blank for a day without a snapshot)."""
    present = [v for v in values if v is not None]
    low, high = (min(present), max(present)) if present else (0.0, 0.0)
    span = (high - low) or 1.0
    return "".join(
        " " if v is None else TICKS[round((v - low) / span * (len(TICKS) - 1))] for v in values
    )


EXPORT_FIELDS = ("day", "platform", "account", "post_id", "delivery_id", "remote_id", "title")


def export_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Snapshots as CSV: one column per unified metric, empty where not available."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*EXPORT_FIELDS, "removed", *UNIFIED_METRICS])
    for row in rows:
        metrics = row["metrics"]
        writer.writerow(
            [
                *(row[f] for f in EXPORT_FIELDS),
                str(bool(row["removed"])).lower(),
                *("" if metrics.get(m) is None else metrics[m] for m in UNIFIED_METRICS),
            ]
        )
    return out.getvalue()


def export_json(rows: Iterable[Mapping[str, Any]]) -> str:
    """Snapshots as a JSON array (raw fields included)."""
    return json.dumps([dict(r) for r in rows], indent=2, default=str, ensure_ascii=False)

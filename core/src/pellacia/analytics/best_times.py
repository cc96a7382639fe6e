"""Best posting times: hour-of-week slots ranked by engagement from the history.

Each published post counts once, at the hour of the week it went out in the
account's zone (DST-correct: a post at 13:00 New York time is 13:00 in winter
and summer), scored by its latest snapshot. A slot needs ``min_per_slot``
posts to be ranked, and the ranking as a whole ``min_posts``: below that the
answer is a refusal, not a guess.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: "engagement": what people did with the post, not just saw
ENGAGEMENT = ("likes", "comments", "shares", "saves")


class TooLittleData(Exception):
    """Not enough history to rank slots (the message says how much there is)."""


@dataclass(frozen=True)
class SlotScore:
    weekday: int  # 0 = Monday
    hour: int
    mean: float
    posts: int

    @property
    def label(self) -> str:
        return f"{DAYS[self.weekday]} {self.hour:02d}:00"

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.label,
            "weekday": self.weekday,
            "hour": self.hour,
            "mean": self.mean,
            "posts": self.posts,
        }


def score(metrics: Mapping[str, float], metric: str) -> float | None:
    """A post's score: ``metric``, or the sum of the engagement metrics it has."""
    if metric != "engagement":
        return metrics.get(metric)
    present = [metrics[m] for m in ENGAGEMENT if m in metrics]
    return sum(present) if present else None


def rank(
    history: Sequence[Mapping[str, Any]],
    zones: Mapping[str, str],
    *,
    metric: str = "engagement",
    min_posts: int = 20,
    min_per_slot: int = 3,
) -> list[SlotScore]:
    """Slots best first; ``TooLittleData`` below the thresholds.

    ``history``: rows with ``account``, ``published_at``, ``metrics``;
    ``zones``: account -> IANA zone.
    """
    buckets: dict[tuple[int, int], list[float]] = {}
    for row in history:
        value = score(row["metrics"], metric)
        if value is None:
            continue  # not available is not 0: the post says nothing
        local = row["published_at"].astimezone(ZoneInfo(zones[row["account"]]))
        buckets.setdefault((local.weekday(), local.hour), []).append(value)
    total = sum(len(v) for v in buckets.values())
    if total < min_posts:
        raise TooLittleData(
            f"only {total} posts with {metric} figures; best times need at least {min_posts}"
        )
    ranked = [
        SlotScore(day, hour, statistics.fmean(values), len(values))
        for (day, hour), values in buckets.items()
        if len(values) >= min_per_slot
    ]
    if not ranked:
        raise TooLittleData(
            f"{total} posts, but no hour of the week has {min_per_slot} of them yet"
        )
    return sorted(ranked, key=lambda s: (-s.mean, -s.posts, s.weekday, s.hour))


def as_daily_slots(ranked: Sequence[SlotScore], top: int) -> list[str]:
    """The hours of the ``top`` best slots as daily "HH:00" posting slots."""
    hours: list[int] = []
    for slot in ranked:
        if slot.hour not in hours:
            hours.append(slot.hour)
        if len(hours) == top:
            break
    return [f"{h:02d}:00" for h in sorted(hours)]

"""The ``[analytics]`` config table: cadence by post age and per-platform budgets.

Defaults follow the specification's table of platform limits. Analytics only
gets a *share* of each allowance (``share``, 75 % by default): the rest is
headroom for publishing, which has priority. YouTube's unit budget is the one
uploads reserve from too; analytics stops ``headroom_units`` short of it.

.. code-block:: toml

    [analytics]
    removed_after_misses = 2       # runs in a row a post is left out → removed

    [analytics.platforms.tiktok]
    hourly_hours = 24              # hourly for the first day only
    limit = 300                    # analytics calls per window (overrides share)
    window_s = 3600
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pellacia.errors import ConfigError


@dataclass(frozen=True)
class Limit:
    """A platform's documented API allowance and how an analytics call counts."""

    calls: int  # per window
    window_s: float | None  # None: the platform's daily budget (YouTube units)
    #: what one fetch costs: per request, plus per post in it (Graph batches count
    #: each operation; LinkedIn asks video views post by post)
    per_request: int = 1
    per_post: int = 0
    per_account: bool = True


#: the specification's table (Platform Integrations: rate limits)
PLATFORM_LIMITS: Mapping[str, Limit] = {
    "youtube": Limit(calls=10_000, window_s=None, per_account=False),  # units, shared
    "instagram": Limit(calls=200, window_s=3600, per_request=0, per_post=1),
    "facebook": Limit(calls=200, window_s=3600, per_request=0, per_post=1),
    "tiktok": Limit(calls=500, window_s=3600),
    "twitter": Limit(calls=75, window_s=900),  # 300/h, in X's 15-minute windows
    "linkedin": Limit(calls=100, window_s=3600, per_request=1, per_post=1),
}
#: a platform nobody documented: one call per request, 100 an hour
FALLBACK_LIMIT = Limit(calls=100, window_s=3600)


class PlatformAnalytics(BaseModel):
    """``[analytics.platforms.<name>]``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    hourly_hours: float = Field(default=48, ge=0)
    daily_days: float = Field(default=30, ge=0)
    weekly_days: float = Field(default=90, ge=0)
    #: analytics calls allowed per window (default: ``share`` of the platform's limit)
    limit: int | None = Field(default=None, ge=1)
    window_s: float | None = Field(default=None, gt=0)
    share: float = Field(default=0.75, gt=0, le=1)
    #: YouTube: units left for uploads, in uploads (times the declared insert cost)
    headroom_uploads: int = Field(default=3, ge=0)


class AnalyticsSettings(BaseModel):
    """``[analytics]``."""

    model_config = ConfigDict(extra="forbid")

    #: how often the worker looks for due snapshots
    interval_s: float = Field(default=300, gt=0)
    removed_after_misses: int = Field(default=2, ge=1)
    platforms: dict[str, PlatformAnalytics] = Field(default_factory=dict)

    def platform(self, name: str) -> PlatformAnalytics:
        return self.platforms.get(name) or PlatformAnalytics()


def load(table: Mapping[str, Any]) -> AnalyticsSettings:
    """The validated ``[analytics]`` table (``ConfigError`` naming the bad key)."""
    try:
        return AnalyticsSettings.model_validate(dict(table))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"[analytics] {where}: {first['msg']}") from None


def cadence(conf: PlatformAnalytics) -> list[tuple[timedelta, timedelta]]:
    """``(age below, snapshot every)`` tiers, youngest first."""
    return [
        (timedelta(hours=conf.hourly_hours), timedelta(hours=1)),
        (timedelta(days=conf.daily_days), timedelta(days=1)),
        (timedelta(days=conf.weekly_days), timedelta(days=7)),
    ]

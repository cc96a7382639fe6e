"""What analytics may spend on each platform, as ``QuotaBudget``s the store keeps.

Analytics reserves each call's cost *before* making it (``store.quotas.reserve``,
shared by every worker), so a run never draws a platform past the declared
allowance and never earns a 429 by counting. YouTube's budget is the daily
unit bucket uploads reserve from: analytics stops ``headroom_uploads`` uploads
short of its end, so publishing keeps priority.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from pellacia.analytics.settings import FALLBACK_LIMIT, PLATFORM_LIMITS, Limit, PlatformAnalytics
from pellacia.contract import Platform, QuotaBudget

#: the bucket YouTube uploads reserve from (plugin-youtube's DAILY_UNITS_QUOTA)
YOUTUBE_UNITS = "youtube:daily-units"


@dataclasses.dataclass(frozen=True)
class AnalyticsBudget:
    """One platform's analytics allowance and its cost model."""

    budget: QuotaBudget
    limit: Limit

    def cost(self, posts: int) -> int:
        """Calls (or units) one fetch of ``posts`` posts takes (an account read: 0 posts)."""
        return max(1, self.limit.per_request + self.limit.per_post * posts)

    def for_posts(self, posts: int) -> QuotaBudget:
        """The budget with this fetch's cost as the reservation."""
        return dataclasses.replace(self.budget, cost_per_delivery=self.cost(posts))

    def batch_size(self, declared: int) -> int:
        """The platform's batch maximum, shrunk so one batch fits the allowance."""
        size = max(1, declared)
        if self.limit.per_post:
            fits = (self.budget.limit - self.limit.per_request) // self.limit.per_post
            size = max(1, min(size, fits))
        return size


def budget_for(platform: Platform, conf: PlatformAnalytics) -> AnalyticsBudget:
    """The analytics budget of ``platform`` under ``conf`` (config overrides first)."""
    limit = PLATFORM_LIMITS.get(platform.name, FALLBACK_LIMIT)
    shared = next((q for q in platform.quotas if q.name == YOUTUBE_UNITS), None)
    if platform.name == "youtube" and shared is not None:
        headroom = conf.headroom_uploads * shared.cost_per_delivery
        allowed = min(conf.limit or shared.limit, shared.limit - headroom)
        budget = dataclasses.replace(shared, limit=max(0, allowed), per_call=True)
        return AnalyticsBudget(budget, limit)
    calls = conf.limit or max(1, int(limit.calls * conf.share))
    window_s = conf.window_s or limit.window_s
    budget = QuotaBudget(
        name=f"{platform.name}:analytics-calls",
        limit=calls,
        window=timedelta(seconds=window_s) if window_s else None,
        per_account=limit.per_account,
        per_call=True,
    )
    return AnalyticsBudget(budget, limit)

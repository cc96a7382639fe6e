"""X's allowances as budgets the engine checks before posting (no call wasted on a 429).

- ``twitter:posts-15min``: 100 posts per 15 minutes per user (``POST /2/tweets``);
- ``twitter:daily-posts``: the account's own daily cap (X: 2,400 a day for every
  kind of post; ``daily_post_cap`` lowers it for an account that posts elsewhere too);
- ``twitter:app-posts-24h``: 10,000 posts per 24 h for the whole app;
- ``twitter:monthly-spend`` (when ``monthly_spend_cap`` is set, in US dollars):
  X charges per call. Each delivery costs the calls it makes that X prices
  (one post creation, a higher price when the text has a URL), counted in
  thousandths of a dollar against a rolling 30-day window shared by every
  account of the app. A delivery that would pass the cap waits
  (``quota:twitter:monthly-spend``) instead of spending.

Prices (``price_post``, ``price_post_with_url``, ``price_media_call``, in
dollars per call) default to X's published pay-per-use prices (protocols.md §5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pellacia.contract import QuotaBudget
from pellacia.errors import ConfigError

POSTS_15MIN = "twitter:posts-15min"
DAILY_POSTS = "twitter:daily-posts"
APP_POSTS_24H = "twitter:app-posts-24h"
MONTHLY_SPEND = "twitter:monthly-spend"
DEFAULT_DAILY_CAP = 2400
#: dollars per call (X pay-per-use, 2026)
PRICES = {"price_post": 0.015, "price_post_with_url": 0.20, "price_media_call": 0.0}
#: the spend budget's unit: a thousandth of a dollar
MILLS_PER_DOLLAR = 1000


def _number(settings: Mapping[str, Any], key: str, default: float) -> float:
    value = settings.get(key, default)
    if not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"[plugins.twitter] {key} must be a non-negative number, not {value!r}")
    return float(value)


def delivery_cost(
    settings: Mapping[str, Any], *, media_calls: int = 4, with_url: bool = False
) -> int:
    """What one delivery's priced calls cost, in thousandths of a dollar (rounded up).

    ``media_calls``: initialize + appends + finalize + status polls of a typical
    video (``typical_media_calls`` in the settings).
    """
    key = "price_post_with_url" if with_url else "price_post"
    post = _number(settings, key, PRICES[key])
    media = _number(settings, "price_media_call", PRICES["price_media_call"]) * media_calls
    # round() first: 0.015 * 1000 is 15.000000000000002 in floating point
    return max(1, math.ceil(round((post + media) * MILLS_PER_DOLLAR, 6)))


def quotas_for(settings: Mapping[str, Any] | None = None) -> tuple[QuotaBudget, ...]:
    """The budgets for the ``[plugins.twitter]`` settings (see the module docstring)."""
    settings = settings or {}
    daily = int(_number(settings, "daily_post_cap", DEFAULT_DAILY_CAP))
    budgets = [
        QuotaBudget(name=POSTS_15MIN, limit=100, window=timedelta(minutes=15)),
        QuotaBudget(name=DAILY_POSTS, limit=daily, window=timedelta(hours=24)),
        QuotaBudget(
            name=APP_POSTS_24H, limit=10_000, window=timedelta(hours=24), per_account=False
        ),
    ]
    cap = settings.get("monthly_spend_cap")
    if cap is not None:
        dollars = _number(settings, "monthly_spend_cap", 0.0)
        media_calls = int(_number(settings, "typical_media_calls", 4))
        with_url = bool(settings.get("posts_have_urls", False))
        budgets.append(
            QuotaBudget(
                name=MONTHLY_SPEND,
                limit=int(dollars * MILLS_PER_DOLLAR),
                cost_per_delivery=delivery_cost(
                    settings, media_calls=media_calls, with_url=with_url
                ),
                window=timedelta(days=30),
                per_account=False,
            )
        )
    return tuple(budgets)

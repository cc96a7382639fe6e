"""The X (Twitter) platform object: media rules, capabilities, quotas, segments.

The API v2 client (initialize / append / finalize / status, then POST
/2/tweets) is not written yet: every network operation raises
``Unsupported`` so the delivery falls through to the next layer of its chain
instead of ever reporting a post that was not made. Limits follow the
developer reference (protocols §5).
"""

from __future__ import annotations

import math
from datetime import timedelta

from pellacia.contract import (
    Capabilities,
    MediaRules,
    QuotaBudget,
)
from pellacia.errors import Rejected
from pellacia.planned import PlannedPlatform

DISTRIBUTION = "pellacia-dist-twitter 0.1"
MiB = 1024 * 1024

#: APPEND carries at most 5 MB and segment_index runs 0..999.
MAX_SEGMENT_BYTES = 5 * MiB
MIN_SEGMENT_BYTES = 1 * MiB
MAX_SEGMENTS = 1000

#: Video in a post (media_category amplify_video).
MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4", "mov"}),
    video_codecs=frozenset({"h264"}),
    max_bytes=512 * MiB,
    min_duration=0.5,
    max_duration=140.0,  # longer only for subscribed accounts
    min_side=32,
    max_side=1280,  # 32x32 to 1280x1024 (720x1280 vertical is accepted)
    min_aspect=1 / 3,
    max_aspect=3.0,
    max_fps=60.0,
    max_description_chars=280,  # the post text
)

CAPABILITIES = Capabilities(
    resumable_upload=True,  # segments are re-appended by index while the session lives
    separate_publish=True,  # POST /2/tweets with media.media_ids
    scheduled_publish=False,
    metrics_batch_size=100,  # GET /2/tweets?ids= takes 1-100 ids
)

QUOTAS: tuple[QuotaBudget, ...] = (
    # POST /2/tweets: 100 per 15 min per user, 10,000 per 24 h per app.
    QuotaBudget(name="twitter:posts-15min", limit=100, window=timedelta(minutes=15)),
    QuotaBudget(
        name="twitter:app-posts-24h",
        limit=10_000,
        window=timedelta(hours=24),
        per_account=False,
    ),
    # initialize / append / finalize: 1,875 per 15 min per user each; one
    # video spends one initialize, so appends are the binding count.
    QuotaBudget(
        name="twitter:media-append-15min",
        limit=1875,
        cost_per_delivery=1,
        window=timedelta(minutes=15),
    ),
)


def segment_size(total_bytes: int) -> int:
    """Bytes per APPEND segment for a file of ``total_bytes``.

    Between 1 and 5 MiB and large enough that the file fits in 1000 segments
    (the rule tweepy applies). Raises ``Rejected`` when no size can do it.
    """
    if total_bytes <= 0:
        raise Rejected("an empty file cannot be uploaded to X", platform="twitter")
    size = max(MIN_SEGMENT_BYTES, math.ceil(total_bytes / MAX_SEGMENTS))
    if size > MAX_SEGMENT_BYTES:
        raise Rejected(
            f"{total_bytes} bytes do not fit in {MAX_SEGMENTS} segments of at most "
            f"{MAX_SEGMENT_BYTES} bytes",
            platform="twitter",
        )
    return min(size, total_bytes)


def segment_count(total_bytes: int) -> int:
    """How many APPEND segments a file of ``total_bytes`` needs."""
    return math.ceil(total_bytes / segment_size(total_bytes))


class TwitterPlatform(PlannedPlatform):
    """X (formerly Twitter): one video per post."""

    name = "twitter"
    display_name = "X"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES
    quotas = QUOTAS
    distribution = DISTRIBUTION
    scopes = (
        "media.write",
        "tweet.write",
        "tweet.read",
        "users.read",
        "offline.access",
    )

"""The LinkedIn platform object: media rules, capabilities, quotas.

The Videos API client (initializeUpload / 4 MiB part PUTs / finalizeUpload,
then POST /rest/posts) is not written yet: every network operation raises
``Unsupported`` so the delivery falls through to the next layer of its chain
instead of ever reporting a post that was not made. Limits follow the
developer reference (protocols §6).
"""

from __future__ import annotations

from pellacia.contract import (
    Capabilities,
    MediaRules,
    QuotaBudget,
)
from pellacia.planned import PlannedPlatform

DISTRIBUTION = "pellacia-dist-linkedin 0.1"
MB = 1000 * 1000

#: every upload URL carries one part of this size (the last one is shorter)
PART_BYTES = 4 * 1024 * 1024

MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4"}),
    min_bytes=75 * 1000,
    max_bytes=500 * MB,  # some copies of the spec say 200 MB
    min_duration=3.0,
    max_duration=30 * 60.0,
    min_aspect=1 / 2.4,
    max_aspect=2.4,
    max_title_chars=200,  # content.media.title
    max_description_chars=3000,  # commentary
)

CAPABILITIES = Capabilities(
    resumable_upload=True,  # a failed part is re-PUT to its own URL before expiry
    separate_publish=True,  # POST /rest/posts after the video is AVAILABLE
    scheduled_publish=False,
    metrics_batch_size=20,  # share statistics take several posts in one List(...)
)

#: Daily per-member limit on creating posts, reset at midnight UTC. The
#: platform publishes each app's figures in its developer portal only: this
#: is the commonly quoted member allowance, overridable once quotas are
#: configurable.
QUOTAS: tuple[QuotaBudget, ...] = (
    QuotaBudget(name="linkedin:daily-posts", limit=150, window=None, reset_timezone="UTC"),
)


class LinkedInPlatform(PlannedPlatform):
    """LinkedIn member or organization video posts."""

    name = "linkedin"
    display_name = "LinkedIn"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES
    quotas = QUOTAS
    distribution = DISTRIBUTION
    scopes = ("w_member_social", "w_organization_social", "r_organization_social")

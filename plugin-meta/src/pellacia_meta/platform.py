"""Instagram and Facebook: media rules, capabilities, quotas (the platforms' data).

The platform objects are ``pellacia_meta.instagram.InstagramPlatform`` and
``pellacia_meta.facebook.FacebookPlatform``. Limits follow the developer
reference (protocols §3 Instagram, §4 Facebook); where sources disagree the
stricter figure is used and the comment says so.
"""

from __future__ import annotations

from datetime import timedelta

from pellacia.contract import (
    Capabilities,
    MediaRules,
    QuotaBudget,
)

DISTRIBUTION = "pellacia-dist-meta 0.1"
MB = 1000 * 1000

#: Instagram Reels (every single video is published as a reel since 2023-11).
INSTAGRAM_RULES = MediaRules(
    containers=frozenset({"mp4", "mov"}),
    video_codecs=frozenset({"h264", "hevc"}),
    # 300 MB in the English spec, 1 GB in newer translations: keep the stricter.
    max_bytes=300 * MB,
    min_duration=3.0,
    max_duration=15 * 60.0,
    max_side=1920,
    min_fps=23.0,
    max_fps=60.0,
    max_description_chars=2200,  # caption limit
)

#: Facebook Page Reels (Reels Publishing API).
FACEBOOK_REEL_RULES = MediaRules(
    containers=frozenset({"mp4", "mov"}),
    video_codecs=frozenset({"h264", "hevc", "vp9", "av1"}),
    min_duration=3.0,
    max_duration=90.0,
    min_side=540,  # minimum 540x960
    # Reels are 9:16; allow 1 % for encoders that round a side.
    min_aspect=9 / 16 * 0.99,
    max_aspect=9 / 16 * 1.01,
    min_fps=24.0,
    max_fps=60.0,
)

#: Regular Page videos (Resumable Upload API + /{page}/videos): what any Facebook
#: video must meet, so the platform's rules (``validate``); a reel must also meet
#: FACEBOOK_REEL_RULES. "10 GB" without saying which GB: the decimal (stricter) one.
FACEBOOK_VIDEO_RULES = MediaRules(
    containers=frozenset({"mp4", "mov"}),
    max_bytes=10 * 1000 * MB,
    min_duration=1.0,
    max_duration=240 * 60.0,
    max_description_chars=63206,
)

#: container create -> rupload (resumable by offset) -> poll -> media_publish
INSTAGRAM_CAPABILITIES = Capabilities(
    resumable_upload=True,
    separate_publish=True,
    scheduled_publish=False,
    metrics_batch_size=50,  # one Graph batch holds 50 operations
)

#: video_reels start -> rupload -> status -> finish (video_state=PUBLISHED|SCHEDULED)
FACEBOOK_CAPABILITIES = Capabilities(
    resumable_upload=True,
    separate_publish=True,
    scheduled_publish=True,
    metrics_batch_size=50,
)

#: 50 API-published posts per 24 h moving window per professional account
#: (newer material says 100: the stricter one here; before every upload the
#: plugin also reads the real figure and usage from ``content_publishing_limit``).
INSTAGRAM_QUOTAS: tuple[QuotaBudget, ...] = (
    QuotaBudget(name="instagram:publish-24h", limit=50, window=timedelta(hours=24)),
)

#: 30 API-published reels per Page per 24 h moving window (regular Page videos
#: count against it too: one budget per platform, the stricter reading).
FACEBOOK_QUOTAS: tuple[QuotaBudget, ...] = (
    QuotaBudget(name="facebook:reels-24h", limit=30, window=timedelta(hours=24)),
)

"""The X (Twitter) platform object: rules, budgets, upload, publish, reconcile, metrics.

Settings (``ctx.settings``, the ``[plugins.twitter]`` table):

- ``segment_size`` (bytes, default 4 MiB, at most 4 MiB; grown so a file fits
  1000 segments);
- ``processing_timeout`` (s, default 1800): how long the upload waits for X
  to process the video before a retryable error (the next attempt waits on);
- ``reconcile_lookback_hours`` (default 72) when the delivery's start is unknown;
- budgets (read when the plugin registers the platform): ``daily_post_cap``,
  ``monthly_spend_cap`` and the prices, see ``pellacia_twitter.budgets``.

Duplicates. ``POST /2/tweets`` is the one call that makes a post. When its
answer is lost the SDK raises ``OutcomeUnknown`` and core reconciles: the
user's recent posts (``GET /2/users/:id/tweets``) are searched for one that
carries this delivery's media (its ``media_key``) or, with no upload to go by,
this delivery's text. X itself refuses a second post with the same text
(403 duplicate content): ``publish`` then looks the first one up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pellacia.contract import (
    AuthFlow,
    Capabilities,
    MediaRules,
    MetricsSnapshot,
    PlatformContext,
    PublishRequest,
    QuotaBudget,
    RemotePost,
    UploadReceipt,
    UploadSession,
)
from pellacia.errors import OutcomeUnknown, Rejected
from pellacia.log import get_logger

from pellacia_twitter import metrics
from pellacia_twitter.auth import XAuth
from pellacia_twitter.budgets import quotas_for
from pellacia_twitter.client import PLATFORM, XApi, post_url
from pellacia_twitter.text import MAX_WEIGHT, check_text, normalised, text_of
from pellacia_twitter.upload import MediaUpload

MiB = 1024 * 1024
CLOCK_SKEW_S = 300  # our clock vs X's created_at, when bounding the reconcile search
RECONCILE_PAGES = 10  # 1000 posts back at most

#: Video in a post (media_category amplify_video), protocols.md §5.
MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4", "mov"}),
    video_codecs=frozenset({"h264"}),
    max_bytes=512_000_000,  # "512 MB": valid under both readings
    min_duration=0.5,
    max_duration=140.0,  # longer only for subscribed accounts
    min_side=32,
    max_side=1280,  # 32x32 to 1280x1024 (720x1280 vertical is accepted)
    min_aspect=1 / 3,
    max_aspect=3.0,
    max_fps=60.0,
    max_description_chars=MAX_WEIGHT,  # the post text; weighted by the x-text validator
)

CAPABILITIES = Capabilities(
    resumable_upload=True,  # segments are re-appended by index while the session lives
    separate_publish=True,  # POST /2/tweets with media.media_ids
    scheduled_publish=False,
    metrics_batch_size=metrics.BATCH,
)

log = get_logger("pellacia_twitter")


def check_media(request: PublishRequest) -> str:
    """The post text, or ``Rejected`` with every rule the post breaks (before any call)."""
    from pellacia.media import check_rules

    text = text_of(request)
    violations = check_rules(
        MEDIA_RULES, request.video, title=request.title, platform=PLATFORM, display_name="X"
    )
    if violations:
        raise Rejected("; ".join(v.message for v in violations), platform=PLATFORM)
    check_text(text)
    return text


class TwitterPlatform:
    """X (formerly Twitter): one video per post, API v2."""

    name = "twitter"
    display_name = "X"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES
    auth: AuthFlow = XAuth()

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.quotas: Sequence[QuotaBudget] = quotas_for(settings)

    def __repr__(self) -> str:
        return "<TwitterPlatform twitter>"

    # --------------------------------------------------------------- upload

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Initialize (or resume), append every segment, finalize, wait for processing."""
        check_media(request)
        return await MediaUpload(XApi(ctx), request, session, ctx).run()

    # -------------------------------------------------------------- publish

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """``POST /2/tweets`` with the media; a lost answer is ``OutcomeUnknown``."""
        text = check_media(request)
        media_id = receipt.remote_id or receipt.state.get("media_id")
        if not media_id:
            raise Rejected("X publish: the receipt has no media id", platform=PLATFORM)
        body: dict[str, Any] = {"text": text, "media": {"media_ids": [str(media_id)]}}
        for option in ("reply_settings", "made_with_ai", "paid_partnership"):
            if option in request.options:
                body[option] = request.options[option]
        api = XApi(ctx)
        try:
            answer = await api.json("POST", "/2/tweets", action="post", json=body, idempotent=False)
        except Rejected as refused:
            if "duplicate" not in str(refused).lower():
                raise
            found = await self.reconcile(request, receipt, ctx)  # X kept the first one
            if found is None:
                raise
            return found
        data = answer.get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise OutcomeUnknown(
                "X post: the answer names no post; reconcile before posting again",
                platform=PLATFORM,
            )
        post_id = str(data["id"])
        return RemotePost(
            remote_id=post_id, url=post_url(post_id), published_at=ctx.clock.now(), raw=data
        )

    # ------------------------------------------------------------ reconcile

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """The post this delivery made (by its media, else its text), None when sure there is none."""
        api = XApi(ctx)
        state = dict(receipt.state) if receipt else {}
        media_key = state.get("media_key")
        wanted = normalised(text_of(request))
        started = state.get("started_at")
        since = (
            datetime.fromtimestamp(float(started), tz=UTC)
            if started
            else ctx.clock.now()
            - timedelta(hours=float(ctx.settings.get("reconcile_lookback_hours", 72)))
        ) - timedelta(seconds=CLOCK_SKEW_S)
        me = await api.me()
        params = {
            "max_results": "100",
            "start_time": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tweet.fields": "created_at,attachments",
            "expansions": "attachments.media_keys",
        }
        for _ in range(RECONCILE_PAGES):
            page = await api.get(f"/2/users/{me['id']}/tweets", params, action="timeline")
            for tweet in page.get("data") or ():
                keys = (tweet.get("attachments") or {}).get("media_keys") or ()
                if (media_key and media_key in keys) or normalised(
                    str(tweet.get("text"))
                ) == wanted:
                    post_id = str(tweet["id"])
                    return RemotePost(post_id, url=post_url(post_id, me.get("username")), raw=tweet)
            token = (page.get("meta") or {}).get("next_token")
            if not token:
                return None
            params["pagination_token"] = str(token)
        raise OutcomeUnknown(
            "X: too many recent posts to be sure this one is not among them", platform=PLATFORM
        )

    # -------------------------------------------------------------- metrics

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        """Views, impressions, likes, replies, reposts, bookmarks of up to 100 posts a call."""
        return await metrics.fetch(XApi(ctx), posts)

"""The TikTok platform object: capabilities, media rules, upload/publish/reconcile/metrics.

Settings (``ctx.settings``, the ``[plugins.tiktok]`` table):

- ``chunk_size`` (bytes, default 10,000,000; TikTok allows 5 MB to 64 MB);
- ``min_chunk_size``: only for tests against a sandbox configured alike;
- ``status_poll_interval`` (s, default 5: well under the 30/min status limit): the
  longest wait between status polls (the first comes after 0.25 s, then doubling);
- ``publish_timeout`` (s, default 1800: moderation can take longer; then
  ``OutcomeUnknown`` and a later reconcile finds the post);
- ``reconcile_lookback_hours`` (default 72);
- ``unaudited_app`` (default false): the app has not passed TikTok's audit, so
  posts go out ``SELF_ONLY`` and the account must be private;
- ``daily_post_cap`` (default 15, read through ``configure``): TikTok enforces
  an unpublished per-creator daily cap; third parties report 15 to 25.

Duplicates. A Direct Post becomes a post only once TikTok has every byte of
*its* upload URL, and the URL exists only in init's answer. So an init whose
answer was lost (``OutcomeUnknown``) can never turn into a post: reconcile
checks the account's recent videos for this caption and, finding none, says
so, and the next attempt's fresh init is the only post. Once init answered, the
publish_id is saved before any byte is sent, and every later step (resume,
publish, reconcile) asks ``status/fetch`` about that publish_id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pellacia.contract import (
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
from pellacia.errors import (
    Challenge,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from pellacia.log import get_logger
from pellacia.sdk import poll_delays

from pellacia_tiktok import metrics
from pellacia_tiktok.auth import TikTokAuth
from pellacia_tiktok.client import DAILY_CAP_QUOTA, INIT_QUOTA, PLATFORM, TikTokClient
from pellacia_tiktok.upload import (
    STATE_VERSION,
    URL_TTL_S,
    UploadUrlGone,
    plan_for,
    receipt_of,
    transfer,
    url_alive,
)

MAX_CAPTION = 2200
CLOCK_SKEW_S = 300  # our clock vs TikTok's create_time, when bounding the reconcile search
DEFAULT_DAILY_CAP = 15
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
#: post_info fields a caller may set through ``request.options``
POST_OPTIONS = (
    "disable_duet",
    "disable_comment",
    "disable_stitch",
    "video_cover_timestamp_ms",
    "brand_content_toggle",
    "brand_organic_toggle",
    "is_aigc",
)
INBOX_NOTE = (
    "uploaded to the creator's TikTok inbox: the creator finishes the post in the TikTok app"
)
LIST_FIELDS = "id,create_time,title,video_description,share_url"

MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4", "mov", "webm"}),
    video_codecs=frozenset({"h264", "hevc", "vp8", "vp9"}),
    max_bytes=4 * 1024**3,
    max_duration=600,
    min_side=360,
    max_side=4096,
    min_fps=23,
    max_fps=60,
    max_title_chars=MAX_CAPTION,
    max_description_chars=MAX_CAPTION,
)

CAPABILITIES = Capabilities(
    resumable_upload=True,
    separate_publish=False,
    scheduled_publish=False,
    metrics_batch_size=metrics.BATCH,
)

log = get_logger("pellacia_tiktok")


def quotas_for(daily_post_cap: int = DEFAULT_DAILY_CAP) -> tuple[QuotaBudget, ...]:
    """TikTok's posting budgets: init 6/min per account, and the daily creator cap."""
    return (
        # spent by every init call itself (ctx.spend), not once per delivery
        QuotaBudget(
            name=INIT_QUOTA,
            limit=6,
            window=timedelta(minutes=1),
            per_account=True,
            per_call=True,
        ),
        QuotaBudget(
            name=DAILY_CAP_QUOTA, limit=daily_post_cap, window=timedelta(hours=24), per_account=True
        ),
    )


def caption_of(request: PublishRequest) -> str:
    """TikTok has one text, the caption: title, then description and hashtags."""
    caption = request.options.get("caption")
    if not isinstance(caption, str):
        parts = [request.title.strip(), request.caption.strip()]
        caption = "\n\n".join(p for i, p in enumerate(parts) if p and p not in parts[:i])
    if len(caption) > MAX_CAPTION:
        raise Rejected(
            f"TikTok captions are at most {MAX_CAPTION} characters (this one has {len(caption)})",
            platform=PLATFORM,
        )
    return caption


def check_media(rules: MediaRules, request: PublishRequest) -> None:
    """``Rejected`` with every broken rule, before anything is sent."""
    from pellacia.media import check_rules

    caption = caption_of(request)
    violations = check_rules(
        rules, request.video, title=caption, platform=PLATFORM, display_name="TikTok"
    )
    if violations:
        raise Rejected("; ".join(v.message for v in violations), platform=PLATFORM)


def choose_privacy(
    request: PublishRequest, creator: Mapping[str, Any], *, unaudited: bool = False
) -> str:
    """The privacy level: the requested one (must be allowed), else public if allowed,
    else private. An unaudited app may only post SELF_ONLY (to a private account)."""
    options = [o for o in creator.get("privacy_level_options") or () if o in PRIVACY_LEVELS]
    if unaudited:
        options = [o for o in options if o == "SELF_ONLY"]
    wanted = request.options.get("privacy_level")
    if wanted is not None:
        if wanted not in options:
            raise Rejected(
                f"TikTok: privacy_level {wanted} is not allowed for this creator (allowed: {', '.join(options) or 'none'})",
                platform=PLATFORM,
            )
        return str(wanted)
    if "PUBLIC_TO_EVERYONE" in options:
        return "PUBLIC_TO_EVERYONE"
    fallback = "SELF_ONLY" if "SELF_ONLY" in options else (options[0] if options else None)
    if fallback is None:
        raise Rejected(
            "TikTok: the creator has no privacy level available for posting", platform=PLATFORM
        )
    log.warning(
        "tiktok.privacy_downgraded",
        delivery_id=request.delivery_id,
        privacy_level=fallback,
        reason="the creator cannot post publicly (unaudited app or private account)",
    )
    return fallback


class TikTokPlatform:
    """TikTok Content Posting API (Direct Post by default, inbox on request)."""

    name = "tiktok"
    display_name = "TikTok"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES

    def __init__(self, *, daily_post_cap: int = DEFAULT_DAILY_CAP) -> None:
        self.auth = TikTokAuth()
        self.quotas: Sequence[QuotaBudget] = quotas_for(daily_post_cap)

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Apply the plugin's config section (``daily_post_cap``)."""
        cap = settings.get("daily_post_cap")
        if cap is not None:
            self.quotas = quotas_for(int(cap))

    # --------------------------------------------------------------- upload

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Init (or resume), then stream the chunks; state saved after each ack."""
        check_media(self.media_rules, request)
        client = TikTokClient(ctx)
        plan = plan_for(request, ctx)
        inbox = request.options.get("mode") == "inbox"
        state = await self._resumable_state(client, request, session, ctx, plan.video_size, inbox)
        if state is not None and state.get("done"):
            return receipt_of(state)
        for attempt in (1, 2):
            if state is None:
                state = await self._init(client, request, session, ctx, plan, inbox)
            try:
                state = await transfer(client, request, session, state)
            except UploadUrlGone:
                if attempt == 2:
                    raise Transient(  # neither init can become a post: it lacks bytes
                        "TikTok: the upload URL died twice in a row", platform=PLATFORM
                    ) from None
                status = await client.status(state["publish_id"])
                if int(status.get("uploaded_bytes") or 0) >= plan.video_size:
                    break
                log.info("tiktok.upload_url_expired", delivery_id=request.delivery_id)
                state = None
                continue
            break
        assert state is not None
        return receipt_of(state)

    async def _resumable_state(
        self,
        client: TikTokClient,
        request: PublishRequest,
        session: UploadSession,
        ctx: PlatformContext,
        size: int,
        inbox: bool,
    ) -> dict[str, Any] | None:
        """The saved state to go on from (``done`` set when nothing is left), or None."""
        saved = dict(session.resume_state or {})
        if (
            saved.get("v") != STATE_VERSION
            or not saved.get("publish_id")
            or saved.get("video_size") != size
        ):
            return None
        if (saved.get("mode") == "inbox") != inbox:
            return None
        try:
            status = await client.status(saved["publish_id"])
        except Rejected:  # TikTok no longer knows the publish_id: it never got all bytes
            log.info("tiktok.publish_id_forgotten", delivery_id=request.delivery_id)
            return None
        uploaded = int(status.get("uploaded_bytes") or 0)
        if status.get("status") == "FAILED":
            return None  # TikTok gave up on it: it is no post, start over
        if uploaded >= size or status.get("status") in ("PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"):
            saved.update(next_chunk=saved["total_chunk_count"], uploaded_bytes=size, done=True)
            return saved
        if not url_alive(saved, ctx.clock.now()):
            log.info(
                "tiktok.upload_url_expired",
                delivery_id=request.delivery_id,
                uploaded_bytes=uploaded,
            )
            return None
        saved["next_chunk"] = min(uploaded // saved["chunk_size"], saved["total_chunk_count"] - 1)
        saved["uploaded_bytes"] = saved["next_chunk"] * saved["chunk_size"]
        log.info(
            "tiktok.upload_resumed", delivery_id=request.delivery_id, next_chunk=saved["next_chunk"]
        )
        return saved

    async def _init(
        self,
        client: TikTokClient,
        request: PublishRequest,
        session: UploadSession,
        ctx: PlatformContext,
        plan: Any,
        inbox: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"source_info": plan.source_info()}
        username = privacy = None
        if not inbox:
            caption = caption_of(request)
            creator = await client.creator_info()
            username = creator.get("creator_username")
            limit = creator.get("max_video_post_duration_sec")
            if isinstance(limit, int | float) and request.video.duration > limit:
                raise Rejected(
                    f"TikTok: the video lasts {request.video.duration:.0f}s; this creator may post at most {limit:.0f}s",
                    platform=PLATFORM,
                )
            privacy = choose_privacy(
                request, creator, unaudited=bool(ctx.settings.get("unaudited_app"))
            )
            post_info: dict[str, Any] = {"title": caption, "privacy_level": privacy}
            for key in POST_OPTIONS:
                if key in request.options:
                    post_info[key] = request.options[key]
            for key, flag in (
                ("disable_comment", "comment_disabled"),
                ("disable_duet", "duet_disabled"),
                ("disable_stitch", "stitch_disabled"),
            ):
                if creator.get(flag):
                    post_info[key] = True  # the creator turned it off: TikTok refuses otherwise
            body["post_info"] = post_info
        started = ctx.clock.now()
        data = await client.init(inbox=inbox, body=body)
        if not data.get("publish_id") or not data.get("upload_url"):
            raise OutcomeUnknown(
                "TikTok init answered without publish_id/upload_url", platform=PLATFORM
            )
        state: dict[str, Any] = {
            "v": STATE_VERSION,
            "mode": "inbox" if inbox else "direct",
            "publish_id": data["publish_id"],
            "upload_url": data["upload_url"],
            "upload_url_expires_at": (started + timedelta(seconds=URL_TTL_S)).isoformat(),
            "video_size": plan.video_size,
            "chunk_size": plan.chunk_size,
            "total_chunk_count": plan.total_chunk_count,
            "next_chunk": 0,
            "uploaded_bytes": 0,
            "privacy_level": privacy,
            "creator_username": username,
            "started_at": started.isoformat(),
        }
        await session.save_state(dict(state))
        return state

    # -------------------------------------------------------------- publish

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """Wait for TikTok to finish (Direct Post publishes itself; inbox waits for the creator)."""
        state = dict(receipt.state)
        publish_id = state.get("publish_id") or receipt.remote_id
        if not publish_id:
            raise Rejected("TikTok publish: the receipt has no publish_id", platform=PLATFORM)
        client = TikTokClient(ctx)
        interval = float(ctx.settings.get("status_poll_interval", 5.0))
        waits = poll_delays(interval)
        deadline = ctx.clock.monotonic() + float(ctx.settings.get("publish_timeout", 1800.0))
        while True:
            try:
                status = await client.status(str(publish_id))
            except RateLimited as limited:  # 30/min per token, shared with other deliveries
                await ctx.clock.sleep(max(interval, min(limited.retry_after or 60.0, 60.0)))
                continue
            except Transient as lost:
                # every byte is in: TikTok publishes on its own, so the post may be out
                raise OutcomeUnknown(
                    f"TikTok publish {publish_id}: status unknown ({lost}); reconcile",
                    platform=PLATFORM,
                ) from None
            post = await self._settled(client, request, state, str(publish_id), status)
            if post is not None:
                return post
            if ctx.clock.monotonic() >= deadline:
                raise OutcomeUnknown(
                    f"TikTok is still processing publish {publish_id} ({status.get('status')}); reconcile later",
                    platform=PLATFORM,
                )
            await ctx.clock.sleep(next(waits))

    async def _settled(
        self,
        client: TikTokClient,
        request: PublishRequest,
        state: Mapping[str, Any],
        publish_id: str,
        status: Mapping[str, Any],
    ) -> RemotePost | None:
        """The post when ``status`` is final (raising on FAILED), else None."""
        value = status.get("status")
        raw = {"publish_id": publish_id, **status}
        if value == "FAILED":
            reason = str(status.get("fail_reason") or "unknown")
            error: PlatformError = (
                Challenge(f"TikTok refused the post: {reason}", platform=PLATFORM)
                if reason.startswith("spam_risk")
                else Rejected(f"TikTok refused the post: {reason}", platform=PLATFORM)
            )
            raise error
        if value == "SEND_TO_USER_INBOX":
            return RemotePost(remote_id=publish_id, url=None, raw={**raw, "note": INBOX_NOTE})
        if value != "PUBLISH_COMPLETE":
            return None
        ids = [str(i) for i in status.get("publicaly_available_post_id") or () if i]
        if ids:
            return self._post(ids[0], state.get("creator_username"), raw)
        # private posts get no public id: look the video up by its caption
        found = await self._find_in_list(
            client, caption_of(request), _since(state, request), state.get("creator_username")
        )
        return found or RemotePost(
            remote_id=publish_id, url=None, raw={**raw, "note": "published; TikTok gave no post id"}
        )

    @staticmethod
    def _post(video_id: str, username: Any, raw: Mapping[str, Any]) -> RemotePost:
        url = f"https://www.tiktok.com/@{username}/video/{video_id}" if username else None
        return RemotePost(remote_id=video_id, url=url, raw=dict(raw))

    # ------------------------------------------------------------ reconcile

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """The post this delivery made, None when sure there is none, else ``OutcomeUnknown``."""
        client = TikTokClient(ctx)
        state = dict(receipt.state) if receipt else {}
        publish_id = state.get("publish_id") or (receipt.remote_id if receipt else None)
        if publish_id:
            try:
                status = await client.status(str(publish_id))
            except Rejected:
                status = {}  # TikTok forgot the publish_id: fall back to the video list
            if status:
                value = status.get("status")
                if value == "FAILED":
                    return None
                post = await self._settled(client, request, state, str(publish_id), status)
                if post is not None:
                    return post
                if int(status.get("uploaded_bytes") or 0) < int(state.get("video_size") or 1):
                    return None  # bytes missing: it cannot become a post unless we send them
                raise OutcomeUnknown(
                    f"TikTok is still processing publish {publish_id}", platform=PLATFORM
                )
        if request.options.get("mode") == "inbox":
            return None  # drafts never show in the video list, and without a publish_id no bytes went out
        since = _since(state, request) or ctx.clock.now() - timedelta(
            hours=float(ctx.settings.get("reconcile_lookback_hours", 72))
        )
        return await self._find_in_list(
            client, caption_of(request), since, state.get("creator_username")
        )

    async def _find_in_list(
        self, client: TikTokClient, caption: str, since: datetime | None, username: Any
    ) -> RemotePost | None:
        """The newest video with this caption created at or after ``since``."""
        floor = int(since.timestamp()) - CLOCK_SKEW_S if since else 0
        cursor: int | None = None
        for _ in range(10):  # at most 200 videos back
            data = await client.video_list(fields=LIST_FIELDS, cursor=cursor)
            videos = [v for v in data.get("videos") or [] if isinstance(v, dict)]
            for video in videos:
                if int(video.get("create_time") or 0) < floor:
                    return None
                if caption in (video.get("title"), video.get("video_description")):
                    share = video.get("share_url")
                    post = self._post(str(video["id"]), username, {"video": video})
                    return (
                        post
                        if post.url or not share
                        else RemotePost(post.remote_id, url=str(share), raw=post.raw)
                    )
            if not data.get("has_more") or not videos:
                return None
            cursor = int(data.get("cursor") or 0)
        raise OutcomeUnknown(
            "TikTok: too many recent videos to be sure this one is not among them",
            platform=PLATFORM,
        )

    # -------------------------------------------------------------- metrics

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        """Views, likes, comments, shares of up to 20 posts per call to TikTok."""
        return await metrics.fetch(TikTokClient(ctx), posts)


def _since(state: Mapping[str, Any], request: PublishRequest) -> datetime | None:
    started = state.get("started_at")
    if started:
        return datetime.fromisoformat(started)
    if request.scheduled_at is not None:
        return request.scheduled_at - timedelta(minutes=5)
    return None

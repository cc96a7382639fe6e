"""The YouTube platform object: capabilities, media rules, upload/publish/reconcile/metrics."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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
from pellacia.errors import OutcomeUnknown, Rejected, Transient
from pellacia.sdk import poll_delays

from pellacia_youtube.auth import YouTubeAuth
from pellacia_youtube.client import DAILY_UNITS_QUOTA, PLATFORM, YouTubeApi
from pellacia_youtube.metrics import fetch_statistics
from pellacia_youtube.upload import ResumableUpload, chunk_size_from, status_query

MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4", "mov", "webm", "matroska", "avi", "flv", "mpeg"}),
    max_bytes=256 * 1024**3,
    max_duration=12 * 3600,
    max_title_chars=100,
    max_description_chars=5000,
)

CAPABILITIES = Capabilities(
    resumable_upload=True, separate_publish=False, scheduled_publish=True, metrics_batch_size=50
)

#: Projects that have not passed Google's API audit may only upload private
#: videos, so "private" is the default; set options["privacy"] (or the
#: settings' "privacy_status") to "public"/"unlisted" once the project is audited.
DEFAULT_PRIVACY = "private"
DEFAULT_CATEGORY = "25"  # News & Politics
WATCH_URL = "https://www.youtube.com/watch?v={}"
INSERT_COST = 1600


def delivery_tag(idempotency_key: str) -> str:
    """The tag that marks a video as this delivery's, for ``reconcile``.

    Tags are not shown to viewers (unlike the description), survive edits of
    the title, and come back from ``videos.list part=snippet`` to the owner.
    A short hash keeps the delivery id itself private.
    """
    return "pd-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]


def _opt(request: PublishRequest, ctx: PlatformContext, key: str, setting: str) -> Any:
    return request.options.get(key, ctx.settings.get(setting))


#: a project's default daily quota of the Data API
DAILY_UNITS = 10_000


class YouTubePlatform:
    """YouTube through the Data API v3.

    ``insert_cost`` is what one delivery takes from the daily unit budget:
    1600 per the videos.insert reference; projects on the newer quota model
    (separate 100 uploads/day bucket) can register with another value.
    ``daily_units`` is the project's daily allowance: 10,000 unless Google
    granted an extension (settings ``daily_units`` and ``insert_cost``).
    """

    name = PLATFORM
    display_name = "YouTube"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES

    def __init__(self, *, insert_cost: int = INSERT_COST, daily_units: int = DAILY_UNITS) -> None:
        self.auth = YouTubeAuth()
        self.quotas: Sequence[QuotaBudget] = (
            QuotaBudget(
                DAILY_UNITS_QUOTA,
                limit=daily_units,
                cost_per_delivery=insert_cost,
                reset_timezone="America/Los_Angeles",
                per_account=False,
            ),
        )

    def __repr__(self) -> str:
        return "YouTubePlatform()"

    # ---------------------------------------------------------------- upload

    def metadata(self, request: PublishRequest, ctx: PlatformContext) -> dict[str, Any]:
        """The ``videos.insert`` resource for ``request``."""
        tags = [str(t) for t in request.options.get("tags", ())]
        tags.append(delivery_tag(request.idempotency_key))
        privacy = _opt(request, ctx, "privacy", "privacy_status") or DEFAULT_PRIVACY
        status: dict[str, Any] = {
            "privacyStatus": privacy,
            "selfDeclaredMadeForKids": bool(request.options.get("made_for_kids", False)),
        }
        when = request.scheduled_at
        if when is not None and when > ctx.clock.now():
            # YouTube holds the video and publishes it itself; needs private
            status["privacyStatus"] = "private"
            status["publishAt"] = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "snippet": {
                "title": request.title,
                "description": request.caption,
                "tags": tags,
                "categoryId": str(
                    _opt(request, ctx, "category_id", "category_id") or DEFAULT_CATEGORY
                ),
            },
            "status": status,
        }

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Resumable upload; resumes from ``session.resume_state`` when present."""
        from pellacia.media import check_rules

        violations = check_rules(
            self.media_rules,
            request.video,
            title=request.title,
            description=request.caption,
            platform=self.name,
            display_name=self.display_name,
        )
        if violations:  # refused before a single request (and a quota unit) is spent
            raise Rejected("; ".join(v.message for v in violations), platform=PLATFORM)
        run = ResumableUpload(
            YouTubeApi(ctx),
            session,
            request.video.path,
            self.metadata(request, ctx),
            chunk_size=chunk_size_from(ctx.settings),
        )
        video = await run.run()
        session.progress(run.total, run.total)
        return UploadReceipt(
            remote_id=str(video["id"]),
            state={"session_uri": run.uri, "total": run.total, "video_id": str(video["id"])},
        )

    # --------------------------------------------------------------- publish

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """Wait for processing (no publish call exists on YouTube) and return the post."""
        if not receipt.remote_id:
            raise Rejected("YouTube publish: no video id in the upload receipt", platform=PLATFORM)
        client = YouTubeApi(ctx)
        interval = float(ctx.settings.get("processing_poll_interval", 10.0))
        max_polls = int(ctx.settings.get("processing_max_polls", 360))
        waits = poll_delays(interval)
        for _ in range(max_polls):
            video = await self._get_video(client, receipt.remote_id, "status,processingDetails")
            if video is None:
                raise Rejected(
                    f"YouTube video {receipt.remote_id} no longer exists", platform=PLATFORM
                )
            status = video.get("status") or {}
            upload_status = status.get("uploadStatus")
            if upload_status == "processed":
                return self._post(video, request)
            if upload_status in ("failed", "rejected", "deleted"):
                reason = status.get("failureReason") or status.get("rejectionReason") or ""
                raise Rejected(
                    f"YouTube {upload_status} video {receipt.remote_id}"
                    + (f": {reason}" if reason else ""),
                    platform=PLATFORM,
                )
            await ctx.clock.sleep(next(waits))
        raise Transient(
            f"YouTube video {receipt.remote_id} is still processing; will check again",
            platform=PLATFORM,
        )

    def _post(self, video: Mapping[str, Any], request: PublishRequest) -> RemotePost:
        video_id = str(video["id"])
        status = video.get("status") or {}
        snippet = video.get("snippet") or {}
        when = status.get("publishAt") or snippet.get("publishedAt")
        published = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None
        return RemotePost(
            remote_id=video_id,
            url=WATCH_URL.format(video_id),
            published_at=published,
            raw={"status": dict(status)},
        )

    async def _get_video(
        self, client: YouTubeApi, video_id: str, part: str
    ) -> dict[str, Any] | None:
        data = await client.get_json(
            "/youtube/v3/videos", {"part": part, "id": video_id}, f"videos.list {part}"
        )
        items = data.get("items") or []
        return dict(items[0]) if items else None

    # ------------------------------------------------------------- reconcile

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """Find the video this delivery already made.

        1. A known video id: look it up.
        2. A saved session URI (``receipt.state`` holds the upload's resume
           state): the status query says whether the upload finished even
           when the final chunk's answer was lost.
        3. Otherwise the channel's newest 50 uploads (2 units): same title and
           our ``delivery_tag`` → that video; same title and description but
           no tag → ``OutcomeUnknown`` (maybe posted by another layer).
        """
        client = YouTubeApi(ctx)
        state = dict(receipt.state) if receipt else {}
        video_id = (receipt.remote_id if receipt else None) or state.get("video_id")
        if video_id:
            video = await self._get_video(client, str(video_id), "snippet,status")
            if video is not None:
                return self._post(video, request)
            raise OutcomeUnknown(
                f"YouTube video {video_id} was uploaded but is gone (deleted?); "
                "not posting again without a person deciding",
                platform=PLATFORM,
            )
        uri, total = state.get("session_uri"), state.get("total")
        if isinstance(uri, str):
            try:
                size = total if isinstance(total, int) else None
                video = (await status_query(client, uri, size)).resource
            except Transient:  # the session cannot tell: look in the channel instead
                video = None
            if video is not None:
                return self._post(video, request)
        return await self._find_in_uploads(client, request)

    async def _find_in_uploads(
        self, client: YouTubeApi, request: PublishRequest
    ) -> RemotePost | None:
        channels = await client.get_json(
            "/youtube/v3/channels", {"part": "contentDetails", "mine": "true"}, "channels.list"
        )
        items = channels.get("items") or []
        if not items:
            return None  # no channel: nothing can have been posted
        playlist = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        listing = await client.get_json(
            "/youtube/v3/playlistItems",
            {"part": "snippet,contentDetails", "playlistId": playlist, "maxResults": "50"},
            "playlistItems.list",
        )
        same_title = [
            item["contentDetails"]["videoId"]
            for item in listing.get("items") or []
            if (item.get("snippet") or {}).get("title") == request.title
        ]
        if not same_title:
            return None
        data = await client.get_json(
            "/youtube/v3/videos",
            {"part": "snippet,status", "id": ",".join(same_title[:50])},
            "videos.list snippet",
        )
        tag = delivery_tag(request.idempotency_key)
        lookalike = False
        for video in data.get("items") or []:
            snippet = video.get("snippet") or {}
            if tag in (snippet.get("tags") or ()):
                return self._post(video, request)
            if snippet.get("description", "") == request.caption:
                lookalike = True
        if lookalike:
            raise OutcomeUnknown(
                "a YouTube video with the same title and description exists but without "
                "this delivery's tag (posted another way?); check the channel",
                platform=PLATFORM,
            )
        return None

    # --------------------------------------------------------------- metrics

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        """views/likes/comments from ``videos.list part=statistics`` (50 ids per call)."""
        return await fetch_statistics(YouTubeApi(ctx), posts)

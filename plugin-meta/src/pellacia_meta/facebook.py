"""Facebook Page reels and regular Page videos (Graph API, protocols.md §4).

Each post goes out as a **reel** or a regular **video**: a reel when the
media meets the reel rules (3-90 s, 9:16, at least 540x960, 24-60 fps), a
video otherwise; ``--option facebook.format=reel|video`` overrides.

Reel (Reels Publishing API):
1. ``POST /{page}/video_reels upload_phase=start`` → ``video_id`` + ``upload_url``
   (saved at once);
2. rupload the file (``pellacia_meta.rupload``); a resumed upload asks
   ``GET /{video}?fields=status`` for ``uploading_phase.bytes_transferred``;
3. ``publish``: ``upload_phase=finish`` with ``video_state=PUBLISHED``
   (``SCHEDULED`` + ``scheduled_publish_time`` for a future post), then the
   status phases until ``publishing_phase`` completes.

Video (Resumable Upload API):
1. ``POST /{app}/uploads`` → ``upload:<session>`` (saved at once);
2. ``POST /upload:<session>`` with ``file_offset`` (resume from
   ``GET /upload:<session>``'s ``file_offset``) → the file handle;
3. ``publish``: ``POST graph-video…/{page}/videos`` with the handle.

``reconcile``: a reel's status says whether its finish landed; otherwise the
Page's recent reels or videos are searched for this delivery's description
(title, text, hashtags), posted after the upload started.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pellacia.contract import (
    AuthFlow,
    MetricsSnapshot,
    PlatformContext,
    PublishRequest,
    QuotaBudget,
    RemotePost,
    UploadReceipt,
    UploadSession,
)
from pellacia.errors import OutcomeUnknown, PlatformError, Rejected, Transient
from pellacia.media import check_rules

from pellacia_meta import insights
from pellacia_meta.auth import FACEBOOK_SCOPES, MetaLogin
from pellacia_meta.common import (
    STATE_VERSION,
    account_fact,
    caption_of,
    check_media,
    parse_time,
    poll_delays,
    since_of,
)
from pellacia_meta.graph import GraphApi
from pellacia_meta.platform import (
    DISTRIBUTION,
    FACEBOOK_CAPABILITIES,
    FACEBOOK_QUOTAS,
    FACEBOOK_REEL_RULES,
    FACEBOOK_VIDEO_RULES,
)
from pellacia_meta.rupload import send_file, server_offset

PLATFORM = "facebook"
GRAPH_VIDEO = "https://graph-video.facebook.com"
FORMATS = ("reel", "video")
LIST_FIELDS = "id,description,updated_time,permalink_url"


def format_of(request: PublishRequest) -> str:
    """``reel`` or ``video``: the option when given, else what the media allows."""
    chosen = str(request.options.get("format") or "").lower()
    if chosen and chosen not in FORMATS:
        raise Rejected(f"facebook.format must be reel or video, not {chosen!r}", platform=PLATFORM)
    if chosen:
        return chosen
    return "video" if check_rules(FACEBOOK_REEL_RULES, request.video) else "reel"


class FacebookPlatform:
    """Facebook Page reels and videos through the Graph API."""

    name = PLATFORM
    display_name = "Facebook"
    distribution = DISTRIBUTION
    capabilities = FACEBOOK_CAPABILITIES
    media_rules = FACEBOOK_VIDEO_RULES  # what any Facebook video meets; reels: FACEBOOK_REEL_RULES
    quotas: Sequence[QuotaBudget] = FACEBOOK_QUOTAS

    def __init__(self) -> None:
        self.auth: AuthFlow = MetaLogin(PLATFORM, FACEBOOK_SCOPES)

    def __repr__(self) -> str:
        return "FacebookPlatform()"

    # ---------------------------------------------------------------- upload

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Start (or resume) the reel or video upload and send the bytes."""
        fmt = format_of(request)
        check_media(self, request)
        if fmt == "reel":
            _check_reel(request)
        api = GraphApi(ctx)
        page = await account_fact(ctx, "page_id")
        state = dict(session.resume_state or {})
        offset: int | None = None
        if state.get("format") == fmt and state.get("total") == request.video.size:
            offset = await self._resumable_offset(api, state)
        if offset is None:
            state = await self._open(api, request, fmt, page)
            await session.save_state(state)  # durable before any byte
            offset = 0
        return await self._send(api, request, session, state, offset)

    async def _open(
        self, api: GraphApi, request: PublishRequest, fmt: str, page: str
    ) -> dict[str, Any]:
        base = {
            "v": STATE_VERSION,
            "format": fmt,
            "page_id": page,
            "total": request.video.size,
            "offset": 0,
            "started_at": api.ctx.clock.now().isoformat(),
        }
        if fmt == "reel":
            started = await api.post(
                page, "video_reels", action="start reel", form={"upload_phase": "start"}
            )
            if not started.get("video_id") or not started.get("upload_url"):
                raise Transient("Facebook start reel: no video_id or upload_url", platform=PLATFORM)
            return {**base, "video_id": str(started["video_id"]), "uri": str(started["upload_url"])}
        app = await account_fact(api.ctx, "app_id")
        opened = await api.post(
            app,
            "uploads",
            action="open upload session",
            form={
                "file_name": request.video.path.name,
                "file_length": str(request.video.size),
                "file_type": "video/quicktime" if request.video.container == "mov" else "video/mp4",
            },
        )
        if not str(opened.get("id") or "").startswith("upload:"):
            raise Transient("Facebook upload session: no upload id", platform=PLATFORM)
        return {**base, "session": str(opened["id"]), "uri": api.url(api.path(str(opened["id"])))}

    async def _resumable_offset(self, api: GraphApi, state: dict[str, Any]) -> int | None:
        """Bytes the saved reel or session holds; None when a new one is needed."""
        if state.get("format") == "video":
            held = await server_offset(api.ctx, api.meter, str(state["uri"]), "file_offset")
            return held  # a forgotten session: start again
        status = await self._reel_status(api, str(state["video_id"]))
        if status is None:
            return None
        if status.get("video_status") == "error":
            raise Rejected(
                f"Facebook could not process the reel: {_why(status)}", platform=PLATFORM
            )
        uploading = status.get("uploading_phase") or {}
        if uploading.get("status") == "complete":
            return int(state["total"])
        return int(uploading.get("bytes_transferred") or 0)

    async def _send(
        self,
        api: GraphApi,
        request: PublishRequest,
        session: UploadSession,
        state: dict[str, Any],
        offset: int,
    ) -> UploadReceipt:
        video = state["format"] == "video"

        async def checkpoint() -> int | None:
            return await self._resumable_offset(api, state)

        answer = await send_file(
            api.ctx,
            api.meter,
            session,
            request.video.path,
            uri=str(state["uri"]),
            total=int(state["total"]),
            offset=offset,
            state=lambda at: {**state, "offset": at},
            checkpoint=checkpoint,
            session_api=video,
        )
        if video and answer.get("h"):
            state["handle"] = str(answer["h"])
        if video and not state.get("handle"):
            raise Transient("Facebook upload: no file handle yet; resuming", platform=PLATFORM)
        state.update(offset=state["total"], uploaded=True)
        await session.save_state(state)
        return UploadReceipt(remote_id=state.get("video_id"), state=dict(state))

    async def _reel_status(self, api: GraphApi, video_id: str) -> dict[str, Any] | None:
        """The reel's ``status`` object; None when Facebook no longer knows the video."""
        try:
            data = await api.get(video_id, action="reel status", fields="status,permalink_url")
        except Rejected:
            return None
        status = data.get("status")
        if not isinstance(status, dict):
            return None
        return {**status, "permalink_url": data.get("permalink_url")}

    # --------------------------------------------------------------- publish

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """Finish the reel (or publish the video) and wait until Facebook shows it."""
        api = GraphApi(ctx)
        state = dict(receipt.state)
        page = str(state.get("page_id") or await account_fact(ctx, "page_id"))
        if state.get("format") == "video":
            return await self._publish_video(api, request, state, page)
        video_id = receipt.remote_id or str(state.get("video_id") or "")
        if not video_id:
            raise Rejected("Facebook publish: no video id in the upload receipt", platform=PLATFORM)
        form = {
            "upload_phase": "finish",
            "video_id": video_id,
            "video_state": "PUBLISHED",
            "description": caption_of(request),
            "title": request.title,
        }
        when = request.scheduled_at
        scheduled = when is not None and when > ctx.clock.now() + timedelta(minutes=10)
        if scheduled and when is not None:  # Facebook holds the reel and publishes it itself
            form.update(video_state="SCHEDULED", scheduled_publish_time=str(int(when.timestamp())))
        await api.post(page, "video_reels", action="finish reel", form=form, idempotent=False)
        if scheduled:
            status = await self._reel_status(api, video_id)
            return _post(video_id, status or {})
        return await self._wait_published(api, ctx, video_id)

    async def _wait_published(
        self, api: GraphApi, ctx: PlatformContext, video_id: str
    ) -> RemotePost:
        """Poll the reel's phases; the post once ``publishing_phase`` completes."""
        delays = poll_delays(ctx.settings)
        deadline = ctx.clock.monotonic() + float(ctx.settings.get("publish_timeout", 600.0))
        while True:
            status = await self._reel_status(api, video_id)
            if status is None:
                raise OutcomeUnknown(
                    f"Facebook no longer knows reel {video_id} after its finish", platform=PLATFORM
                )
            if status.get("video_status") == "error":
                raise Rejected(
                    f"Facebook could not process the reel: {_why(status)}", platform=PLATFORM
                )
            publishing = status.get("publishing_phase") or {}
            if publishing.get("status") == "complete" or ctx.clock.monotonic() >= deadline:
                # past the deadline the finish was accepted: Facebook publishes once processed
                return _post(video_id, status)
            await ctx.clock.sleep(next(delays))

    async def _publish_video(
        self, api: GraphApi, request: PublishRequest, state: dict[str, Any], page: str
    ) -> RemotePost:
        made = await api.json(
            "POST",
            f"{api.ctx.endpoint(GRAPH_VIDEO)}{api.path(page, 'videos')}",
            action="publish video",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data=_form(
                title=request.title,
                description=caption_of(request),
                fbuploader_video_file_chunk=str(state.get("handle") or ""),
            ),
            idempotent=False,
        )
        if not made.get("id"):
            raise OutcomeUnknown("Facebook publish video answered without an id", platform=PLATFORM)
        video_id = str(made["id"])
        try:
            status = await self._reel_status(api, video_id)
        except PlatformError:
            status = None
        return _post(video_id, status or {})

    # ------------------------------------------------------------- reconcile

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """The post this delivery made; None when sure there is none."""
        api = GraphApi(ctx)
        state = dict(receipt.state) if receipt else {}
        video_id = (receipt.remote_id if receipt else None) or state.get("video_id")
        if video_id and state.get("format", "reel") == "reel":
            status = await self._reel_status(api, str(video_id))
            if status is not None:
                publishing = status.get("publishing_phase") or {}
                if publishing.get("status") in ("complete", "in_progress") or (
                    publishing.get("publish_status") == "scheduled"
                ):
                    return _post(str(video_id), status)
                return None  # the finish never landed: no post
        page = str(state.get("page_id") or await account_fact(ctx, "page_id"))
        fmt = state.get("format") or format_of(request)
        edge = "video_reels" if fmt == "reel" else "videos"
        return await self._find(api, page, edge, caption_of(request), since_of(state, request, ctx))

    async def _find(
        self, api: GraphApi, page: str, edge: str, description: str, since: datetime
    ) -> RemotePost | None:
        after: str | None = None
        for _ in range(4):  # at most 200 videos back
            query = {"fields": LIST_FIELDS, "limit": "50"}
            if after:
                query["after"] = after
            data = await api.get(page, edge, action=f"list {edge}", **query)
            for video in data.get("data") or []:
                when = parse_time(video.get("updated_time"))
                if when is not None and when < since:
                    return None
                if video.get("description") == description:
                    return RemotePost(
                        remote_id=str(video["id"]),
                        url=video.get("permalink_url"),
                        published_at=when,
                        raw={"video": video},
                    )
            paging = data.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not after or not paging.get("next"):
                return None
        raise OutcomeUnknown(
            "Facebook: too many recent videos to be sure this one is not among them",
            platform=PLATFORM,
        )

    # -------------------------------------------------------------- metrics

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        """Reel or video insights of up to 50 posts in one Graph batch request.

        No ``metric`` is named: each video answers its own kind's lifetime
        metrics (a reel's names are refused for a regular video and back).
        """
        return await insights.fetch(
            GraphApi(ctx), posts, lambda video: f"{video}/video_insights", insights.FACEBOOK_METRICS
        )

    async def account_metrics(self, ctx: PlatformContext) -> dict[str, float]:
        """The Page's followers (for the analytics store)."""
        page = await account_fact(ctx, "page_id")
        data = await GraphApi(ctx).get(page, action="page", fields="followers_count,fan_count")
        return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}


def _check_reel(request: PublishRequest) -> None:
    violations = check_rules(
        FACEBOOK_REEL_RULES, request.video, platform=PLATFORM, display_name="Facebook Reels"
    )
    if violations:
        raise Rejected(
            "; ".join(v.message for v in violations)
            + " (send it as a regular video with --option facebook.format=video)",
            platform=PLATFORM,
        )


def _why(status: dict[str, Any]) -> str:
    errors = (status.get("processing_phase") or {}).get("errors") or []
    return "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or "error"


def _post(video_id: str, status: dict[str, Any]) -> RemotePost:
    publishing = status.get("publishing_phase") or {}
    when = publishing.get("publish_time")
    return RemotePost(
        remote_id=video_id,
        url=status.get("permalink_url"),
        published_at=parse_time(when) if when else None,
        raw={"status": {k: v for k, v in status.items() if k != "permalink_url"}},
    )


def _form(**fields: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()

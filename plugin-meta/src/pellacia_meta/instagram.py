"""Instagram Reels through media containers (Graph API with Facebook Login, protocols.md §3).

1. ``GET /{ig-user}/content_publishing_limit``: a full 24 h allowance is a
   wait (``RateLimited`` on ``instagram:publish-24h``), before any byte goes out.
2. ``POST /{ig-user}/media`` ``media_type=REELS&upload_type=resumable`` →
   container id + rupload ``uri`` (saved at once as resume state).
3. rupload the file (``pellacia_meta.rupload``); a resumed upload asks the
   ``uri`` how many bytes it holds and goes on from there (from 0 when it
   cannot tell). A container that expired is replaced by a new one: an
   expired container was never published.
4. ``publish``: poll ``GET /{container}?fields=status_code,status`` until
   ``FINISHED`` (``ERROR`` → ``Rejected`` with Meta's status), then
   ``POST /{ig-user}/media_publish creation_id=…`` (its lost answer is
   ``OutcomeUnknown``) and read the permalink.
5. ``reconcile``: the container's status says whether it was published
   (only ``PUBLISHED`` can have made a post); the post itself is found in the
   account's recent media by its caption (the title and text this delivery
   sent), published after the upload started.

Settings (``[plugins.meta]``): ``chunk_size`` (bytes; default: one body),
``status_poll_interval`` (s, default 15), ``publish_timeout`` (s, default
600), ``reconcile_lookback_hours`` (72), ``share_to_feed`` (true), ``page_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
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

from pellacia_meta import insights
from pellacia_meta.auth import INSTAGRAM_SCOPES, MetaLogin
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
    INSTAGRAM_CAPABILITIES,
    INSTAGRAM_QUOTAS,
    INSTAGRAM_RULES,
)
from pellacia_meta.rupload import send_file, server_offset

PLATFORM = "instagram"
PUBLISH_QUOTA = "instagram:publish-24h"
INSIGHT_METRICS = ",".join(insights.INSTAGRAM_METRICS)
MEDIA_FIELDS = "id,caption,permalink,timestamp,media_product_type"
#: container states in which no post was made from it
NOT_PUBLISHED = frozenset({"IN_PROGRESS", "FINISHED", "ERROR", "EXPIRED"})


class InstagramPlatform:
    """Instagram Reels through the Graph API with Facebook Login."""

    name = PLATFORM
    display_name = "Instagram"
    distribution = DISTRIBUTION
    capabilities = INSTAGRAM_CAPABILITIES
    media_rules = INSTAGRAM_RULES
    quotas: Sequence[QuotaBudget] = INSTAGRAM_QUOTAS

    def __init__(self) -> None:
        self.auth: AuthFlow = MetaLogin(PLATFORM, INSTAGRAM_SCOPES)

    def __repr__(self) -> str:
        return "InstagramPlatform()"

    def _api(self, ctx: PlatformContext) -> GraphApi:
        # one usage meter per operation: a limit Meta announced goes to the engine as
        # RateLimited, which waits; within the operation, calls slow down from 90 %
        return GraphApi(ctx)

    # ---------------------------------------------------------------- upload

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Container + rupload; resumes the saved container while it lives."""
        check_media(self, request)
        api = self._api(ctx)
        ig = await account_fact(ctx, "ig_user_id")
        state = dict(session.resume_state or {})
        if state.get("container_id") and state.get("total") == request.video.size:
            offset = await self._resumable_offset(api, state)
            if offset is not None:
                return await self._send(api, request, session, state, offset)
        await self._check_allowance(api, ig)
        created = await api.post(
            ig,
            "media",
            action="create container",
            form={
                "media_type": "REELS",
                "upload_type": "resumable",
                "caption": caption_of(request),
                "share_to_feed": str(ctx.settings.get("share_to_feed", True)).lower(),
            },
        )
        if not created.get("id") or not created.get("uri"):
            raise Transient("Instagram create container: no id or uri", platform=PLATFORM)
        state = {
            "v": STATE_VERSION,
            "container_id": str(created["id"]),
            "uri": str(created["uri"]),
            "ig_user_id": ig,
            "total": request.video.size,
            "offset": 0,
            "started_at": ctx.clock.now().isoformat(),
        }
        await session.save_state(state)  # durable before any byte
        return await self._send(api, request, session, state, 0)

    async def _resumable_offset(self, api: GraphApi, state: Mapping[str, Any]) -> int | None:
        """Where to go on with the saved container; None when a new one is needed."""
        code, status = await self._status(api, str(state["container_id"]))
        if code == "ERROR":
            raise Rejected(f"Instagram could not process the video: {status}", platform=PLATFORM)
        if code in ("EXPIRED", None):
            return None  # never published: a new container replaces it
        if code in ("FINISHED", "PUBLISHED") or state.get("uploaded"):
            return int(state["total"])
        held = await server_offset(api.ctx, api.meter, str(state["uri"]))
        return 0 if held is None else held  # from 0 when the server cannot say

    async def _send(
        self,
        api: GraphApi,
        request: PublishRequest,
        session: UploadSession,
        state: dict[str, Any],
        offset: int,
    ) -> UploadReceipt:
        uri, total, ctx = str(state["uri"]), int(state["total"]), api.ctx
        await send_file(
            ctx,
            api.meter,
            session,
            request.video.path,
            uri=uri,
            total=total,
            offset=offset,
            state=lambda at: {**state, "offset": at},
            checkpoint=lambda: server_offset(ctx, api.meter, uri),
        )
        state.update(offset=total, uploaded=True)
        await session.save_state(state)
        return UploadReceipt(remote_id=str(state["container_id"]), state=dict(state))

    async def _check_allowance(self, api: GraphApi, ig: str) -> None:
        """The 24 h publishing allowance, read from Meta (a full one is a wait)."""
        data = await api.get(
            ig, "content_publishing_limit", action="publishing limit", fields="quota_usage,config"
        )
        entries = data.get("data") or [{}]
        entry = entries[0] if isinstance(entries[0], dict) else {}
        used = int(entry.get("quota_usage") or 0)
        total = int((entry.get("config") or {}).get("quota_total") or 0)
        if total and used >= total:
            raise api.rate_limited(
                f"Instagram: {used} of {total} posts in the last 24 h; waiting for the window",
                3600.0,
                quota=PUBLISH_QUOTA,
            )

    async def _status(self, api: GraphApi, container: str) -> tuple[str | None, str]:
        """``(status_code, status)`` of a container; ``(None, "")`` when Meta forgot it."""
        try:
            data = await api.get(container, action="container status", fields="status_code,status")
        except Rejected:
            return None, ""
        return (str(data["status_code"]) if data.get("status_code") else None), str(
            data.get("status") or ""
        )

    # --------------------------------------------------------------- publish

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """Wait for ``FINISHED``, ``media_publish``, read the permalink."""
        api = self._api(ctx)
        container = receipt.remote_id or str(receipt.state.get("container_id") or "")
        if not container:
            raise Rejected(
                "Instagram publish: no container in the upload receipt", platform=PLATFORM
            )
        ig = str(receipt.state.get("ig_user_id") or await account_fact(ctx, "ig_user_id"))
        code = await self._wait_ready(api, ctx, container)
        if code == "PUBLISHED":  # an earlier publish went through: find that post
            found = await self.reconcile(request, receipt, ctx)
            if found is None:
                raise OutcomeUnknown("Instagram: the container was published but its post "
                                     "is not among the recent media", platform=PLATFORM)  # fmt: skip
            return found
        made = await api.post(
            ig, "media_publish", action="media_publish", form={"creation_id": container},
            idempotent=False,
        )  # fmt: skip
        if not made.get("id"):
            raise OutcomeUnknown(
                "Instagram media_publish answered without an id", platform=PLATFORM
            )
        return await self._post(api, str(made["id"]), container)

    async def _wait_ready(self, api: GraphApi, ctx: PlatformContext, container: str) -> str:
        """Poll the container until it can be published (or was)."""
        delays = poll_delays(ctx.settings)
        deadline = ctx.clock.monotonic() + float(ctx.settings.get("publish_timeout", 600.0))
        while True:
            code, status = await self._status(api, container)
            if code in ("FINISHED", "PUBLISHED"):
                return code
            if code == "ERROR":
                raise Rejected(
                    f"Instagram could not process the video: {status}", platform=PLATFORM
                )
            if code in ("EXPIRED", None):
                raise Transient(
                    f"Instagram container {container} expired before publishing; the upload "
                    "starts again with a new one",
                    platform=PLATFORM,
                )
            if ctx.clock.monotonic() >= deadline:
                raise Transient(f"Instagram is still processing {container}", platform=PLATFORM)
            await ctx.clock.sleep(next(delays))

    async def _post(self, api: GraphApi, media_id: str, container: str | None) -> RemotePost:
        raw: dict[str, Any] = {"container_id": container}
        try:
            media = await api.get(media_id, action="read media", fields=MEDIA_FIELDS)
        except PlatformError:  # the post exists: a missing permalink is no reason to fail
            return RemotePost(remote_id=media_id, raw=raw)
        return RemotePost(
            remote_id=media_id,
            url=str(media["permalink"]) if media.get("permalink") else None,
            published_at=parse_time(media.get("timestamp")),
            raw={**raw, "media": media},
        )

    # ------------------------------------------------------------- reconcile

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """The post this delivery made; None when sure there is none."""
        api = self._api(ctx)
        state = dict(receipt.state) if receipt else {}
        container = (receipt.remote_id if receipt else None) or state.get("container_id")
        code: str | None = None
        if container:
            code, _status = await self._status(api, str(container))
            if code in NOT_PUBLISHED:
                return None  # only a PUBLISHED container made a post
        ig = str(state.get("ig_user_id") or await account_fact(ctx, "ig_user_id"))
        since = since_of(state, request, ctx)
        found = await self._find(api, ig, caption_of(request), since)
        if found is None and code == "PUBLISHED":
            raise OutcomeUnknown(
                f"Instagram container {container} was published but no recent post has this "
                "caption (edited or deleted?); check the account",
                platform=PLATFORM,
            )
        return found

    async def _find(
        self, api: GraphApi, ig: str, caption: str, since: datetime
    ) -> RemotePost | None:
        """The newest media with ``caption`` published at or after ``since``."""
        after: str | None = None
        for _ in range(4):  # at most 200 posts back
            query = {"fields": MEDIA_FIELDS, "limit": "50"}
            if after:
                query["after"] = after
            data = await api.get(ig, "media", action="list media", **query)
            for media in data.get("data") or []:
                when = parse_time(media.get("timestamp"))
                if when is not None and when < since:
                    return None
                if media.get("caption") == caption:
                    return await self._post(api, str(media["id"]), None)
            paging = data.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not after or not paging.get("next"):
                return None
        raise OutcomeUnknown(
            "Instagram: too many recent posts to be sure this one is not among them",
            platform=PLATFORM,
        )

    # -------------------------------------------------------------- metrics

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        """Media insights of up to 50 posts in one Graph batch request."""
        return await insights.fetch(
            self._api(ctx),
            posts,
            lambda media: f"{media}/insights?metric={INSIGHT_METRICS}",
            insights.INSTAGRAM_METRICS,
        )

    async def account_metrics(self, ctx: PlatformContext) -> dict[str, float]:
        """Followers and media count of the account (for the analytics store)."""
        ig = await account_fact(ctx, "ig_user_id")
        data = await self._api(ctx).get(
            ig, action="account", fields="followers_count,follows_count,media_count"
        )
        return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}

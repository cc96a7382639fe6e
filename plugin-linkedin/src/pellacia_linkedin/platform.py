"""The LinkedIn platform object: rules, capabilities, quotas; upload, publish,
reconcile and metrics over the Videos and Posts APIs (protocols.md §6).

Settings (the ``[plugins.linkedin]`` table; ``daily_post_cap`` (150) through
``register_platforms``, the others through ``ctx.settings``):

- ``authors``: ``{account: "urn:li:organization:<id>" | "urn:li:person:<id>"}``
  (or ``author`` for every account, or an account's ``options.author``);
  unset: the signed-in member (from ``openid``);
- ``linkedin_version`` (YYYYMM, default ``client.DEFAULT_VERSION``);
- ``scopes``: replaces the sign-in scopes (see ``auth``);
- ``processing_poll_interval`` (s, default 5: the longest wait between polls), ``processing_max_polls`` (120);
- ``reconcile_max_posts`` (200), ``reconcile_lookback_hours`` (72);
- ``expiry_warning_days`` (7): without a refresh token, every upload in the
  last days of the 60-day access token logs ``linkedin.token_expiring`` with
  the re-login command.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from pellacia.errors import Rejected

from pellacia_linkedin import metrics
from pellacia_linkedin.auth import LinkedInAuth, author_of, warn_if_expiring
from pellacia_linkedin.client import DAILY_QUOTA, PLATFORM, LinkedInApi
from pellacia_linkedin.posts import MAX_COMMENTARY, MAX_TITLE, commentary_of, create_post, find_post
from pellacia_linkedin.upload import VideoUpload, search_floor
from pellacia_linkedin.video import wait_available

#: The limits are read under every reading LinkedIn's pages allow: 75 KB is
#: taken as 75 KiB (the larger floor), 500 MB as 500,000,000 bytes (some
#: copies of the spec say 200 MB: see docs/platforms/linkedin.md).
MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4"}),
    min_bytes=75 * 1024,
    max_bytes=500 * 1000 * 1000,
    min_duration=3.0,
    max_duration=30 * 60.0,
    min_aspect=1 / 2.4,
    max_aspect=2.4,
    max_title_chars=MAX_TITLE,  # content.media.title
    max_description_chars=MAX_COMMENTARY,  # commentary
)

CAPABILITIES = Capabilities(
    resumable_upload=True,  # a part is re-PUT to its own URL before they expire
    separate_publish=True,  # POST /rest/posts once the video is AVAILABLE
    scheduled_publish=False,
    metrics_batch_size=metrics.BATCH,  # share statistics take a List(...) of posts
)

#: Daily per-member limit on creating posts, reset at midnight UTC. LinkedIn
#: shows each app's figures in its developer portal only: this is the commonly
#: quoted member allowance (``daily_post_cap`` in the settings overrides it).
DAILY_POST_CAP = 150


def quotas_for(daily_post_cap: int = DAILY_POST_CAP) -> tuple[QuotaBudget, ...]:
    """LinkedIn's posting budget per account, reset at midnight UTC."""
    return (QuotaBudget(name=DAILY_QUOTA, limit=daily_post_cap, window=None, reset_timezone="UTC"),)


class LinkedInPlatform:
    """LinkedIn member or organization video posts."""

    name = PLATFORM
    display_name = "LinkedIn"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES

    def __init__(self, *, daily_post_cap: int = DAILY_POST_CAP) -> None:
        self.auth: AuthFlow = LinkedInAuth()
        self.quotas: Sequence[QuotaBudget] = quotas_for(daily_post_cap)

    def __repr__(self) -> str:
        return "LinkedInPlatform()"

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """initializeUpload → part PUTs → finalizeUpload (or resume from the saved state)."""
        self._check(request)
        api = LinkedInApi(ctx)
        await warn_if_expiring(ctx)
        owner = await author_of(ctx, request)
        return await VideoUpload(api, request, session, ctx, owner).run()

    def _check(self, request: PublishRequest) -> None:
        """``Rejected`` with every broken rule, before any request."""
        from pellacia.media import check_rules

        violations = check_rules(
            self.media_rules,
            request.video,
            title=request.title,
            description=commentary_of(request),
            platform=PLATFORM,
            display_name=self.display_name,
        )
        if violations:
            raise Rejected("; ".join(v.message for v in violations), platform=PLATFORM)

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """Wait until the video is AVAILABLE, then create the post."""
        video = receipt.remote_id or receipt.state.get("video")
        if not video:
            raise Rejected("LinkedIn publish: no video in the upload receipt", platform=PLATFORM)
        api = LinkedInApi(ctx)
        author = str(receipt.state.get("owner") or await author_of(ctx, request))
        await wait_available(api, str(video), ctx)
        return await create_post(api, request, author, str(video))

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """This delivery's post among the author's recent ones (matched by its video,
        or by its commentary when it never uploaded through the API)."""
        state = dict(receipt.state) if receipt else {}
        video = (receipt.remote_id if receipt else None) or state.get("video")
        api = LinkedInApi(ctx)
        author = str(state.get("owner") or await author_of(ctx, request))
        return await find_post(
            api,
            ctx,
            author,
            video=str(video) if video else None,
            commentary=None if video else commentary_of(request),
            since=search_floor(state, ctx),
        )

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        """Share statistics (pages) or social actions (members), plus video views."""
        if not posts:
            return []
        raw_author = posts[0].raw.get("author")
        author = str(raw_author) if raw_author else await author_of(ctx)
        scopes = (await ctx.tokens.current()).scopes
        return await metrics.fetch(LinkedInApi(ctx), author, posts, scopes)

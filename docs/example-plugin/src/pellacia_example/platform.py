"""The Example Video platform: OAuth, chunked resumable upload, publish, reconcile, metrics.

Built on ``pellacia.sdk``: ``ExampleApi`` (an ``ApiClient``) makes every call
with the account's token, refreshes it once after a 401 and turns failures
into ``pellacia.errors`` classes; ``upload_chunks`` runs the resumable loop.
What is left here is Example Video's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pellacia.contract import (
    AuthFlow,
    AuthKind,
    Capabilities,
    MediaRules,
    MetricsSnapshot,
    OAuthClient,
    PlatformContext,
    PublishRequest,
    QuotaBudget,
    RemotePost,
    TokenSet,
    UploadReceipt,
    UploadSession,
)
from pellacia.errors import (
    AuthExpired,
    Challenge,
    OutcomeUnknown,
    PlatformError,
    Rejected,
    Transient,
)
from pellacia.sdk import ApiClient, Chunk, Reply, TokenEndpoint, upload_chunks

NAME = "example"
#: where the real API would live; ``ctx.endpoint`` swaps in the sandbox's fake
REAL_BASE = "https://api.example-video.test"
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024  # streamed from disk: memory stays flat
MIN_CHUNK_SIZE = 16 * 1024  # the platform's minimum for every chunk but the last

MEDIA_RULES = MediaRules(
    containers=frozenset({"mp4", "mov"}),
    video_codecs=frozenset({"h264", "hevc"}),
    max_bytes=512 * 1024**2,
    max_duration=180,
    min_side=64,
    max_title_chars=100,
    max_description_chars=2000,
)

CAPABILITIES = Capabilities(
    resumable_upload=True, separate_publish=True, scheduled_publish=False, metrics_batch_size=20
)

#: our fields -> the unified metric names of pellacia.contract.UNIFIED_METRICS
METRIC_NAMES = {
    "views": "views",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "watch_seconds": "watch_time_s",
}


TOKENS = TokenEndpoint(REAL_BASE, "/oauth/token", "Example Video")


class ExampleApi(ApiClient):
    """Authorized calls to Example Video (``pellacia.sdk`` does the token, the
    refresh after a 401 and the usual statuses); this reads its error body."""

    display_name = "Example Video"
    base_url = REAL_BASE

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        body = reply.json()
        error = body.get("error") if isinstance(body, dict) else None
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
        text = f"Example Video {action}: HTTP {reply.status} {code}".rstrip()
        if code == "quota_exceeded" and isinstance(error, dict):
            reset_at = datetime.fromisoformat(error["reset_at"]) if error.get("reset_at") else None
            wait = (reset_at - self.ctx.clock.now()).total_seconds() if reset_at else None
            return self.rate_limited(text, wait, quota="example:posts")
        if code == "account_review":
            return Challenge(text, platform=NAME)
        return super().error_for(reply, action)


class ExampleAuth:
    """OAuth 2.0 authorization code with PKCE; refresh tokens rotate."""

    kind = AuthKind.AUTHORIZATION_CODE
    scopes: Sequence[str] = ("video.upload", "video.read")

    def authorization_url(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        redirect_uri: str,
        state: str,
        code_challenge: str,
    ) -> str:
        query = urlencode(
            {
                "client_id": client.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": " ".join(self.scopes),
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{ctx.endpoint(REAL_BASE)}/oauth/authorize?{query}"

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            **_client_form(client),
        }
        return await TOKENS.post(ctx, form, what="code exchange")

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        if not tokens.refresh_token:
            raise AuthExpired("no refresh token: sign in again", platform=NAME)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            **_client_form(client),
        }
        return await TOKENS.post(ctx, form, what="token refresh", previous=tokens)


def _client_form(client: OAuthClient) -> dict[str, str]:
    return {"client_id": client.client_id, "client_secret": client.client_secret or ""}


class ExamplePlatform:
    """The Example Video platform object registered by the plugin."""

    name = NAME
    display_name = "Example Video"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES
    quotas: Sequence[QuotaBudget] = (QuotaBudget(name="example:posts", limit=50),)
    # typed as the contract's AuthFlow: the Platform protocol's attributes are
    # mutable, so mypy --strict wants exactly that type here
    auth: AuthFlow = ExampleAuth()

    # -------------------------------------------------------------- upload

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Chunked upload with explicit offsets; resumes where the server says it stands."""
        self._refuse_bad_media(request)
        api = ExampleApi(ctx)
        size = request.video.size
        chunk_size = max(MIN_CHUNK_SIZE, int(ctx.settings.get("chunk_size", DEFAULT_CHUNK_SIZE)))
        state = dict(session.resume_state or {})
        if state.get("upload_id") and state.get("size") == size:
            # The server's offset is the truth: a chunk may have landed after our last save.
            offset = await self._received(api, state["upload_id"])
        else:
            created = await api.json(
                "POST", "/v1/uploads", action="upload start", json={"size": size}
            )
            state, offset = {"upload_id": created["upload_id"], "size": size}, 0
            await session.save_state({**state, "offset": 0})
        path = f"/v1/uploads/{state['upload_id']}"

        async def send(chunk: Chunk) -> int:
            reply = await api.request(
                "PUT",
                path,
                action="upload chunk",
                params={"offset": str(chunk.offset)},
                headers={"Content-Type": "application/octet-stream"},
                data=chunk.body(),
                accept=(409,),  # the server stands elsewhere (a lost acknowledgement)
            )
            if reply.status == 409:
                return await self._received(api, state["upload_id"])
            return int(reply.json()["received"])

        await upload_chunks(
            session,
            request.video.path,
            total=size,
            offset=offset,
            chunk_length=lambda at: min(chunk_size, size - at),
            send=send,
            state=lambda at: {**state, "offset": at},
        )
        return UploadReceipt(remote_id=state["upload_id"], state={**state, "offset": size})

    @staticmethod
    async def _received(api: ExampleApi, upload_id: str) -> int:
        status = await api.json("GET", f"/v1/uploads/{upload_id}", action="upload status")
        return int(status["received"])

    def _refuse_bad_media(self, request: PublishRequest) -> None:
        # Checked before any network call: a file the platform would refuse
        # must fail at once with a message a person can act on.
        from pellacia.media import check_rules

        problems = check_rules(
            self.media_rules,
            request.video,
            title=request.title,
            description=request.caption,
            platform=self.name,
            display_name=self.display_name,
        )
        if problems:
            raise Rejected("; ".join(p.message for p in problems), platform=self.name)

    # ------------------------------------------------------------- publish

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        body = {
            "upload_id": receipt.remote_id,
            "title": request.title,
            "description": request.caption,
            # our handle on the post, so reconcile can find it after a lost answer
            "client_ref": request.idempotency_key,
        }
        post = await ExampleApi(ctx).json(
            "POST", "/v1/posts", action="publish", json=body, idempotent=False
        )
        return _remote_post(post)

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        # client_ref is the delivery's key: a receipt (or its absence) changes nothing
        try:
            found = await ExampleApi(ctx).json(
                "GET",
                "/v1/posts",
                action="reconcile",
                params={"client_ref": request.idempotency_key},
            )
        except Transient as exc:
            raise OutcomeUnknown(f"cannot list posts to reconcile: {exc}", platform=NAME) from None
        posts = found.get("posts") or []
        return _remote_post(posts[0]) if posts else None

    # ------------------------------------------------------------- metrics

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        if not posts:
            return []
        ids = ",".join(p.remote_id for p in posts[: self.capabilities.metrics_batch_size])
        data = await ExampleApi(ctx).json(
            "GET", "/v1/metrics", action="metrics", params={"ids": ids}
        )
        snapshots = []
        for raw in data.get("metrics") or []:
            metrics = {
                unified: float(raw[ours]) for ours, unified in METRIC_NAMES.items() if ours in raw
            }
            snapshots.append(MetricsSnapshot(remote_id=str(raw["id"]), metrics=metrics, raw=raw))
        return snapshots


def _remote_post(data: Mapping[str, Any]) -> RemotePost:
    created = data.get("created_at")
    return RemotePost(
        remote_id=str(data["id"]),
        url=data.get("url"),
        published_at=datetime.fromisoformat(created) if created else None,
        raw=dict(data),
    )

"""The Example Video platform: OAuth, chunked resumable upload, publish, reconcile, metrics.

Everything that crosses the plugin boundary is a ``pellacia.errors`` class;
aiohttp exceptions are translated in ``ExampleApi.call``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pellacia.contract import (
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
    RateLimited,
    Rejected,
    Transient,
)

NAME = "example"
#: where the real API would live; ``ctx.endpoint`` swaps in the sandbox's fake
REAL_BASE = "https://api.example-video.test"
# 1 MiB: aiohttp warns on raw bytes bodies above that (send a file object beyond it)
DEFAULT_CHUNK_SIZE = 1024 * 1024
MIN_CHUNK_SIZE = 16 * 1024

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


def _token_set(data: Mapping[str, Any], now: datetime) -> TokenSet:
    return TokenSet(
        access_token=str(data["access_token"]),
        refresh_token=data.get("refresh_token"),
        expires_at=now + timedelta(seconds=int(data.get("expires_in", 3600))),
        refresh_expires_at=(
            now + timedelta(seconds=int(data["refresh_expires_in"]))
            if data.get("refresh_expires_in")
            else None
        ),
        scopes=tuple(str(data.get("scope", "")).split()),
        extra={"account": data.get("account")},
    )


class ExampleApi:
    """One HTTP call to the API, its failures translated to typed errors."""

    async def call(
        self,
        ctx: PlatformContext,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
        unknown_outcome: bool = False,
    ) -> dict[str, Any]:
        """Send the request; on a 401 refresh the token once and retry once.

        ``unknown_outcome``: the call is not idempotent (publish), so losing
        the connection after sending it raises ``OutcomeUnknown``, not ``Transient``.
        """
        url = f"{ctx.endpoint(REAL_BASE)}{path}"
        for attempt in (1, 2):
            headers: dict[str, str] = {}
            if auth:
                tokens = await (ctx.tokens.current() if attempt == 1 else ctx.tokens.refresh())
                headers["Authorization"] = f"Bearer {tokens.access_token}"
            try:
                async with ctx.http.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    params=params,
                    headers=headers,
                    allow_redirects=False,
                ) as resp:
                    body = await resp.json(content_type=None) if resp.content_length != 0 else {}
                    status, resp_headers = resp.status, resp.headers
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                what = f"{method} {path}: {type(exc).__name__}"
                if unknown_outcome:
                    raise OutcomeUnknown(f"{what}; the post may exist", platform=NAME) from None
                raise Transient(what, platform=NAME, network=True) from None
            if status == 401 and auth and attempt == 1:
                continue  # token expired early or was revoked: refresh once
            if status < 400:
                return body if isinstance(body, dict) else {}
            raise self._error(ctx, status, body, resp_headers, f"{method} {path}")
        raise AssertionError("unreachable")

    @staticmethod
    def _error(
        ctx: PlatformContext,
        status: int,
        body: Any,
        headers: Mapping[str, str],
        what: str,
    ) -> Exception:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message = str(error.get("code", "")), str(error.get("message", ""))
        else:
            code, message = str(error or ""), ""
        text = f"{what}: {status} {code} {message}".rstrip()
        if status == 429:
            retry_after = float(headers.get("Retry-After", "60"))
            return RateLimited(
                text,
                platform=NAME,
                retry_after=retry_after,
                reset_at=ctx.clock.now() + timedelta(seconds=retry_after),
            )
        if code == "quota_exceeded":
            reset_at = datetime.fromisoformat(error["reset_at"]) if error.get("reset_at") else None
            retry = (reset_at - ctx.clock.now()).total_seconds() if reset_at else None
            return RateLimited(
                text, platform=NAME, retry_after=retry, reset_at=reset_at, quota="example:posts"
            )
        if code == "account_review":
            return Challenge(text, platform=NAME)
        if status == 401:
            return AuthExpired(text, platform=NAME)
        if status >= 500:
            return Transient(text, platform=NAME)
        return Rejected(text, platform=NAME)


class ExampleAuth:
    """OAuth 2.0 authorization code with PKCE; refresh tokens rotate."""

    scopes: Sequence[str] = ("video.upload", "video.read")

    def __init__(self, api: ExampleApi) -> None:
        self._api = api

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
            "client_id": client.client_id,
            "client_secret": client.client_secret or "",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return await self._token(ctx, form)

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        if not tokens.refresh_token:
            raise AuthExpired("no refresh token: sign in again", platform=NAME)
        form = {
            "grant_type": "refresh_token",
            "client_id": client.client_id,
            "client_secret": client.client_secret or "",
            "refresh_token": tokens.refresh_token,
        }
        return await self._token(ctx, form)

    async def _token(self, ctx: PlatformContext, form: dict[str, str]) -> TokenSet:
        try:
            data = await self._api.call(ctx, "POST", "/oauth/token", data=form, auth=False)
        except Rejected as exc:  # invalid_grant & co: only a new sign-in helps
            raise AuthExpired(f"token endpoint refused: {exc}", platform=NAME) from None
        return _token_set(data, ctx.clock.now())


class ExamplePlatform:
    """The Example Video platform object registered by the plugin."""

    name = NAME
    display_name = "Example Video"
    capabilities = CAPABILITIES
    media_rules = MEDIA_RULES
    quotas: Sequence[QuotaBudget] = (QuotaBudget(name="example:posts", limit=50),)

    def __init__(self) -> None:
        self.api = ExampleApi()
        self.auth = ExampleAuth(self.api)

    # -------------------------------------------------------------- upload

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Chunked upload with explicit offsets; resumes where the server says it stands."""
        self._refuse_bad_media(request)
        size = request.video.size
        chunk_size = max(MIN_CHUNK_SIZE, int(ctx.settings.get("chunk_size", DEFAULT_CHUNK_SIZE)))
        state = dict(session.resume_state or {})
        if state.get("upload_id") and state.get("size") == size:
            # The server's offset is the truth: a chunk may have landed after our last save.
            status = await self.api.call(ctx, "GET", f"/v1/uploads/{state['upload_id']}")
            state["offset"] = int(status["received"])
        else:
            created = await self.api.call(ctx, "POST", "/v1/uploads", json={"size": size})
            state = {"upload_id": created["upload_id"], "size": size, "offset": 0}
            await session.save_state(state)
        upload_id, offset = state["upload_id"], int(state["offset"])
        session.progress(offset, size)
        while offset < size:
            chunk = await asyncio.to_thread(_read_at, request.video.path, offset, chunk_size)
            try:
                answer = await self.api.call(
                    ctx,
                    "PUT",
                    f"/v1/uploads/{upload_id}",
                    data=chunk,
                    params={"offset": str(offset)},
                )
            except Rejected as exc:
                # 409: the server stands elsewhere (a lost acknowledgement): ask and go on.
                if "offset_mismatch" not in str(exc):
                    raise
                answer = await self.api.call(ctx, "GET", f"/v1/uploads/{upload_id}")
            offset = int(answer["received"])
            state["offset"] = offset
            await session.save_state(state)
            session.progress(offset, size)
        return UploadReceipt(remote_id=upload_id, state=state)

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
        post = await self.api.call(ctx, "POST", "/v1/posts", json=body, unknown_outcome=True)
        return _remote_post(post)

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        try:
            found = await self.api.call(
                ctx, "GET", "/v1/posts", params={"client_ref": request.idempotency_key}
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
        data = await self.api.call(ctx, "GET", "/v1/metrics", params={"ids": ids})
        snapshots = []
        for raw in data.get("metrics") or []:
            metrics = {
                unified: float(raw[ours]) for ours, unified in METRIC_NAMES.items() if ours in raw
            }
            snapshots.append(MetricsSnapshot(remote_id=str(raw["id"]), metrics=metrics, raw=raw))
        return snapshots


def _read_at(path: Any, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def _remote_post(data: Mapping[str, Any]) -> RemotePost:
    created = data.get("created_at")
    return RemotePost(
        remote_id=str(data["id"]),
        url=data.get("url"),
        published_at=datetime.fromisoformat(created) if created else None,
        raw=dict(data),
    )

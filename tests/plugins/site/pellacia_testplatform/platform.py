"""The test platform: chunked resumable upload, separate publish, reconcile by key.

A real plugin in every respect (typed errors only, the context's HTTP session,
resume state saved after every chunk, streaming from disk) so the engine's
tests exercise the same code paths a production plugin does.

Settings (``settings.plugins.testplatform``): ``base_url`` (wins over the
sandbox), ``chunk_size`` (bytes, default 64 KiB), ``timeout`` (seconds per call).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import aiohttp
from pellacia.contract import (
    BrowserJob,
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
    RateLimited,
    Rejected,
    Transient,
    Unsupported,
)

NAME = "testplatform"
DEFAULT_CHUNK = 64 * 1024
#: a per-call budget like TikTok's inits (roomy here: tests narrow it)
INIT_QUOTA = "testplatform:init"


def _base(ctx: PlatformContext) -> str:
    base = ctx.settings.get("base_url")
    if base:
        return str(base).rstrip("/")
    return ctx.endpoint("https://testplatform.invalid")


def _timeout(ctx: PlatformContext) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=float(ctx.settings.get("timeout", 30.0)))


def _raise_for(status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> NoReturn:
    message = str(body.get("message") or body.get("error") or f"HTTP {status}")
    if status == 401:
        raise AuthExpired(f"testplatform refused the token: {message}", platform=NAME)
    if status == 429:
        retry_after = float(headers.get("Retry-After", "60"))
        raise RateLimited(
            f"testplatform rate limit: {message}",
            platform=NAME,
            retry_after=retry_after,
            reset_at=datetime.now(UTC) + timedelta(seconds=retry_after),
            quota="testplatform:calls",
        )
    if status == 403 and body.get("error") == "challenge":
        raise Challenge(f"testplatform asks for a human: {message}", platform=NAME)
    if status == 501:
        raise Unsupported(f"testplatform cannot do this: {message}", platform=NAME)
    if 400 <= status < 500:
        raise Rejected(f"testplatform rejected the request: {message}", platform=NAME)
    raise Transient(f"testplatform error {status}: {message}", platform=NAME)


class TestAuth:
    """Refresh-only OAuth: enough for the engine's refresh-once-on-401 path."""

    scopes: Sequence[str] = ("post",)

    def authorization_url(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        redirect_uri: str,
        state: str,
        code_challenge: str,
    ) -> str:
        return f"{_base(ctx)}/oauth/authorize?client_id={client.client_id}&state={state}"

    async def exchange_code(
        self,
        ctx: PlatformContext,
        *,
        client: OAuthClient,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenSet:
        raise Unsupported("testplatform has no authorization-code flow", platform=NAME)

    async def refresh(
        self, ctx: PlatformContext, *, client: OAuthClient, tokens: TokenSet
    ) -> TokenSet:
        body = await _call(
            ctx,
            "POST",
            "/oauth/token",
            json={"refresh_token": tokens.refresh_token or "static"},
            auth=False,
        )
        return TokenSet(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token") or tokens.refresh_token,
            expires_at=datetime.now(UTC) + timedelta(seconds=int(body.get("expires_in", 3600))),
        )


async def _call(
    ctx: PlatformContext,
    method: str,
    path: str,
    *,
    json: Any = None,
    data: bytes | None = None,
    params: Mapping[str, str] | None = None,
    auth: bool = True,
    ambiguous: bool = False,
) -> dict[str, Any]:
    """One HTTP call, errors translated. ``ambiguous``: the call has effects, so a
    lost answer is ``OutcomeUnknown`` rather than ``Transient``."""
    headers: dict[str, str] = {}
    if auth:
        tokens = await ctx.tokens.current()
        headers["Authorization"] = f"Bearer {tokens.access_token}"
    try:
        async with ctx.http.request(
            method,
            _base(ctx) + path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            timeout=_timeout(ctx),
            allow_redirects=False,
        ) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {"value": body}
            if resp.status >= 400:
                _raise_for(resp.status, body, resp.headers)
            return body
    except PlatformError:
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        # a disconnect may come after the server acted: only idempotent calls are retried blind
        reason = f"{type(exc).__name__}"
        if ambiguous:
            raise OutcomeUnknown(
                f"testplatform {method} {path}: no answer ({reason}); the call may have taken effect",
                platform=NAME,
            ) from None
        raise Transient(
            f"testplatform {method} {path}: {reason}", platform=NAME, network=True
        ) from None


class TestPlatform:
    """The platform object the plugin registers."""

    name = NAME
    display_name = "Test Platform"
    capabilities = Capabilities(resumable_upload=True, separate_publish=True, metrics_batch_size=10)
    media_rules = MediaRules(
        containers=frozenset({"mp4", "mov"}),
        max_bytes=512 * 1024 * 1024,
        min_duration=0.5,
        max_duration=600.0,
        min_side=64,
        max_title_chars=100,
        max_description_chars=2200,
    )
    auth = TestAuth()
    quotas: Sequence[QuotaBudget] = (
        QuotaBudget(INIT_QUOTA, limit=10_000, window=timedelta(minutes=1), per_call=True),
    )

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        size = request.video.size
        chunk_size = int(ctx.settings.get("chunk_size", DEFAULT_CHUNK))
        upload_id: str | None = None
        offset = 0
        state = session.resume_state
        if state and state.get("upload_id"):
            try:
                status = await _call(ctx, "GET", f"/uploads/{state['upload_id']}")
                upload_id = str(state["upload_id"])
                offset = int(status["received"])
            except Rejected:
                upload_id = None  # the platform forgot it (404): start over
        if upload_id is None:
            await ctx.spend(INIT_QUOTA)  # every init, retries included, spends the budget
            created = await _call(
                ctx,
                "POST",
                "/uploads",
                json={"size": size, "idempotency_key": request.idempotency_key},
            )
            upload_id = str(created["upload_id"])
            offset = 0
            await session.save_state({"upload_id": upload_id, "offset": 0, "size": size})
        session.progress(offset, size)
        with request.video.path.open("rb") as fh:
            fh.seek(offset)
            while offset < size:
                chunk = fh.read(chunk_size)
                if not chunk:
                    raise Rejected(
                        f"file shrank while uploading ({offset} of {size} bytes)", platform=NAME
                    )
                answer = await _call(
                    ctx, "PUT", f"/uploads/{upload_id}", data=chunk, params={"offset": str(offset)}
                )
                offset = int(answer["received"])
                fh.seek(offset)
                await session.save_state({"upload_id": upload_id, "offset": offset, "size": size})
                session.progress(offset, size)
        return UploadReceipt(remote_id=upload_id, state={"upload_id": upload_id, "size": size})

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        upload_id = receipt.remote_id or receipt.state.get("upload_id")
        body = await _call(
            ctx,
            "POST",
            f"/uploads/{upload_id}/publish",
            json={
                "title": request.title,
                "caption": request.caption,
                "idempotency_key": request.idempotency_key,
            },
            ambiguous=True,
        )
        return RemotePost(
            remote_id=str(body["id"]),
            url=body.get("url"),
            published_at=datetime.now(UTC),
            raw=body,
        )

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        try:
            body = await _call(
                ctx, "GET", "/posts", params={"idempotency_key": request.idempotency_key}
            )
        except (Transient, Rejected) as exc:
            raise OutcomeUnknown(
                f"testplatform could not be asked whether the post exists: {exc}", platform=NAME
            ) from None
        posts = body.get("posts") or []
        if not posts:
            return None
        first = posts[0]
        return RemotePost(remote_id=str(first["id"]), url=first.get("url"), raw=first)

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        out: list[MetricsSnapshot] = []
        for post in posts:
            body = await _call(ctx, "GET", f"/posts/{post.remote_id}/metrics")
            metrics = {k: float(v) for k, v in body.items() if isinstance(v, int | float)}
            out.append(MetricsSnapshot(remote_id=post.remote_id, metrics=metrics, raw=body))
        return out


class TestWebUploader:
    """The "browser layer" of the test platform: one form post to the fake's web
    upload page (no real browser: the browser plugin's own tests drive Chromium).
    Leaves a screenshot-like file in ``artifacts_dir`` when it fails, as the real
    uploader does."""

    platform = NAME

    async def upload(self, job: BrowserJob) -> RemotePost:
        base = str(job.settings.get("base_url") or f"{job.sandbox_url}/testplatform").rstrip("/")
        try:
            async with aiohttp.ClientSession(proxy=job.route.proxy) as http:
                form = aiohttp.FormData()
                form.add_field("title", job.request.title)
                form.add_field("caption", job.request.caption)
                form.add_field("idempotency_key", job.request.idempotency_key)
                data = await asyncio.to_thread(job.request.video.path.read_bytes)
                form.add_field(
                    "video",
                    io.BytesIO(data),
                    filename=job.request.video.path.name,
                    content_type="video/mp4",
                )
                async with http.post(f"{base}/web/upload", data=form) as resp:
                    body = await resp.json(content_type=None)
                    if resp.status >= 400:
                        _raise_for(resp.status, body, resp.headers)
        except PlatformError:
            await asyncio.to_thread(self._evidence, job)
            raise
        except aiohttp.ClientError as exc:
            await asyncio.to_thread(self._evidence, job)
            raise OutcomeUnknown(f"web upload: no answer ({type(exc).__name__})") from None
        return RemotePost(remote_id=str(body["id"]), url=body.get("url"), raw=body)

    @staticmethod
    def _evidence(job: BrowserJob) -> None:
        job.artifacts_dir.mkdir(parents=True, exist_ok=True)
        (job.artifacts_dir / f"{job.request.delivery_id}-failure.png").write_bytes(b"\x89PNG")

"""Fake of TikTok's Content Posting API (Direct Post + inbox), Login Kit and Display API.

Served under ``/tiktok``: ``/v2/auth/authorize/`` (auto-approves), ``/v2/oauth/token/``,
``/v2/post/publish/creator_info/query/``, ``/v2/post/publish/video/init/``,
``/v2/post/publish/inbox/video/init/``, ``/v2/post/publish/status/fetch/``,
``/v2/video/list/``, ``/v2/video/query/`` and the upload host's
``/upload/video/?upload_id=…&upload_token=…`` (sequential ``PUT`` chunks).

Faithful to the documented rules, and where a rule is ambiguous it accepts only
what is valid under every reading: chunk sizes ("5 MB to 64 MB", last "≤ 128 MB",
without saying which MB: at least 5 MiB, at most 64,000,000 bytes, last at most
128,000,000), ``total_chunk_count = floor(size / chunk_size)``, ≤ 1000 chunks;
unaudited apps (``audited=False``) post only SELF_ONLY to a private account
(``unaudited_client_can_only_post_to_private_accounts``); at most
``inbox_pending_cap`` inbox drafts waiting per creator
(``spam_risk_too_many_pending_share``); ``status/fetch`` always carries
``fail_reason`` and ``publicaly_available_post_id`` (sic). Per-account
sliding-minute limits (init 6, status 30, Display API 600), upload URLs that
expire after an hour, N status polls of processing, the ``error`` object on
every response and rotated refresh tokens. Uploaded media is hashed and
counted while it streams in, never kept, so multi-GB uploads cost no memory.

Tests tune it with ``configure(...)`` or ``POST /tiktok/_sandbox/config`` (e.g. ``min_chunk_size`` to move few MB,
``processing_polls``, ``fail_reason``); ``reset()`` restores the defaults.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from pellacia_sandbox.fakes.base import FakePlatform, Grant, TokenError, TokenStore
from pellacia_sandbox.fakes.ranges import parse_content_range, stored_range

MB = 1024 * 1024
KNOWN_SCOPES = frozenset(
    {
        "user.info.basic",
        "user.info.profile",
        "user.info.stats",
        "video.list",
        "video.publish",
        "video.upload",
    }
)
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
VIDEO_FIELDS = frozenset(
    {
        "id", "create_time", "cover_image_url", "share_url", "video_description", "duration",
        "height", "width", "title", "embed_html", "embed_link", "like_count", "comment_count",
        "share_count", "view_count",
    }
)  # fmt: skip
CONTENT_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})

DEFAULT_CONFIG: dict[str, Any] = {
    "client_key": "sandbox-client",
    "client_secret": "sandbox-secret",
    #: the account the authorize page approves when the URL names none
    "default_account": "sandbox-account",
    "min_chunk_size": 5 * MB,
    "max_chunk_size": 64_000_000,
    "max_last_chunk_size": 128_000_000,
    "max_chunks": 1000,
    "max_video_size": 4 * 1024**3,
    #: status fetches after the last byte before the post is final
    "processing_polls": 2,
    "upload_url_ttl": 3600.0,
    "init_per_minute": 6,
    "status_per_minute": 30,
    "display_per_minute": 600,
    #: third parties report ~15 posts a day per creator; the real number is not published
    "daily_post_cap": 15,
    "privacy_level_options": list(PRIVACY_LEVELS),
    "max_video_post_duration_sec": 600,
    #: when set, the next upload that completes ends FAILED with this reason
    "fail_reason": None,
    #: False: the app has not passed TikTok's audit (SELF_ONLY, private accounts only)
    "audited": True,
    #: the creator's account is set to private
    "account_private": False,
    #: inbox drafts a creator may have waiting (TikTok: 5 in 24 hours)
    "inbox_pending_cap": 5,
    "access_ttl": 7200.0,
    "refresh_ttl": 180 * 86400.0,
}


@dataclass
class _Publish:
    """One init: the upload session and, once every byte arrived, the post."""

    publish_id: str
    account: str
    mode: str  # "direct" | "inbox"
    title: str
    privacy_level: str | None
    post_info: dict[str, Any]
    video_size: int
    chunk_size: int
    total_chunk_count: int
    upload_id: str
    upload_token: str = field(repr=False)
    upload_expires_at: float
    created_at: float
    committed: int = 0  # bytes of acknowledged chunks
    bytes_received: int = 0  # every byte read, re-sent and broken chunks included
    chunks: int = 0
    rejected_chunks: int = 0
    hasher: Any = field(default_factory=hashlib.sha256, repr=False)
    sha256: str | None = None
    completed_at: float | None = None
    polls: int = 0
    status: str = "PROCESSING_UPLOAD"
    fail_reason: str | None = None
    video_id: str | None = None

    @property
    def complete(self) -> bool:
        return self.committed >= self.video_size


@dataclass
class _Video:
    id: str
    account: str
    title: str
    create_ms: int
    size: int
    publish_id: str
    seed: int


class TikTokFake(FakePlatform):
    """TikTok's posting, OAuth and Display APIs over the sandbox clock."""

    name = "tiktok"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.tokens = TokenStore(
            self.clock,
            access_ttl=self.config["access_ttl"],
            refresh_ttl=self.config["refresh_ttl"],
            rotate_refresh=True,
            prefix="act.tt",
        )
        from pellacia_sandbox.fakes.pages.tiktok import TikTokStudio

        #: the web upload pages (the browser layer's target)
        self.web = TikTokStudio(self)
        self._init_state()

    def _init_state(self) -> None:
        self.publishes: dict[str, _Publish] = {}
        self._by_upload: dict[str, _Publish] = {}
        self.videos: list[_Video] = []
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._inits: dict[str, deque[float]] = {}
        self._seq = itertools.count(1)
        self._log = itertools.count(1)

    # ---------------------------------------------------------- test hooks

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change behaviour for a test (keys of ``DEFAULT_CONFIG``); returns the config."""
        unknown = set(settings) - set(DEFAULT_CONFIG)
        if unknown:
            raise KeyError(f"unknown TikTok fake settings: {', '.join(sorted(unknown))}")
        self.config.update(settings)
        self.tokens.access_ttl = float(self.config["access_ttl"])
        self.tokens.refresh_ttl = float(self.config["refresh_ttl"])
        return dict(self.config)

    def issue_token(
        self, account: str | None = None, scopes: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """Tokens for ``account`` without the browser dance, in the token endpoint's shape."""
        grant = Grant(
            account=account or self.config["default_account"],
            client_id=self.config["client_key"],
            scopes=scopes or ("user.info.basic", "video.list", "video.publish", "video.upload"),
        )
        return self._token_body(self.tokens.issue(grant))

    @staticmethod
    def open_id(account: str) -> str:
        """The stable, app-scoped user id TikTok returns for ``account``."""
        return "-000" + hashlib.sha256(account.encode()).hexdigest()[:28]

    # ------------------------------------------------------- FakePlatform

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v2/auth/authorize/", self._authorize)
        r.add_post("/v2/oauth/token/", self._token)
        r.add_post("/v2/post/publish/creator_info/query/", self._creator_info)
        r.add_post("/v2/post/publish/video/init/", self._init_direct)
        r.add_post("/v2/post/publish/inbox/video/init/", self._init_inbox)
        r.add_post("/v2/post/publish/status/fetch/", self._status)
        r.add_post("/v2/video/list/", self._video_list)
        r.add_post("/v2/video/query/", self._video_query)
        r.add_put("/upload/video/", self._upload_chunk)
        self.web.setup(app)  # TikTok Studio's web uploader (pages/tiktok.py)
        # not TikTok's: lets a test or the demo tune the fake over HTTP (reset restores defaults)
        r.add_post("/_sandbox/config", self._configure_http)

    async def _configure_http(self, request: web.Request) -> web.Response:
        try:
            settings = await request.json()
            config = self.configure(**settings)
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(config)

    def reset(self) -> None:
        self.config = dict(DEFAULT_CONFIG)
        self.tokens.reset()
        self.configure()
        self._init_state()
        self.web.reset()

    def snapshot(self) -> dict[str, Any]:
        posts = [
            {
                "id": p.video_id or p.publish_id,
                "publish_id": p.publish_id,
                "video_id": p.video_id,
                "title": p.title,
                "caption": p.title,
                "account": p.account,
                "mode": p.mode,
                "privacy_level": p.privacy_level,
                "status": p.status,
                "fail_reason": p.fail_reason,
                "bytes": p.committed,
                "sha256": p.sha256,
            }
            for p in self.publishes.values()
            if p.complete
        ]
        uploads = [
            {
                "id": p.upload_id,
                "publish_id": p.publish_id,
                "account": p.account,
                "video_size": p.video_size,
                "chunk_size": p.chunk_size,
                "total_chunk_count": p.total_chunk_count,
                "chunks": p.chunks,
                "rejected_chunks": p.rejected_chunks,
                "bytes_committed": p.committed,
                "bytes_received": p.bytes_received,
                "complete": p.complete,
                "sha256": p.sha256,
            }
            for p in self.publishes.values()
        ]
        return {
            "posts": posts,
            "uploads": uploads,
            "videos": [
                {
                    "id": v.id,
                    "account": v.account,
                    "title": v.title,
                    "create_time": v.create_ms // 1000,
                }
                for v in self.videos
            ],
            "request_count": len(self.requests),
            "token_stats": dict(self.tokens.stats),
        }

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind == "server_error":
            return self._error(
                500, "internal_error", "Something went wrong. Please try again later."
            )
        if kind == "rate_limit":  # TikTok sends no reset header: retry_after is not rendered
            return self._error(429, "rate_limit_exceeded", "API rate limit was exceeded.")
        if kind == "quota":
            return self._error(
                403,
                "spam_risk_too_many_posts",
                "The daily post cap from the API is reached for the current user.",
            )
        if kind == "auth":
            return self._error(
                401,
                "access_token_invalid",
                "The access token is invalid or not found in the request.",
            )
        if kind == "challenge":
            return self._error(
                403,
                "spam_risk_user_banned_from_posting",
                "The user is banned from making new posts.",
            )
        return self._error(500, "internal_error", f"unknown fault kind {kind}")

    # ------------------------------------------------------------ helpers

    def _log_id(self) -> str:
        return f"2026{next(self._log):016d}"

    def _json(self, data: Any, status: int = 200) -> web.Response:
        body = {"data": data, "error": {"code": "ok", "message": "", "log_id": self._log_id()}}
        return web.json_response(body, status=status)

    def _error(self, status: int, code: str, message: str) -> web.Response:
        body = {"data": {}, "error": {"code": code, "message": message, "log_id": self._log_id()}}
        return web.json_response(body, status=status)

    def _oauth_error(self, status: int, error: str, description: str) -> web.Response:
        body = {"error": error, "error_description": description, "log_id": self._log_id()}
        return web.json_response(body, status=status)

    def _token_body(self, issued: Any) -> dict[str, Any]:
        return {
            "access_token": issued.access_token,
            "expires_in": issued.expires_in,
            "open_id": self.open_id(issued.grant.account),
            "refresh_expires_in": issued.refresh_expires_in,
            "refresh_token": issued.refresh_token,
            "scope": ",".join(issued.grant.scopes),
            "token_type": "Bearer",
        }

    def _auth(self, request: web.Request, scope: str | tuple[str, ...]) -> Grant | web.Response:
        grant = self.tokens.bearer(request)
        if grant is None:
            return self._error(
                401,
                "access_token_invalid",
                "The access token is invalid or not found in the request.",
            )
        wanted = (scope,) if isinstance(scope, str) else scope
        if not any(s in grant.scopes for s in wanted):
            return self._error(
                401,
                "scope_not_authorized",
                f"The user did not authorize the scope required: {wanted[0]}.",
            )
        return grant

    def _limited(self, account: str, bucket: str, limit: int) -> bool:
        """Sliding one-minute window per account; True when this call is over the limit."""
        now = self.clock.time()
        window = self._windows.setdefault((account, bucket), deque())
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    def _rate_error(self) -> web.Response:
        return self._error(429, "rate_limit_exceeded", "API rate limit was exceeded.")

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            data = await request.json()
        except ValueError:
            return self._error(400, "invalid_params", "The request body is not valid JSON.")
        if not isinstance(data, dict):
            return self._error(400, "invalid_params", "The request body must be a JSON object.")
        return data

    # --------------------------------------------------------------- OAuth

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return self._oauth_error(400, "invalid_request", "redirect_uri is missing or invalid")
        problem = None
        if q.get("client_key") != self.config["client_key"]:
            problem = ("invalid_client", "client_key is not a registered client")
        elif q.get("response_type") != "code":
            problem = ("unsupported_response_type", "response_type must be code")
        elif not q.get("code_challenge") or q.get("code_challenge_method", "S256") != "S256":
            problem = ("invalid_request", "a PKCE code_challenge with method S256 is required")
        scopes = tuple(s for s in q.get("scope", "").split(",") if s)
        if problem is None and (not scopes or not set(scopes) <= KNOWN_SCOPES):
            problem = ("invalid_scope", "scope is missing or names an unknown scope")
        params: dict[str, str] = {}
        if problem is not None:
            params = {"error": problem[0], "error_description": problem[1]}
        else:
            code = self.tokens.issue_code(
                client_id=q["client_key"],
                redirect_uri=redirect_uri,
                scopes=scopes,
                code_challenge=q["code_challenge"],
                account=q.get("login_hint") or self.config["default_account"],
            )
            params = {"code": code, "scopes": ",".join(scopes)}
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(f"{redirect_uri}{sep}{urlencode(params)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_key, secret = form.get("client_key"), form.get("client_secret")
        if client_key != self.config["client_key"] or secret != self.config["client_secret"]:
            return self._oauth_error(401, "invalid_client", "Client key or secret is incorrect.")
        grant_type = form.get("grant_type")
        try:
            if grant_type == "authorization_code":
                issued = self.tokens.redeem_code(
                    str(form.get("code", "")),
                    client_id=str(client_key),
                    redirect_uri=str(form.get("redirect_uri", "")) or None,
                    code_verifier=str(form.get("code_verifier", "")) or None,
                )
            elif grant_type == "refresh_token":
                issued = self.tokens.refresh(
                    str(form.get("refresh_token", "")), client_id=str(client_key)
                )
            else:
                return self._oauth_error(
                    400, "unsupported_grant_type", "grant_type is not supported."
                )
        except TokenError as exc:
            return self._oauth_error(400, exc.reason, exc.description)
        return web.json_response(self._token_body(issued))

    # ------------------------------------------------------------- posting

    async def _creator_info(self, request: web.Request) -> web.Response:
        grant = self._auth(request, ("video.publish", "video.upload"))
        if isinstance(grant, web.Response):
            return grant
        if self._limited(grant.account, "creator_info", 20):
            return self._rate_error()
        return self._json(
            {
                "creator_avatar_url": self.url(f"/avatar/{grant.account}.jpeg"),
                "creator_username": grant.account,
                "creator_nickname": grant.account.replace("_", " ").title(),
                "privacy_level_options": list(self.config["privacy_level_options"]),
                "comment_disabled": False,
                "duet_disabled": False,
                "stitch_disabled": True,
                "max_video_post_duration_sec": int(self.config["max_video_post_duration_sec"]),
            }
        )

    async def _init_direct(self, request: web.Request) -> web.Response:
        return await self._init(request, "direct")

    async def _init_inbox(self, request: web.Request) -> web.Response:
        return await self._init(request, "inbox")

    def _check_source(self, source: Any) -> tuple[int, int, int] | str:
        """``(size, chunk_size, count)`` of a valid FILE_UPLOAD source_info, else why not."""
        if not isinstance(source, dict):
            return "source_info is required"
        if source.get("source") == "PULL_FROM_URL":
            return "url_ownership_unverified"
        if source.get("source") != "FILE_UPLOAD":
            return "source_info.source must be FILE_UPLOAD or PULL_FROM_URL"
        size, chunk, count = (
            source.get(k) for k in ("video_size", "chunk_size", "total_chunk_count")
        )
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (size, chunk, count)
        ):
            return "video_size, chunk_size and total_chunk_count must be positive integers"
        assert isinstance(size, int) and isinstance(chunk, int) and isinstance(count, int)
        cfg = self.config
        if size > cfg["max_video_size"]:
            return "video_size exceeds the maximum"
        if size < cfg["min_chunk_size"]:
            if chunk != size or count != 1:
                return "a video smaller than the minimum chunk size must be uploaded as one chunk"
            return size, chunk, count
        if chunk == size and count == 1 and size <= cfg["max_chunk_size"]:
            return size, chunk, count
        if not cfg["min_chunk_size"] <= chunk <= cfg["max_chunk_size"]:
            return "chunk_size must be between the minimum and maximum chunk size"
        if count != size // chunk:
            return "total_chunk_count must equal floor(video_size / chunk_size)"
        if count > cfg["max_chunks"]:
            return "total_chunk_count exceeds the maximum number of chunks"
        if size - (count - 1) * chunk > cfg["max_last_chunk_size"]:
            return "the last chunk exceeds the maximum size"
        return size, chunk, count

    async def _init(self, request: web.Request, mode: str) -> web.Response:
        grant = self._auth(request, "video.publish" if mode == "direct" else "video.upload")
        if isinstance(grant, web.Response):
            return grant
        if self._limited(grant.account, "init", int(self.config["init_per_minute"])):
            return self._rate_error()
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        checked = self._check_source(body.get("source_info"))
        if checked == "url_ownership_unverified":
            return self._error(403, checked, "The URL's domain or prefix is not verified.")
        if isinstance(checked, str):
            return self._error(400, "invalid_params", checked)
        size, chunk, count = checked
        title: Any = ""
        privacy: Any = None
        post_info: dict[str, Any] = {}
        if mode == "direct":
            given = body.get("post_info")
            if not isinstance(given, dict):
                return self._error(400, "invalid_params", "post_info is required for a direct post")
            post_info = given
            title = post_info.get("title", "")
            if not isinstance(title, str) or len(title) > 2200:
                return self._error(
                    400, "invalid_params", "title must be a string of at most 2200 characters"
                )
            privacy = post_info.get("privacy_level")
            if privacy not in PRIVACY_LEVELS:
                return self._error(400, "invalid_params", "privacy_level is missing or invalid")
            if privacy not in self.config["privacy_level_options"]:
                return self._error(
                    400,
                    "privacy_level_option_mismatch",
                    "privacy_level is not one of the creator's options",
                )
        refused = self._posting_refused(grant.account, mode, privacy)
        if refused is not None:
            return refused
        now = self.clock.time()
        inits = self._inits.setdefault(grant.account, deque())
        while inits and inits[0] <= now - 86400.0:
            inits.popleft()
        if len(inits) >= int(self.config["daily_post_cap"]):
            return self._error(
                403,
                "spam_risk_too_many_posts",
                "The daily post cap from the API is reached for the current user.",
            )
        inits.append(now)
        n = next(self._seq)
        publish = _Publish(
            publish_id=f"v_{'pub' if mode == 'direct' else 'inbox'}_file~v2-1.{7300000000000000000 + n}",
            account=grant.account,
            mode=mode,
            title=title,
            privacy_level=privacy,
            post_info=dict(post_info),
            video_size=size,
            chunk_size=chunk,
            total_chunk_count=count,
            upload_id=f"{7400000000000000000 + n}",
            upload_token=secrets.token_hex(16),
            upload_expires_at=now + float(self.config["upload_url_ttl"]),
            created_at=now,
        )
        self.publishes[publish.publish_id] = publish
        self._by_upload[publish.upload_id] = publish
        query = urlencode({"upload_id": publish.upload_id, "upload_token": publish.upload_token})
        return self._json(
            {"publish_id": publish.publish_id, "upload_url": self.url(f"/upload/video/?{query}")}
        )

    def _posting_refused(self, account: str, mode: str, privacy: Any) -> web.Response | None:
        """The audit rule for direct posts and the pending-drafts cap for inbox uploads."""
        cfg = self.config
        private_self_only = cfg["account_private"] and privacy == "SELF_ONLY"
        if mode == "direct" and not cfg["audited"] and not private_self_only:
            return self._error(
                403,
                "unaudited_client_can_only_post_to_private_accounts",
                "Unaudited clients can only post SELF_ONLY to private accounts.",
            )
        if mode == "inbox":
            since = self.clock.time() - 86400.0
            pending = [
                p
                for p in self.publishes.values()
                if p.account == account
                and p.mode == "inbox"
                and p.status != "FAILED"
                and p.created_at > since
            ]
            if len(pending) >= int(cfg["inbox_pending_cap"]):
                return self._error(
                    403,
                    "spam_risk_too_many_pending_share",
                    "The user has too many pending shares in the inbox.",
                )
        return None

    async def _upload_chunk(self, request: web.Request) -> web.Response:
        publish = self._by_upload.get(request.query.get("upload_id", ""))
        if publish is None or not secrets.compare_digest(
            request.query.get("upload_token", ""), publish.upload_token
        ):
            return self._error(404, "invalid_params", "upload_id or upload_token is invalid")
        if self.clock.time() >= publish.upload_expires_at:
            return self._error(
                404, "upload_url_expired", "The upload URL has expired; initialize again."
            )
        if request.content_type not in CONTENT_TYPES:
            return self._error(
                400,
                "invalid_file_upload",
                "Content-Type must be video/mp4, video/quicktime or video/webm",
            )
        parsed = parse_content_range(request.headers.get("Content-Range", ""))
        if parsed is None or parsed.first is None or parsed.last is None or parsed.total is None:
            return self._error(416, "invalid_file_upload", "Content-Range is missing or malformed")
        first, last, total = parsed.first, parsed.last, parsed.total
        length = request.content_length
        if length is None:
            return self._error(411, "invalid_file_upload", "Content-Length is required")
        if (
            total != publish.video_size
            or last < first
            or last >= total
            or length != last - first + 1
        ):
            return self._error(
                416, "invalid_file_upload", "Content-Range does not match the video or the body"
            )
        if publish.complete or first != publish.committed:
            publish.rejected_chunks += 1
            return self._error(
                416,
                "invalid_file_upload",
                f"chunks must be uploaded in order: expected the chunk at byte {publish.committed}",
            )
        index = first // publish.chunk_size
        is_last = index == publish.total_chunk_count - 1
        expected = publish.video_size - first if is_last else publish.chunk_size
        if length != expected:
            return self._error(
                416, "invalid_file_upload", f"chunk {index} must be {expected} bytes"
            )
        hasher = publish.hasher.copy()
        got = 0
        try:
            async for piece in request.content.iter_chunked(256 * 1024):
                got += len(piece)
                publish.bytes_received += len(piece)
                hasher.update(piece)
        except (ConnectionError, OSError):
            got = -1
        if got != length:  # the client went away mid-chunk: nothing is committed
            return self._error(400, "invalid_file_upload", "the chunk body ended early")
        publish.hasher = hasher
        publish.committed += length
        publish.chunks += 1
        if not publish.complete:
            return web.Response(
                status=206, headers={"Range": stored_range(publish.committed) or ""}
            )
        publish.sha256 = hasher.hexdigest()
        publish.completed_at = self.clock.time()
        if publish.mode == "direct":  # the post's id exists now; TikTok reveals it once public
            publish.video_id = str(7500000000000000000 + next(self._seq))
        return web.Response(status=201)

    async def _status(self, request: web.Request) -> web.Response:
        grant = self._auth(request, ("video.publish", "video.upload"))
        if isinstance(grant, web.Response):
            return grant
        if self._limited(grant.account, "status", int(self.config["status_per_minute"])):
            return self._rate_error()
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        publish = self.publishes.get(str(body.get("publish_id", "")))
        if publish is None or publish.account != grant.account:
            return self._error(400, "invalid_params", "publish_id does not exist")
        if publish.complete and publish.status == "PROCESSING_UPLOAD":
            publish.polls += 1
            if publish.polls >= int(self.config["processing_polls"]):
                self._finish(publish)
        public = publish.status == "PUBLISH_COMPLETE"
        return self._json(
            {
                "status": publish.status,
                "fail_reason": publish.fail_reason or "",
                # the real field name, misspelt; empty until the post is out
                "publicaly_available_post_id": [int(publish.video_id or 0)] if public else [],
                "uploaded_bytes": publish.committed,
            }
        )

    def _finish(self, publish: _Publish) -> None:
        reason = self.config["fail_reason"]
        if reason:
            self.config["fail_reason"] = None
            publish.status, publish.fail_reason = "FAILED", str(reason)
            return
        if publish.mode == "inbox":
            publish.status = "SEND_TO_USER_INBOX"
            return
        n = int(publish.video_id or 0) - 7500000000000000000
        create_ms = int(self.clock.time() * 1000)
        mine = [v for v in self.videos if v.account == publish.account]
        if mine and create_ms <= mine[-1].create_ms:
            create_ms = mine[-1].create_ms + 1  # unique, increasing: the list cursor stays exact
        video = _Video(
            id=str(publish.video_id),
            account=publish.account,
            title=publish.title,
            create_ms=create_ms,
            size=publish.video_size,
            publish_id=publish.publish_id,
            seed=n,
        )
        self.videos.append(video)
        publish.status, publish.video_id = "PUBLISH_COMPLETE", video.id

    # ------------------------------------------------------------- display

    def _fields(self, request: web.Request) -> list[str] | web.Response:
        fields = [f for f in request.query.get("fields", "").split(",") if f]
        if not fields or not set(fields) <= VIDEO_FIELDS:
            return self._error(400, "invalid_params", "fields is missing or names an unknown field")
        return fields

    def _render(self, video: _Video, fields: list[str]) -> dict[str, Any]:
        elapsed = max(0.0, self.clock.time() - video.create_ms / 1000)
        views = int(elapsed // 60) * (10 + video.seed % 7) + (elapsed > 0)
        full: dict[str, Any] = {
            "id": video.id,
            "create_time": video.create_ms // 1000,
            "cover_image_url": self.url(f"/cover/{video.id}.jpeg"),
            "share_url": f"https://www.tiktok.com/@{video.account}/video/{video.id}",
            "video_description": video.title,
            "duration": 30,
            "height": 1920,
            "width": 1080,
            "title": video.title,
            "embed_html": f'<blockquote class="tiktok-embed" data-video-id="{video.id}"></blockquote>',
            "embed_link": f"https://www.tiktok.com/player/v1/{video.id}",
            "view_count": views,
            "like_count": views // 10,
            "comment_count": views // 40,
            "share_count": views // 100,
        }
        return {k: full[k] for k in fields}

    async def _display_request(
        self, request: web.Request
    ) -> tuple[Grant, list[str], dict[str, Any]] | web.Response:
        """What every Display API call checks first: token and scope, the
        per-minute limit, the ``fields`` query and the JSON body."""
        grant = self._auth(request, "video.list")
        if isinstance(grant, web.Response):
            return grant
        if self._limited(grant.account, "display", int(self.config["display_per_minute"])):
            return self._rate_error()
        fields = self._fields(request)
        if isinstance(fields, web.Response):
            return fields
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        return grant, fields, body

    async def _video_list(self, request: web.Request) -> web.Response:
        checked = await self._display_request(request)
        if isinstance(checked, web.Response):
            return checked
        grant, fields, body = checked
        max_count, cursor = body.get("max_count", 10), body.get("cursor")
        if not isinstance(max_count, int) or not 1 <= max_count <= 20:
            return self._error(400, "invalid_params", "max_count must be between 1 and 20")
        if cursor is not None and not isinstance(cursor, int):
            return self._error(400, "invalid_params", "cursor must be an integer")
        mine = sorted(
            (v for v in self.videos if v.account == grant.account), key=lambda v: -v.create_ms
        )
        if cursor is not None:
            mine = [v for v in mine if v.create_ms < cursor]
        page = mine[:max_count]
        next_cursor = page[-1].create_ms if page else (cursor or 0)
        return self._json(
            {
                "videos": [self._render(v, fields) for v in page],
                "cursor": next_cursor,
                "has_more": len(mine) > len(page),
            }
        )

    async def _video_query(self, request: web.Request) -> web.Response:
        checked = await self._display_request(request)
        if isinstance(checked, web.Response):
            return checked
        grant, fields, body = checked
        filters = body.get("filters")
        ids = filters.get("video_ids") if isinstance(filters, dict) else None
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= 20
            or not all(isinstance(i, str) for i in ids)
        ):
            return self._error(
                400, "invalid_params", "filters.video_ids must list 1 to 20 video ids"
            )
        mine = {v.id: v for v in self.videos if v.account == grant.account}
        return self._json({"videos": [self._render(mine[i], fields) for i in ids if i in mine]})

"""Fake of LinkedIn's 3-legged OAuth, Videos API, Posts API and analytics (protocols.md §6).

One fake serves the hosts the client talks to (www.linkedin.com for OAuth and
the part upload URLs, api.linkedin.com for the rest) under ``/linkedin``:

- ``GET /oauth/v2/authorization`` (auto-approves), ``POST /oauth/v2/accessToken``
  (authorization code with the client secret; programmatic refresh tokens when
  ``programmatic_refresh``), ``GET /v2/userinfo`` (``openid``);
- ``POST /rest/videos?action=initializeUpload|finalizeUpload``,
  ``GET /rest/videos/{urn}``, ``PUT /dms-uploads/sp/v2/{asset}/uploadedVideo/{n}?ut=…``;
- ``POST /rest/posts`` (201, ``x-restli-id``), ``GET /rest/posts?q=author``
  (FINDER), ``GET|DELETE /rest/posts/{urn}``;
- ``GET /rest/organizationalEntityShareStatistics`` (``shares=List(…)``,
  ``ugcPosts=List(…)``), ``GET /rest/socialActions?ids=List(…)`` (BATCH_GET) and
  ``/rest/socialActions/{urn}``, ``GET /rest/videoAnalytics?q=entity``,
  ``GET /rest/memberCreatorPostAnalytics?q=entity`` (``r_member_postAnalytics``).

Rules, read strictly where LinkedIn's pages leave room: every ``/rest`` call
needs ``LinkedIn-Version`` (an active YYYYMM: 426 otherwise) and
``X-Restli-Protocol-Version: 2.0.0``; URNs in paths and queries must be
percent-encoded (Rest.li 2.0); FINDER and BATCH_GET calls carry
``X-RestLi-Method``. Parts are exactly the announced bytes (4 MiB, the last
shorter), PUT to their own URL before ``uploadUrlsExpireAt``; each answer
carries a quoted ``ETag``, and finalize wants every ETag, unquoted, in part
order. Processing takes ``processing_polls`` status reads. A post must
reference an ``AVAILABLE`` video of its author; the same commentary and video
again is a 422 duplicate. Posting as an organization needs
``w_organization_social`` and an admin role there. Daily limits answer 429
with no rate-limit header; errors have LinkedIn's
``{"status", "serviceErrorCode", "code", "message"}`` shape.

Media bytes are hashed while they stream in, never kept (a part that arrives
before an earlier one is held until the gap is filled).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from aiohttp import web

from pellacia_sandbox.fakes.base import (
    FakePlatform,
    Grant,
    IssuedTokens,
    TokenError,
    TokenStore,
    authorize_redirect,
)

MIB = 1024 * 1024
_VERSION = re.compile(r"^\d{6}$")
_URN = re.compile(r"^urn:li:(person|organization):([A-Za-z0-9_-]+)$")
_LIST = re.compile(r"^List\((.*)\)$")
ORG_ROLES = ("ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER")

DEFAULT_CONFIG: dict[str, Any] = {
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "default_account": "sandbox-account",
    #: LinkedIn-Version values still served (older ones are sunset: 426)
    "active_versions": ["202506", "202507", "202508", "202509", "202510", "202511", "202512"]
    + [f"2026{m:02d}" for m in range(1, 13)],
    "part_size": 4 * MIB,
    #: 75 KB read as 75 KiB; 500 MB as 500,000,000 bytes
    "min_file_size": 75 * 1024,
    "max_file_size": 500_000_000,
    "upload_url_ttl": 3600.0,
    "processing_polls": 2,
    #: when set, the next finalized video ends PROCESSING_FAILED with this reason
    "fail_reason": None,
    #: the app has LinkedIn's programmatic refresh tokens (partners only)
    "programmatic_refresh": True,
    "access_ttl": 60 * 86400.0,
    "refresh_ttl": 365 * 86400.0,
    #: the scopes the app's products grant; asking for another fails the consent
    #: (``unauthorized_scope_error``). r_member_social is for selected partners only.
    "app_scopes": [
        "openid",
        "profile",
        "email",
        "w_member_social",
        "r_member_social",
        "r_member_postAnalytics",
        "w_organization_social",
        "r_organization_social",
        "rw_organization_admin",
    ],
    #: organization id -> {account: role}
    "organizations": {"2414183": {"sandbox-account": "ADMINISTRATOR"}},
    #: posts a member (or organization) may create per UTC day
    "daily_posts": 150,
}


def person_id(account: str) -> str:
    """The stable member id LinkedIn returns as ``sub`` for ``account``."""
    return "sbx" + hashlib.sha256(account.encode()).hexdigest()[:10]


@dataclass
class _Part:
    first: int
    last: int
    token: str = field(repr=False)
    etag: str | None = None
    sha256: str | None = None
    pending: bytes | None = field(default=None, repr=False)  # arrived ahead of a gap

    @property
    def length(self) -> int:
        return self.last - self.first + 1


@dataclass
class _Video:
    urn: str
    asset: str
    owner: str
    account: str
    size: int
    upload_token: str = field(repr=False)
    expires_at: float
    parts: list[_Part]
    status: str = "WAITING_UPLOAD"
    polls: int = 0
    failure: str | None = None
    bytes_received: int = 0
    hasher: Any = field(default_factory=hashlib.sha256, repr=False)
    hashed_parts: int = 0
    sha256: str | None = None

    @property
    def bytes_committed(self) -> int:
        return sum(p.length for p in self.parts if p.etag)


@dataclass
class _Post:
    urn: str
    author: str
    account: str
    commentary: str
    title: str
    video: str
    visibility: str
    created_ms: int
    seed: int


class LinkedInFake(FakePlatform):
    """LinkedIn's OAuth, Videos, Posts and analytics APIs over the sandbox clock."""

    name = "linkedin"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.tokens = TokenStore(self.clock, prefix="AQV")
        self.configure()
        self._init_state()

    def _init_state(self) -> None:
        self.videos: dict[str, _Video] = {}
        self.posts: dict[str, _Post] = {}
        self._daily: dict[tuple[str, str], int] = {}
        self._seq = itertools.count(1)

    # ---------------------------------------------------------- test hooks

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change behaviour for a test (keys of ``DEFAULT_CONFIG``); returns the config."""
        unknown = set(settings) - set(DEFAULT_CONFIG)
        if unknown:
            raise KeyError(f"unknown LinkedIn fake settings: {', '.join(sorted(unknown))}")
        self.config.update(settings)
        self.tokens.access_ttl = float(self.config["access_ttl"])
        self.tokens.refresh_ttl = float(self.config["refresh_ttl"])
        return dict(self.config)

    def issue_token(
        self, account: str | None = None, scopes: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """Tokens for ``account`` without the browser dance, in the token endpoint's shape
        (default scopes: a member's, reading its own posts)."""
        grant = Grant(
            account=account or self.config["default_account"],
            client_id=self.config["client_id"],
            scopes=scopes or ("openid", "profile", "w_member_social", "r_member_social"),
        )
        return self._token_body(self.tokens.issue(grant))

    # ------------------------------------------------------- FakePlatform

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/oauth/v2/authorization", self._authorize)
        r.add_post("/oauth/v2/accessToken", self._token)
        r.add_get("/v2/userinfo", self._userinfo)
        r.add_post("/rest/videos", self._videos_action)
        r.add_get("/rest/videos/{urn}", self._get_video)
        r.add_put("/dms-uploads/sp/v2/{asset}/uploadedVideo/{part}", self._upload_part)
        r.add_post("/rest/posts", self._create_post)
        r.add_get("/rest/posts", self._find_posts)
        r.add_get("/rest/posts/{urn}", self._get_post)
        r.add_delete("/rest/posts/{urn}", self._delete_post)
        r.add_get("/rest/organizationalEntityShareStatistics", self._share_statistics)
        r.add_get("/rest/socialActions", self._social_actions_batch)
        r.add_get("/rest/socialActions/{urn}", self._social_actions_one)
        r.add_get("/rest/videoAnalytics", self._video_analytics)
        r.add_get("/rest/memberCreatorPostAnalytics", self._member_post_analytics)
        # not LinkedIn's: lets a test or the demo tune the fake over HTTP (reset restores defaults)
        r.add_post("/_sandbox/config", self._configure_http)

    async def _configure_http(self, request: web.Request) -> web.Response:
        try:
            config = self.configure(**(await request.json()))
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(config)

    def reset(self) -> None:
        self.config = dict(DEFAULT_CONFIG)
        self.tokens.reset()
        self.configure()
        self._init_state()

    def snapshot(self) -> dict[str, Any]:
        posts = [
            {
                "id": p.urn,
                "author": p.author,
                "account": p.account,
                "title": p.title,
                "caption": p.commentary,
                "video": p.video,
                "visibility": p.visibility,
                "bytes": self.videos[p.video].bytes_committed,
                "sha256": self.videos[p.video].sha256,
            }
            for p in self.posts.values()
        ]
        uploads = [
            {
                "id": v.urn,
                "owner": v.owner,
                "account": v.account,
                "size": v.size,
                "status": v.status,
                "parts": len(v.parts),
                "parts_uploaded": sum(1 for p in v.parts if p.etag),
                "bytes_committed": v.bytes_committed,
                "bytes_received": v.bytes_received,
                "sha256": v.sha256,
            }
            for v in self.videos.values()
        ]
        return {
            "posts": posts,
            "uploads": uploads,
            "request_count": len(self.requests),
            "token_stats": dict(self.tokens.stats),
        }

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind == "server_error":
            return self._error(500, "INTERNAL_SERVER_ERROR", "Internal Server Error", 0)
        if kind in ("rate_limit", "quota"):  # LinkedIn sends no rate-limit header
            return self._error(429, "TOO_MANY_REQUESTS", "Resource level throttle limit reached")
        if kind == "auth":
            return self._expired()
        if kind == "challenge":
            return self._error(
                403, "ACCESS_DENIED", "Member is restricted from creating content", 100
            )
        return self._error(500, "INTERNAL_SERVER_ERROR", f"unknown fault kind {kind}", 0)

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _error(status: int, code: str, message: str, service: int | None = None) -> web.Response:
        body: dict[str, Any] = {"status": status, "code": code, "message": message}
        if service is not None:
            body["serviceErrorCode"] = service
        return web.json_response(body, status=status)

    def _expired(self) -> web.Response:
        return self._error(
            401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", 65601
        )

    def _now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def _rest(self, request: web.Request, method: str | None = None) -> Grant | web.Response:
        """What every /rest call checks: version headers, Rest.li method, bearer token."""
        version = request.headers.get("LinkedIn-Version", "")
        if not version:
            return self._error(400, "VERSION_MISSING", "A version must be present", 0)
        if not _VERSION.match(version) or version not in self.config["active_versions"]:
            return self._error(
                426, "NONEXISTENT_VERSION", f"Requested version {version} is not active"
            )
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return self._error(
                400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version: 2.0.0 is required", 0
            )
        if method is not None and request.headers.get("X-RestLi-Method", "").upper() != method:
            return self._error(400, "ILLEGAL_ARGUMENT", f"X-RestLi-Method: {method} is required", 0)
        if "urn:li:" in request.raw_path:
            # Rest.li 2.0: a URN's colons in a path key or a query value are %3A
            return self._error(
                400, "ILLEGAL_ARGUMENT", "URNs in the path or query must be URL-encoded", 0
            )
        grant = self.tokens.bearer(request)
        if grant is None:
            return self._expired()
        return grant

    def _can_write(self, grant: Grant, author: str) -> web.Response | None:
        """Scope and role checks for posting (or uploading) as ``author``."""
        match = _URN.match(author)
        if match is None:
            return self._error(422, "UNPROCESSABLE_ENTITY", f"Invalid author/owner {author}", 0)
        kind, ident = match.groups()
        if kind == "person":
            if "w_member_social" not in grant.scopes:
                return self._denied("w_member_social")
            if ident != person_id(grant.account):
                return self._error(
                    403, "ACCESS_DENIED", "Not enough permissions to act as this member", 100
                )
            return None
        if "w_organization_social" not in grant.scopes:
            return self._denied("w_organization_social")
        role = self.config["organizations"].get(ident, {}).get(grant.account)
        if role not in ORG_ROLES:
            return self._error(
                403,
                "ACCESS_DENIED",
                f"Member has no admin role on organization {ident} (needs one of {', '.join(ORG_ROLES)})",
                100,
            )
        return None

    def _can_read(self, grant: Grant, author: str, *, stats: bool = False) -> web.Response | None:
        match = _URN.match(author)
        if match is None:
            return self._error(400, "ILLEGAL_ARGUMENT", f"Invalid author {author}", 0)
        kind, ident = match.groups()
        if kind == "person":
            if "r_member_social" not in grant.scopes:
                return self._denied("r_member_social")
            return None if ident == person_id(grant.account) else self._denied("r_member_social")
        scope = "rw_organization_admin" if stats else "r_organization_social"
        if scope not in grant.scopes:
            return self._denied(scope)
        if self.config["organizations"].get(ident, {}).get(grant.account) not in ORG_ROLES:
            return self._error(403, "ACCESS_DENIED", "Member has no role on this organization", 100)
        return None

    def _denied(self, scope: str) -> web.Response:
        return self._error(
            403, "ACCESS_DENIED", f"Not enough permissions to access: needs {scope}", 100
        )

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            data = await request.json()
        except ValueError:
            return self._error(400, "ILLEGAL_ARGUMENT", "The request body is not valid JSON", 0)
        if not isinstance(data, dict):
            return self._error(400, "ILLEGAL_ARGUMENT", "The request body must be an object", 0)
        return data

    @staticmethod
    def _list(value: str) -> list[str] | None:
        match = _LIST.match(value)
        if match is None:
            return None
        return [unquote(v) for v in match.group(1).split(",") if v]

    # --------------------------------------------------------------- OAuth

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("response_type") != "code":
            return web.json_response(
                {"error": "invalid_request", "error_description": "response_type must be code"},
                status=400,
            )
        if q.get("client_id") != self.config["client_id"]:
            return web.json_response(
                {"error": "invalid_client", "error_description": "Unknown client_id"}, status=401
            )
        extra = sorted(set(q.get("scope", "").split()) - set(self.config["app_scopes"]))
        redirect_uri = q.get("redirect_uri", "")
        if extra and redirect_uri.startswith(("http://", "https://")):
            sep = "&" if "?" in redirect_uri else "?"
            refusal = urlencode(
                {
                    "error": "unauthorized_scope_error",
                    "error_description": f"Scope {extra[0]!r} is not authorized for your application",
                    "state": q.get("state", ""),
                }
            )
            return web.Response(status=302, headers={"Location": f"{redirect_uri}{sep}{refusal}"})
        return authorize_redirect(request, self.tokens, account=self.config["default_account"])

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            form.get("client_id") != self.config["client_id"]
            or form.get("client_secret") != self.config["client_secret"]
        ):
            return self._oauth_error(401, "invalid_client", "Client authentication failed")
        try:
            if form.get("grant_type") == "authorization_code":
                issued = self.tokens.redeem_code(
                    str(form.get("code", "")),
                    client_id=str(form["client_id"]),
                    redirect_uri=str(form.get("redirect_uri", "")) or None,
                )
            elif form.get("grant_type") == "refresh_token":
                if not self.config["programmatic_refresh"]:
                    return self._oauth_error(
                        400, "invalid_request", "The application is not allowed to refresh tokens"
                    )
                issued = self.tokens.refresh(
                    str(form.get("refresh_token", "")), client_id=str(form["client_id"])
                )
            else:
                return self._oauth_error(400, "unsupported_grant_type", "Unknown grant_type")
        except TokenError as exc:
            return self._oauth_error(400, exc.reason, exc.description)
        return web.json_response(self._token_body(issued))

    def _token_body(self, issued: IssuedTokens) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": issued.access_token,
            "expires_in": issued.expires_in,
            "scope": ",".join(issued.grant.scopes),
            "token_type": "Bearer",
        }
        if self.config["programmatic_refresh"]:
            body["refresh_token"] = issued.refresh_token
            body["refresh_token_expires_in"] = issued.refresh_expires_in
        return body

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)

    async def _userinfo(self, request: web.Request) -> web.Response:
        grant = self.tokens.bearer(request)
        if grant is None:
            return self._expired()
        if "openid" not in grant.scopes:
            return self._denied("openid")
        return web.json_response(
            {
                "sub": person_id(grant.account),
                "name": grant.account,
                "locale": {"country": "US", "language": "en"},
            }
        )

    # -------------------------------------------------------------- videos

    async def _videos_action(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        action = request.query.get("action")
        if action == "initializeUpload":
            return self._initialize(grant, body.get("initializeUploadRequest"))
        if action == "finalizeUpload":
            return self._finalize(grant, body.get("finalizeUploadRequest"))
        return self._error(400, "ILLEGAL_ARGUMENT", f"Unknown action {action}", 0)

    def _initialize(self, grant: Grant, spec: Any) -> web.Response:
        if not isinstance(spec, dict):
            return self._error(400, "ILLEGAL_ARGUMENT", "initializeUploadRequest is required", 0)
        owner, size = str(spec.get("owner", "")), spec.get("fileSizeBytes")
        refused = self._can_write(grant, owner)
        if refused is not None:
            return refused
        cfg = self.config
        if not isinstance(size, int) or not cfg["min_file_size"] <= size <= cfg["max_file_size"]:
            return self._error(
                422,
                "UNPROCESSABLE_ENTITY",
                f"fileSizeBytes must be between {cfg['min_file_size']} and {cfg['max_file_size']}",
            )
        n = next(self._seq)
        asset = f"D5605AQH{n:08d}{secrets.token_hex(4)}"
        video = _Video(
            urn=f"urn:li:video:{asset}",
            asset=asset,
            owner=owner,
            account=grant.account,
            size=size,
            upload_token=secrets.token_urlsafe(12),
            expires_at=self.clock.time() + float(cfg["upload_url_ttl"]),
            parts=[
                _Part(first, min(first + int(cfg["part_size"]), size) - 1, secrets.token_hex(8))
                for first in range(0, size, int(cfg["part_size"]))
            ],
        )
        self.videos[video.urn] = video
        instructions = [
            {
                "uploadUrl": self.url(
                    f"/dms-uploads/sp/v2/{asset}/uploadedVideo/{i}?ca=vector_feedshare&ut={p.token}"
                ),
                "firstByte": p.first,
                "lastByte": p.last,
            }
            for i, p in enumerate(video.parts)
        ]
        return web.json_response(
            {
                "value": {
                    "uploadUrlsExpireAt": int(video.expires_at * 1000),
                    "video": video.urn,
                    "uploadInstructions": instructions,
                    "uploadToken": video.upload_token,
                }
            }
        )

    async def _upload_part(self, request: web.Request) -> web.Response:
        video = self.videos.get(f"urn:li:video:{request.match_info['asset']}")
        index = int(request.match_info["part"]) if request.match_info["part"].isdigit() else -1
        part = video.parts[index] if video and 0 <= index < len(video.parts) else None
        if (
            video is None
            or part is None
            or not secrets.compare_digest(request.query.get("ut", ""), part.token)
        ):
            return self._error(404, "NOT_FOUND", "Upload URL not found")
        if self.clock.time() >= video.expires_at:
            return self._error(403, "ACCESS_DENIED", "Upload URL has expired", 100)
        if video.status != "WAITING_UPLOAD":
            return self._error(400, "ILLEGAL_ARGUMENT", "The video is no longer accepting parts", 0)
        if request.content_length != part.length:
            return self._error(
                400, "ILLEGAL_ARGUMENT", f"This part must be exactly {part.length} bytes", 0
            )
        hasher, got, kept = hashlib.sha256(), 0, bytearray()
        try:
            async for piece in request.content.iter_chunked(256 * 1024):
                got += len(piece)
                video.bytes_received += len(piece)
                hasher.update(piece)
                kept += piece
        except (ConnectionError, OSError):
            got = -1
        if got != part.length:  # the client went away mid-part: nothing is kept
            return self._error(400, "ILLEGAL_ARGUMENT", "The part body ended early", 0)
        digest = hasher.hexdigest()
        if part.etag and part.sha256 != digest:
            video.sha256 = "different bytes re-sent for a part"
        part.sha256, part.etag = digest, f"/ETag/{digest[:24]}"
        if index >= video.hashed_parts:  # a re-sent part already hashed is not kept again
            part.pending = bytes(kept)
        self._hash_in_order(video)
        return web.Response(status=201, headers={"ETag": f'"{part.etag}"'})

    @staticmethod
    def _hash_in_order(video: _Video) -> None:
        """Feed the whole-file hash with every part now contiguous from the start."""
        while video.hashed_parts < len(video.parts):
            part = video.parts[video.hashed_parts]
            if part.pending is None:
                return
            video.hasher.update(part.pending)
            part.pending = None
            video.hashed_parts += 1

    def _finalize(self, grant: Grant, spec: Any) -> web.Response:
        if not isinstance(spec, dict):
            return self._error(400, "ILLEGAL_ARGUMENT", "finalizeUploadRequest is required", 0)
        video = self.videos.get(str(spec.get("video", "")))
        if video is None or video.account != grant.account:
            return self._error(404, "NOT_FOUND", f"Video {spec.get('video')} not found")
        if spec.get("uploadToken", "") != video.upload_token:
            return self._error(400, "ILLEGAL_ARGUMENT", "uploadToken does not match", 0)
        if video.status != "WAITING_UPLOAD":
            return self._error(400, "ILLEGAL_ARGUMENT", "The video upload is already finalized", 0)
        etags = [p.etag for p in video.parts]
        if None in etags:
            missing = [i for i, tag in enumerate(etags) if tag is None]
            return self._error(400, "ILLEGAL_ARGUMENT", f"Parts {missing} were never uploaded", 0)
        if spec.get("uploadedPartIds") != etags:
            return self._error(
                400,
                "ILLEGAL_ARGUMENT",
                "uploadedPartIds must list every part's ETag, without quotes, in part order",
                0,
            )
        if video.hashed_parts == len(video.parts) and video.sha256 is None:
            video.sha256 = video.hasher.hexdigest()
        video.status = "PROCESSING"
        return web.Response(status=200)

    async def _get_video(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        video = self.videos.get(request.match_info["urn"])
        if video is None or video.account != grant.account:
            return self._error(404, "NOT_FOUND", "Video not found")
        if video.status == "PROCESSING":
            video.polls += 1
            if video.polls >= int(self.config["processing_polls"]):
                reason = self.config["fail_reason"]
                if reason:
                    self.config["fail_reason"] = None
                    video.status, video.failure = "PROCESSING_FAILED", str(reason)
                else:
                    video.status = "AVAILABLE"
        body: dict[str, Any] = {
            "id": video.urn,
            "owner": video.owner,
            "status": video.status,
            "aspectRatioWidth": 16.0,
            "aspectRatioHeight": 9.0,
        }
        if video.status == "AVAILABLE":
            body["duration"] = 30000
            body["downloadUrl"] = self.url(f"/dms/video/{video.asset}")
        if video.failure:
            body["processingFailureReason"] = video.failure
        return web.json_response(body)

    # --------------------------------------------------------------- posts

    def _post_refused(self, grant: Grant, body: dict[str, Any]) -> web.Response | None:
        author = str(body.get("author", ""))
        refused = self._can_write(grant, author)
        if refused is not None:
            return refused
        commentary = body.get("commentary", "")
        if not isinstance(commentary, str) or len(commentary) > 3000:
            return self._error(
                422, "UNPROCESSABLE_ENTITY", "commentary must be at most 3000 characters"
            )
        if body.get("lifecycleState") != "PUBLISHED":
            return self._error(422, "UNPROCESSABLE_ENTITY", "lifecycleState must be PUBLISHED")
        if body.get("visibility") not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN"):
            return self._error(422, "UNPROCESSABLE_ENTITY", "visibility is missing or invalid")
        distribution = body.get("distribution")
        if not isinstance(distribution, dict) or "feedDistribution" not in distribution:
            return self._error(
                422, "UNPROCESSABLE_ENTITY", "distribution.feedDistribution is required"
            )
        media = (body.get("content") or {}).get("media") or {}
        video = self.videos.get(str(media.get("id", "")))
        if video is None or video.owner != author:
            return self._error(
                422, "UNPROCESSABLE_ENTITY", f"Media {media.get('id')} not found for author"
            )
        if video.status != "AVAILABLE":
            return self._error(
                422, "UNPROCESSABLE_ENTITY", f"Media {video.urn} is not AVAILABLE ({video.status})"
            )
        for post in self.posts.values():
            if post.author == author and post.video == video.urn and post.commentary == commentary:
                return self._error(
                    422, "UNPROCESSABLE_ENTITY", f"Content is a duplicate of {post.urn}"
                )
        day = (author, str(int(self.clock.time() // 86400)))
        if self._daily.get(day, 0) >= int(self.config["daily_posts"]):
            return self.native_error("rate_limit")
        return None

    async def _create_post(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        refused = self._post_refused(grant, body)
        if refused is not None:
            return refused
        author = str(body["author"])
        day = (author, str(int(self.clock.time() // 86400)))
        self._daily[day] = self._daily.get(day, 0) + 1
        media = body["content"]["media"]
        n = next(self._seq)
        post = _Post(
            urn=f"urn:li:ugcPost:{7100000000000000000 + n}",
            author=author,
            account=grant.account,
            commentary=str(body.get("commentary", "")),
            title=str(media.get("title", "")),
            video=str(media["id"]),
            visibility=str(body["visibility"]),
            created_ms=self._now_ms(),
            seed=n,
        )
        self.posts[post.urn] = post
        return web.Response(status=201, headers={"x-restli-id": post.urn})

    def _render_post(self, post: _Post) -> dict[str, Any]:
        return {
            "id": post.urn,
            "author": post.author,
            "commentary": post.commentary,
            "visibility": post.visibility,
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "content": {"media": {"title": post.title, "id": post.video}},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
            "createdAt": post.created_ms,
            "publishedAt": post.created_ms,
            "lastModifiedAt": post.created_ms,
        }

    async def _find_posts(self, request: web.Request) -> web.Response:
        grant = self._rest(request, "FINDER")
        if isinstance(grant, web.Response):
            return grant
        q = request.query
        if q.get("q") != "author":
            return self._error(400, "ILLEGAL_ARGUMENT", "Unknown finder", 0)
        author = q.get("author", "")
        refused = self._can_read(grant, author)
        if refused is not None:
            return refused
        try:
            start, count = int(q.get("start", "0")), int(q.get("count", "10"))
        except ValueError:
            return self._error(400, "ILLEGAL_ARGUMENT", "start and count must be integers", 0)
        if start < 0 or not 1 <= count <= 100:
            return self._error(400, "ILLEGAL_ARGUMENT", "count must be between 1 and 100", 0)
        mine = sorted(
            (p for p in self.posts.values() if p.author == author),
            key=lambda p: (-p.created_ms, -p.seed),
        )
        page = mine[start : start + count]
        return web.json_response(
            {
                "elements": [self._render_post(p) for p in page],
                "paging": {"start": start, "count": count, "links": [], "total": len(mine)},
            }
        )

    async def _get_post(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        post = self.posts.get(request.match_info["urn"])
        if post is None:
            return self._error(404, "NOT_FOUND", "Post not found")
        refused = self._can_read(grant, post.author)
        return refused or web.json_response(self._render_post(post))

    async def _delete_post(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        post = self.posts.get(request.match_info["urn"])
        if post is not None:
            refused = self._can_write(grant, post.author)
            if refused is not None:
                return refused
            del self.posts[post.urn]
        return web.Response(status=204)

    # ----------------------------------------------------------- analytics

    def _counts(self, post: _Post) -> dict[str, int]:
        """Numbers that grow with the post's age on the sandbox clock."""
        minutes = max(0, int(self.clock.time() - post.created_ms / 1000) // 60)
        impressions = minutes * (20 + post.seed % 7) + 1
        return {
            "impressions": impressions,
            "views": impressions // 3,
            "likes": impressions // 25,
            "comments": impressions // 80,
            "shares": impressions // 150,
            "clicks": impressions // 40,
        }

    async def _share_statistics(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        q = request.query
        org = q.get("organizationalEntity", "")
        if q.get("q") != "organizationalEntity" or not org.startswith("urn:li:organization:"):
            return self._error(
                400,
                "ILLEGAL_ARGUMENT",
                "q=organizationalEntity with an organization is required",
                0,
            )
        refused = self._can_read(grant, org, stats=True)
        if refused is not None:
            return refused
        wanted: list[tuple[str, str]] = []
        for key in ("shares", "ugcPosts"):
            if key in q:
                urns = self._list(q[key])
                if urns is None or len(urns) > 20:
                    return self._error(
                        400, "ILLEGAL_ARGUMENT", f"{key} must be List(...) of at most 20", 0
                    )
                wanted += [(key[:-1], u) for u in urns]
        elements = []
        for field_name, urn in wanted:
            post = self.posts.get(urn)
            if post is None or post.author != org:
                continue
            c = self._counts(post)
            elements.append(
                {
                    "organizationalEntity": org,
                    field_name: urn,
                    "totalShareStatistics": {
                        "impressionCount": c["impressions"],
                        "uniqueImpressionsCount": c["impressions"] * 4 // 5,
                        "clickCount": c["clicks"],
                        "likeCount": c["likes"],
                        "commentCount": c["comments"],
                        "shareCount": c["shares"],
                        "engagement": round(
                            (c["clicks"] + c["likes"] + c["comments"] + c["shares"])
                            / c["impressions"],
                            4,
                        ),
                    },
                }
            )
        return web.json_response(
            {"elements": elements, "paging": {"start": 0, "count": 10, "links": []}}
        )

    def _social(self, post: _Post) -> dict[str, Any]:
        c = self._counts(post)
        return {
            "target": post.urn,
            "likesSummary": {"totalLikes": c["likes"], "likedByCurrentUser": False},
            "commentsSummary": {
                "aggregatedTotalComments": c["comments"],
                "totalFirstLevelComments": c["comments"],
            },
        }

    async def _social_actions_batch(self, request: web.Request) -> web.Response:
        grant = self._rest(request, "BATCH_GET")
        if isinstance(grant, web.Response):
            return grant
        urns = self._list(request.query.get("ids", ""))
        if not urns:
            return self._error(400, "ILLEGAL_ARGUMENT", "ids must be List(...)", 0)
        results, errors = {}, {}
        for urn in urns:
            post = self.posts.get(urn)
            refused = self._can_read(grant, post.author) if post else None
            if post is None or refused is not None:
                errors[urn] = {"status": 404 if post is None else 403}
                continue
            results[urn] = self._social(post)
        if errors and not results and all(e["status"] == 403 for e in errors.values()):
            return self._denied("r_member_social")
        return web.json_response({"results": results, "statuses": {}, "errors": errors})

    async def _social_actions_one(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        post = self.posts.get(request.match_info["urn"])
        if post is None:
            return self._error(404, "NOT_FOUND", "Not found")
        refused = self._can_read(grant, post.author)
        return refused or web.json_response(self._social(post))

    async def _member_post_analytics(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        if "r_member_postAnalytics" not in grant.scopes:
            return self._denied("r_member_postAnalytics")
        q = request.query
        match = re.fullmatch(r"\((share|ugc):(urn:li:(?:share|ugcPost):\d+)\)", q.get("entity", ""))
        kinds = {"IMPRESSION": "impressions", "MEMBERS_REACHED": "reach", "RESHARE": "shares"}
        kinds |= {"REACTION": "likes", "COMMENT": "comments"}
        if q.get("q") != "entity" or match is None or q.get("queryType") not in kinds:
            return self._error(
                400, "ILLEGAL_ARGUMENT", "q=entity, entity=(share:…|ugc:…) and a queryType", 0
            )
        post = self.posts.get(match.group(2))
        if (
            post is None
            or post.account != grant.account
            or not post.author.startswith("urn:li:person:")
        ):
            return self._error(404, "NOT_FOUND", "Post not found for the member")
        c = self._counts(post)
        c["reach"] = c["impressions"] * 4 // 5
        count = c[kinds[str(q["queryType"])]]
        return web.json_response(
            {
                "elements": [
                    {
                        "count": count,
                        "metricType": {
                            "com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1": q[
                                "queryType"
                            ]
                        },
                    }
                ],
                "paging": {"start": 0, "count": 10, "links": []},
            }
        )

    async def _video_analytics(self, request: web.Request) -> web.Response:
        grant = self._rest(request)
        if isinstance(grant, web.Response):
            return grant
        q = request.query
        if q.get("q") != "entity" or q.get("type") not in ("VIDEO_VIEW", "VIEWER", "TIME_WATCHED"):
            return self._error(400, "ILLEGAL_ARGUMENT", "q=entity and a known type are required", 0)
        post = self.posts.get(q.get("entity", ""))
        if post is None:
            return self._error(404, "NOT_FOUND", "Entity not found")
        refused = self._can_read(grant, post.author)
        if refused is not None:
            return refused
        c = self._counts(post)
        value = {
            "VIDEO_VIEW": c["views"],
            "VIEWER": c["views"] * 9 // 10,
            "TIME_WATCHED": c["views"] * 12000,
        }
        return web.json_response(
            {
                "elements": [
                    {
                        "entity": post.urn,
                        "type": q["type"],
                        "value": value[str(q["type"])],
                        "timeRange": {"start": post.created_ms, "end": self._now_ms()},
                    }
                ],
                "paging": {"start": 0, "count": 10, "links": []},
            }
        )


__all__ = ["DEFAULT_CONFIG", "LinkedInFake", "person_id"]

"""Fake of "Example Video", the made-up platform of the worked example plugin.

Its protocol is small but has what real ones have (docs/plugin-guide.md
describes it): OAuth with PKCE and rotating refresh tokens, a chunked upload
session with explicit offsets that expires, a separate publish call, a list
call to find a post by the client's reference, and batched metrics.

    GET  /oauth/authorize          auto-approves: 302 to redirect_uri?code=&state=
    POST /oauth/token              grant_type=authorization_code | refresh_token
    POST /v1/uploads               {"size": N} -> {"upload_id", "chunk_size_max", "expires_at"}
    PUT  /v1/uploads/{id}?offset=N bytes      -> {"received": M}  (409 if N != received)
    GET  /v1/uploads/{id}                     -> {"received": M, "size": N, "status"}
    POST /v1/posts                 {"upload_id", "title", "description", "client_ref"}
    GET  /v1/posts?client_ref=R    -> {"posts": [...]}
    GET  /v1/metrics?ids=a,b       -> {"metrics": [{"id", "views", "likes", ...}]}

Errors are ``{"error": {"code", "message"}}``; 429 carries ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from aiohttp import web

from pellacia_sandbox.fakes.base import (
    FakePlatform,
    Grant,
    TokenError,
    TokenStore,
    authorize_redirect,
)

UPLOAD_TTL_S = 24 * 3600
CHUNK_SIZE_MIN = 16 * 1024  # every chunk but the last
CHUNK_SIZE_MAX = 8 * 1024 * 1024
MAX_VIDEO_BYTES = 512 * 1024 * 1024


def _err(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


class ExampleFake(FakePlatform):
    """The Example Video API."""

    name = "example"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.tokens = TokenStore(self.clock, access_ttl=3600, rotate_refresh=True, prefix="ex")
        self.uploads: dict[str, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []
        self._hashes: dict[str, Any] = {}

    # ------------------------------------------------------------ contract

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/oauth/authorize", self._authorize)
        app.router.add_post("/oauth/token", self._token)
        app.router.add_post("/v1/uploads", self._upload_init)
        app.router.add_put("/v1/uploads/{id}", self._upload_chunk)
        app.router.add_get("/v1/uploads/{id}", self._upload_status)
        app.router.add_post("/v1/posts", self._post_create)
        app.router.add_get("/v1/posts", self._post_list)
        app.router.add_get("/v1/metrics", self._metrics)

    def reset(self) -> None:
        self.tokens.reset()
        self.uploads.clear()
        self.posts.clear()
        self._hashes.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "posts": [dict(p) for p in self.posts],
            "uploads": [dict(u) for u in self.uploads.values()],
            "tokens": {"live_access": self.tokens.live_access_tokens(), **self.tokens.stats},
        }

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind == "rate_limit":
            retry_after = int(params.get("retry_after", 60))
            return web.json_response(
                {"error": {"code": "rate_limited", "message": "too many requests"}},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        if kind == "quota":
            reset_at = self.clock.now() + timedelta(seconds=float(params.get("retry_after", 3600)))
            return _err(
                403, "quota_exceeded", "daily post quota used", reset_at=reset_at.isoformat()
            )
        if kind == "auth":
            return _err(401, "invalid_token", "access token expired or revoked")
        if kind == "challenge":
            return _err(403, "account_review", "account under review: posting paused")
        return _err(int(params.get("status", 503)), "server_error", "temporary failure, retry")

    # ---------------------------------------------------------------- auth

    async def _authorize(self, request: web.Request) -> web.Response:
        return authorize_redirect(request, self.tokens, scope_separator=" ")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant_type = str(form.get("grant_type", ""))
        client_id = str(form.get("client_id", ""))
        if not client_id or not form.get("client_secret"):
            return web.json_response({"error": "invalid_client"}, status=401)
        try:
            if grant_type == "authorization_code":
                issued = self.tokens.redeem_code(
                    str(form.get("code", "")),
                    client_id=client_id,
                    redirect_uri=str(form.get("redirect_uri", "")) or None,
                    code_verifier=str(form.get("code_verifier", "")) or None,
                )
            elif grant_type == "refresh_token":
                issued = self.tokens.refresh(
                    str(form.get("refresh_token", "")), client_id=client_id
                )
            else:
                return web.json_response({"error": "unsupported_grant_type"}, status=400)
        except TokenError as exc:
            return web.json_response(
                {"error": exc.reason, "error_description": exc.description}, status=400
            )
        return web.json_response(
            {
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_in": issued.expires_in,
                "refresh_expires_in": issued.refresh_expires_in,
                "token_type": "Bearer",
                "scope": " ".join(issued.grant.scopes),
                "account": issued.grant.account,
            }
        )

    def _grant(self, request: web.Request) -> Grant | None:
        return self.tokens.bearer(request)

    # -------------------------------------------------------------- upload

    async def _upload_init(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return self.native_error("auth")
        body = await request.json()
        size = body.get("size")
        if not isinstance(size, int) or size <= 0:
            return _err(400, "invalid_size", "size must be a positive integer")
        if size > MAX_VIDEO_BYTES:
            return _err(413, "too_large", f"videos are limited to {MAX_VIDEO_BYTES} bytes")
        upload_id = "up_" + secrets.token_hex(8)
        self.uploads[upload_id] = {
            "id": upload_id,
            "account": grant.account,
            "size": size,
            "received": 0,
            "bytes_received": 0,
            "chunks": 0,
            "status": "uploading",
            "expires_at": self.clock.time() + UPLOAD_TTL_S,
            "sha256": None,
        }
        self._hashes[upload_id] = hashlib.sha256()
        return web.json_response(
            {"upload_id": upload_id, "chunk_size_max": CHUNK_SIZE_MAX, "expires_in": UPLOAD_TTL_S},
            status=201,
        )

    def _live_upload(self, request: web.Request, grant: Grant) -> dict[str, Any] | web.Response:
        upload = self.uploads.get(request.match_info["id"])
        if upload is None or upload["account"] != grant.account:
            return _err(404, "upload_not_found", "no such upload session")
        if upload["expires_at"] <= self.clock.time():
            return _err(404, "upload_expired", "upload session expired: start a new one")
        return upload

    async def _upload_chunk(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return self.native_error("auth")
        upload = self._live_upload(request, grant)
        if isinstance(upload, web.Response):
            return upload
        try:
            offset = int(request.query["offset"])
        except (KeyError, ValueError):
            return _err(400, "invalid_offset", "offset query parameter required")
        data = await request.read()
        upload["bytes_received"] += len(data)
        if request.content_length is not None and request.content_length != len(data):
            return _err(400, "length_mismatch", "body shorter than Content-Length")
        if offset != upload["received"]:
            return _err(
                409,
                "offset_mismatch",
                "offset is not where the upload stands",
                received=upload["received"],
            )
        end = offset + len(data)
        if not data or end > upload["size"]:
            return _err(400, "invalid_chunk", "chunk empty or past the declared size")
        if end < upload["size"] and len(data) < CHUNK_SIZE_MIN:
            return _err(400, "chunk_too_small", f"chunks but the last need {CHUNK_SIZE_MIN} bytes")
        if len(data) > CHUNK_SIZE_MAX:
            return _err(413, "chunk_too_large", f"chunks are limited to {CHUNK_SIZE_MAX} bytes")
        self._hashes[upload["id"]].update(data)
        upload["received"] = end
        upload["chunks"] += 1
        if end == upload["size"]:
            upload["status"] = "complete"
            upload["sha256"] = self._hashes[upload["id"]].hexdigest()
        return web.json_response({"received": end, "status": upload["status"]})

    async def _upload_status(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return self.native_error("auth")
        upload = self._live_upload(request, grant)
        if isinstance(upload, web.Response):
            return upload
        return web.json_response(
            {
                "upload_id": upload["id"],
                "size": upload["size"],
                "received": upload["received"],
                "status": upload["status"],
            }
        )

    # --------------------------------------------------------------- posts

    def _post_json(self, post: dict[str, Any]) -> dict[str, Any]:
        return {
            k: post[k] for k in ("id", "url", "title", "description", "client_ref", "created_at")
        }

    async def _post_create(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return self.native_error("auth")
        body = await request.json()
        upload = self.uploads.get(str(body.get("upload_id")))
        if upload is None or upload["account"] != grant.account:
            return _err(404, "upload_not_found", "no such upload")
        if upload["status"] != "complete":
            return _err(409, "upload_incomplete", "the upload has not received every byte")
        title = str(body.get("title") or "")
        if not title or len(title) > 100:
            return _err(400, "invalid_title", "title needs 1 to 100 characters")
        post_id = "p_" + secrets.token_hex(6)
        post = {
            "id": post_id,
            "url": self.url(f"/watch/{post_id}"),
            "title": title,
            "description": str(body.get("description") or ""),
            "caption": str(body.get("description") or ""),
            "client_ref": body.get("client_ref"),
            "account": grant.account,
            "upload_id": upload["id"],
            "bytes": upload["received"],
            "sha256": upload["sha256"],
            "created_at": self.clock.now().isoformat(),
        }
        upload["status"] = "published"
        self.posts.append(post)
        return web.json_response(self._post_json(post), status=201)

    async def _post_list(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return self.native_error("auth")
        ref = request.query.get("client_ref")
        posts = [
            self._post_json(p)
            for p in self.posts
            if p["account"] == grant.account and (ref is None or p["client_ref"] == ref)
        ]
        return web.json_response({"posts": posts})

    async def _metrics(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant is None:
            return self.native_error("auth")
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids or len(ids) > 20:
            return _err(400, "invalid_ids", "give 1 to 20 comma-separated post ids")
        by_id = {p["id"]: (n, p) for n, p in enumerate(self.posts) if p["account"] == grant.account}
        metrics = []
        for post_id in ids:
            if post_id not in by_id:
                continue
            n, _ = by_id[post_id]
            views = 100 * (n + 1)
            metrics.append(
                {
                    "id": post_id,
                    "views": views,
                    "likes": views // 10,
                    "comments": views // 50,
                    "shares": views // 100,
                    "watch_seconds": views * 7,
                }
            )
        return web.json_response({"metrics": metrics})

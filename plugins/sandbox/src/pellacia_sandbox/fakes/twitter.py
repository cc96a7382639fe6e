"""Fake of the X API v2: OAuth 2.0 with PKCE, the chunked media upload, posts, lookups.

Served under ``/twitter`` (``https://api.x.com``, ``https://x.com`` and
``https://upload.twitter.com`` all map there):

- ``GET /i/oauth2/authorize`` (auto-approves, PKCE required),
  ``POST /2/oauth2/token`` (HTTP Basic for confidential clients or
  ``client_id`` in the form for public ones; rotating refresh tokens, issued
  only with ``offline.access``), ``POST /2/oauth2/revoke``;
- ``GET /2/users/me``, ``GET /2/users/{id}/tweets`` (newest first, paged);
- the dedicated upload endpoints ``POST /2/media/upload/initialize``,
  ``/2/media/upload/{id}/append`` (multipart ``media`` + ``segment_index``, or
  JSON with base64 ``media``), ``/2/media/upload/{id}/finalize`` and
  ``GET /2/media/upload?command=STATUS&media_id=``; the older single endpoint
  ``POST /2/media/upload`` with ``command=INIT|APPEND|FINALIZE``; the legacy
  ``/1.1/media/upload.json`` (what tweepy's ``API.chunked_upload`` calls);
- ``POST /2/tweets`` (201), ``GET /2/tweets?ids=`` (1-100 ids, a 200 with
  ``errors[]`` beside ``data`` for what is missing or not the caller's to see).

Rules: segments 0-999, each at most 5,000,000 bytes (X says "5 MB": valid
under both readings), their sizes adding up to ``total_bytes`` at finalize;
video at most 512,000,000 bytes; sessions expire after ``expires_after_secs``;
video processing goes ``pending`` → ``in_progress`` → ``succeeded`` over
``processing_polls`` STATUS polls (``check_after_secs`` apart), or ``failed``;
only processed media of the same user can be posted; the same text twice in
24 h is refused (duplicate content). Per-user 15-minute windows for every
endpoint with ``x-rate-limit-limit/-remaining/-reset`` on every answer, the
account's daily post cap, and a project usage cap (``usage-capped``). Errors
are problem+json (``https://api.x.com/2/problems/<kind>``); the v1.1 paths
answer v1.1's ``errors[]``. Media bytes go to temporary files per segment and
are hashed at finalize (no memory held for big uploads).

Tests tune it with ``configure(...)`` or ``POST /twitter/_sandbox/config``;
``reset()`` restores the defaults.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import math
import re
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from pellacia_sandbox.fakes.base import (
    FakePlatform,
    Grant,
    TokenError,
    TokenStore,
    authorize_redirect,
)

PROBLEMS = "https://api.x.com/2/problems/"
SCOPES = frozenset(
    {
        "tweet.read", "tweet.write", "users.read", "media.write", "offline.access",
        "like.read", "like.write", "follows.read", "follows.write", "bookmark.read",
    }
)  # fmt: skip
MEDIA_TYPES = frozenset(
    {
        "video/mp4", "video/webm", "video/mp2t", "video/quicktime", "text/srt", "text/vtt",
        "image/jpeg", "image/gif", "image/bmp", "image/png", "image/webp", "image/pjpeg",
        "image/tiff", "model/gltf-binary", "model/vnd.usdz+zip",
    }
)  # fmt: skip
#: media_category -> (most bytes, media_key prefix, processed asynchronously)
CATEGORIES: dict[str, tuple[int, str, bool]] = {
    "amplify_video": (512_000_000, "13", True),
    "tweet_video": (512_000_000, "7", True),
    "dm_video": (512_000_000, "7", True),
    "tweet_gif": (15_000_000, "16", True),
    "dm_gif": (15_000_000, "16", True),
    "tweet_image": (5_000_000, "3", False),
    "dm_image": (5_000_000, "3", False),
    "subtitles": (5_000_000, "3", False),
}
WINDOW_S = 900.0
#: per-user 15-minute limits of each endpoint (protocols.md §5)
LIMITS = {
    "media.initialize": 1875,
    "media.append": 1875,
    "media.finalize": 1875,
    "media.status": 1000,
    "tweets.create": 100,
    "tweets.lookup": 5000,
    "users.tweets": 900,
    "users.me": 75,
}
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
TWEET_FIELDS = frozenset(
    {
        "attachments", "author_id", "created_at", "edit_history_tweet_ids", "id", "lang",
        "non_public_metrics", "organic_metrics", "public_metrics", "text", "reply_settings",
        "conversation_id", "entities", "source", "possibly_sensitive",
    }
)  # fmt: skip
PRIVATE_FIELDS = ("non_public_metrics", "organic_metrics")

DEFAULT_CONFIG: dict[str, Any] = {
    "client_id": "sandbox-client",
    "default_account": "sandbox-account",
    "access_ttl": 7200.0,
    "refresh_ttl": 180 * 86400.0,
    "expires_after_secs": 86400,
    "max_segment_bytes": 5_000_000,
    "max_segments": 1000,
    "processing_polls": 2,
    "check_after_secs": 1,
    #: when set, the next video to finish processing fails with this message
    "fail_processing": None,
    "daily_post_cap": 2400,
    #: posts the whole project may still make this month (None: no cap)
    "usage_cap": None,
    "limits": dict(LIMITS),
}


def weighted_length(text: str) -> int:
    """X's count of ``text``: URLs 23, most Latin-script characters 1, others 2."""
    urls = _URL.findall(text)
    rest = _URL.sub("", text)
    light = sum(1 if any(a <= ord(c) <= b for a, b in _LIGHT) else 2 for c in rest)
    return light + 23 * len(urls)


def user_id(account: str) -> str:
    """The stable numeric user id of ``account``."""
    return str(1_000_000_000 + int(hashlib.sha256(account.encode()).hexdigest()[:8], 16))


@dataclass
class _Media:
    id: str
    media_key: str
    account: str
    media_type: str
    category: str
    total_bytes: int
    created_at: float
    expires_at: float
    segments: dict[int, tuple[IO[bytes], int]] = field(default_factory=dict, repr=False)
    appends: int = 0
    bytes_received: int = 0
    finalized: bool = False
    state: str | None = None  # processing: pending, in_progress, succeeded, failed
    polls: int = 0
    error: str | None = None
    sha256: str | None = None
    size: int = 0

    def stored(self) -> int:
        return sum(size for _, size in self.segments.values())

    def drop_segments(self) -> None:
        for handle, _ in self.segments.values():
            handle.close()
        self.segments.clear()


@dataclass
class _Tweet:
    id: str
    account: str
    text: str
    created_at: float
    media: list[_Media]
    reply_settings: str = "everyone"


class Refusal(Exception):
    """A request the fake refuses: ``response`` is the answer."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


class TwitterFake(FakePlatform):
    """X's OAuth 2.0, media upload, posts and lookups over the sandbox clock."""

    name = "twitter"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.config: dict[str, Any] = json.loads(json.dumps(DEFAULT_CONFIG))
        self.tokens = TokenStore(
            self.clock,
            access_ttl=self.config["access_ttl"],
            refresh_ttl=self.config["refresh_ttl"],
            rotate_refresh=True,
            prefix="x",
        )
        self._init_state()

    def _init_state(self) -> None:
        self.media: dict[str, _Media] = {}
        self.tweets: list[_Tweet] = []
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._posted: dict[str, deque[float]] = {}
        self._usage = 0
        self._seq = itertools.count(1)

    # ---------------------------------------------------------- test hooks

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change behaviour for a test (keys of ``DEFAULT_CONFIG``); returns the config."""
        unknown = set(settings) - set(DEFAULT_CONFIG)
        if unknown:
            raise KeyError(f"unknown X fake settings: {', '.join(sorted(unknown))}")
        self.config.update(settings)
        self.tokens.access_ttl = float(self.config["access_ttl"])
        self.tokens.refresh_ttl = float(self.config["refresh_ttl"])
        return dict(self.config)

    def issue_token(self, account: str | None = None) -> dict[str, Any]:
        """Tokens for ``account`` with every posting scope, without the consent page."""
        grant = Grant(
            account=account or self.config["default_account"],
            client_id=self.config["client_id"],
            scopes=("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
        )
        return self._token_body(self.tokens.issue(grant))

    # ------------------------------------------------------- FakePlatform

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/i/oauth2/authorize", self._authorize)
        r.add_post("/2/oauth2/token", self._token)
        r.add_post("/2/oauth2/revoke", self._revoke)
        r.add_get("/2/users/me", self._me)
        r.add_get("/2/users/{id}/tweets", self._timeline)
        r.add_post("/2/media/upload/initialize", self._v2_initialize)
        r.add_post("/2/media/upload/{id}/append", self._v2_append)
        r.add_post("/2/media/upload/{id}/finalize", self._v2_finalize)
        r.add_get("/2/media/upload", self._v2_status)
        r.add_post("/2/media/upload", self._v2_command)
        r.add_post("/1.1/media/upload.json", self._v1_command)
        r.add_get("/1.1/media/upload.json", self._v1_status)
        r.add_post("/2/tweets", self._create_tweet)
        r.add_get("/2/tweets", self._lookup)
        # not X's: lets a test or the demo tune the fake over HTTP (reset restores defaults)
        r.add_post("/_sandbox/config", self._configure_http)

    async def _configure_http(self, request: web.Request) -> web.Response:
        try:
            config = self.configure(**(await request.json()))
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(config)

    def reset(self) -> None:
        for media in self.media.values():
            media.drop_segments()
        self.config = json.loads(json.dumps(DEFAULT_CONFIG))
        self.tokens.reset()
        self.configure()
        self._init_state()

    def snapshot(self) -> dict[str, Any]:
        posts = [
            {
                "id": t.id,
                "text": t.text,
                "title": t.text,
                "caption": t.text,
                "account": t.account,
                "author_id": user_id(t.account),
                "media_ids": [m.id for m in t.media],
                "media_keys": [m.media_key for m in t.media],
                "bytes": sum(m.size for m in t.media),
                "sha256": t.media[0].sha256 if len(t.media) == 1 else None,
                "created_at": t.created_at,
            }
            for t in self.tweets
        ]
        uploads = [
            {
                "id": m.id,
                "media_key": m.media_key,
                "account": m.account,
                "category": m.category,
                "total_bytes": m.total_bytes,
                "appends": m.appends,
                "segments": sorted(m.segments) if not m.finalized else None,
                "bytes_received": m.bytes_received,
                "finalized": m.finalized,
                "state": m.state,
                "expired": self.clock.time() >= m.expires_at,
                "sha256": m.sha256,
            }
            for m in self.media.values()
        ]
        return {
            "posts": posts,
            "uploads": uploads,
            "usage": self._usage,
            "token_stats": dict(self.tokens.stats),
        }

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind == "rate_limit":
            wait = float(params.get("retry_after", WINDOW_S))
            reset = math.ceil(self.clock.time() + wait)
            headers = {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            }
            return self._problem(429, "rate-limit-exceeded", "Too Many Requests", headers=headers)
        if kind == "quota":
            return self._usage_capped()
        if kind == "auth":
            return self._blank(401, "Unauthorized", "Unauthorized")
        if kind == "challenge":
            return self._blank(
                403,
                "Forbidden",
                "This account is temporarily locked. Please log in to https://x.com to unlock "
                "your account.",
            )
        return self._blank(
            int(params.get("status", 503)), "Service Unavailable", "Service Unavailable"
        )

    # ------------------------------------------------------------ answers

    @staticmethod
    def _problem(
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> web.Response:
        body = {
            "title": title or kind.replace("-", " ").title(),
            "detail": detail,
            "type": PROBLEMS + kind,
            "status": status,
            **extra,
        }
        return web.json_response(
            body, status=status, headers=headers, content_type="application/problem+json"
        )

    @staticmethod
    def _blank(status: int, title: str, detail: str) -> web.Response:
        body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
        return web.json_response(body, status=status, content_type="application/problem+json")

    def _invalid(self, message: str, **parameters: Any) -> Refusal:
        errors = [{"parameters": parameters, "message": message}]
        return Refusal(
            self._problem(
                400,
                "invalid-request",
                "One or more parameters to your request was invalid.",
                title="Invalid Request",
                errors=errors,
            )
        )

    def _not_found(self, what: str, value: str) -> Refusal:
        return Refusal(
            self._problem(
                404,
                "resource-not-found",
                f"Could not find {what} with id: [{value}].",
                title="Not Found Error",
                resource_type=what,
                value=value,
            )
        )

    def _usage_capped(self) -> web.Response:
        return self._problem(
            429,
            "usage-capped",
            "Usage cap exceeded: Monthly product cap",
            title="UsageCapExceeded",
            period="Monthly",
            scope="Product",
        )

    # --------------------------------------------------------- auth, limits

    def _grant(self, request: web.Request, *scopes: str) -> Grant:
        grant = self.tokens.bearer(request)
        if grant is None:
            raise Refusal(self.native_error("auth"))
        missing = [s for s in scopes if s not in grant.scopes]
        if missing:
            raise Refusal(
                self._blank(403, "Forbidden", f"Missing OAuth 2.0 scope: {', '.join(missing)}")
            )
        return grant

    def _window(self, account: str, bucket: str) -> dict[str, str]:
        """Count one call in the user's fixed 15-minute window; its headers, or a 429."""
        limit = int(self.config["limits"][bucket])
        now = self.clock.time()
        start, used = self._windows.get((account, bucket), (now, 0))
        if now >= start + WINDOW_S:
            start, used = now, 0
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-reset": str(math.ceil(start + WINDOW_S)),
        }
        if used >= limit:
            headers["x-rate-limit-remaining"] = "0"
            raise Refusal(self._blank_429(headers))
        self._windows[(account, bucket)] = (start, used + 1)
        headers["x-rate-limit-remaining"] = str(limit - used - 1)
        return headers

    @staticmethod
    def _blank_429(headers: Mapping[str, str]) -> web.Response:
        body = {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        return web.json_response(body, status=429, headers=headers)

    def _call(
        self, request: web.Request, bucket: str, *scopes: str
    ) -> tuple[Grant, dict[str, str]]:
        grant = self._grant(request, *scopes)
        return grant, self._window(grant.account, bucket)

    # --------------------------------------------------------------- OAuth

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("response_type") != "code" or not q.get("state"):
            return web.Response(status=400, text="Something went wrong: response_type and state")
        if not q.get("code_challenge") or q.get("code_challenge_method") not in ("S256", "plain"):
            return web.Response(status=400, text="Something went wrong: PKCE code_challenge")
        scopes = q.get("scope", "").split()
        if not scopes or not set(scopes) <= SCOPES:
            return web.Response(status=400, text="Something went wrong: invalid scope")
        return authorize_redirect(request, self.tokens, account=self.config["default_account"])

    def _client_of(self, request: web.Request, form: Mapping[str, Any]) -> str | None:
        """The client id from HTTP Basic (confidential) or the form (public client)."""
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                pair = base64.b64decode(header[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, _, secret = pair.partition(":")
            return unquote(client_id) if secret else None
        value = form.get("client_id")
        return str(value) if value else None

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id = self._client_of(request, form)
        if not client_id:
            return self._oauth_error(
                401, "unauthorized_client", "Missing valid authorization header"
            )
        grant_type = form.get("grant_type")
        try:
            if grant_type == "authorization_code":
                issued = self.tokens.redeem_code(
                    str(form.get("code") or ""),
                    client_id=client_id,
                    redirect_uri=str(form.get("redirect_uri") or "") or None,
                    code_verifier=str(form.get("code_verifier") or "") or None,
                )
            elif grant_type == "refresh_token":
                issued = self.tokens.refresh(
                    str(form.get("refresh_token") or ""), client_id=client_id
                )
            else:
                return self._oauth_error(
                    400, "invalid_request", "Missing required parameter [grant_type]."
                )
        except TokenError as exc:
            text = "Value passed for the token was invalid."
            return self._oauth_error(
                400, "invalid_request" if exc.reason == "invalid_grant" else exc.reason, text
            )
        return web.json_response(self._token_body(issued))

    def _token_body(self, issued: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "access_token": issued.access_token,
            "scope": " ".join(issued.grant.scopes),
        }
        if "offline.access" in issued.grant.scopes:
            body["refresh_token"] = issued.refresh_token
        else:  # no offline.access, no refresh token
            self.tokens.revoke(issued.refresh_token)
        return body

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.tokens.revoke(str(form.get("token") or ""))
        return web.json_response({"revoked": True})

    # ---------------------------------------------------------------- users

    async def _me(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "users.me", "users.read", "tweet.read")
        except Refusal as refused:
            return refused.response
        data = {"id": user_id(grant.account), "name": grant.account, "username": grant.account}
        return web.json_response({"data": data}, headers=headers)

    # --------------------------------------------------------- media upload

    def _media_of(self, grant: Grant, media_id: str) -> _Media:
        media = self.media.get(media_id)
        if media is None or media.account != grant.account or self.clock.time() >= media.expires_at:
            raise self._not_found("media", media_id)
        return media

    def _initialize(self, grant: Grant, body: Mapping[str, Any]) -> _Media:
        media_type = body.get("media_type")
        category = str(body.get("media_category") or "tweet_video")
        try:
            total = int(body.get("total_bytes") or 0)
        except (TypeError, ValueError):
            total = 0
        if media_type not in MEDIA_TYPES:
            raise self._invalid(
                f"media_type {media_type!r} is not supported", media_type=[media_type]
            )
        if category not in CATEGORIES:
            raise self._invalid(
                f"media_category {category!r} is not valid", media_category=[category]
            )
        most, prefix, _ = CATEGORIES[category]
        if not 0 < total <= most:
            raise self._invalid(
                f"total_bytes must be between 1 and {most} for {category}", total_bytes=[total]
            )
        now = self.clock.time()
        media_id = str(1_880_000_000_000_000_000 + next(self._seq))
        media = _Media(
            id=media_id,
            media_key=f"{prefix}_{media_id}",
            account=grant.account,
            media_type=str(media_type),
            category=category,
            total_bytes=total,
            created_at=now,
            expires_at=now + float(self.config["expires_after_secs"]),
        )
        self.media[media_id] = media
        return media

    async def _read_append(
        self, request: web.Request, media: _Media | None
    ) -> tuple[dict[str, str], IO[bytes] | None, int]:
        """The form fields and the segment's bytes (in a temporary file) of an APPEND."""
        fields: dict[str, str] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            handle: IO[bytes] | None = None
            size = 0
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name in ("media", "media_data"):
                    handle, size = await self._spool(
                        media, part, base64_data=part.name == "media_data"
                    )
                elif part.name:
                    fields[part.name] = (await part.read()).decode()
            return fields, handle, size
        if request.content_type == "application/json":
            data = await request.json()
            fields = (
                {k: str(v) for k, v in data.items() if k != "media"}
                if isinstance(data, dict)
                else {}
            )
            encoded = data.get("media") if isinstance(data, dict) else None
        else:
            form = await request.post()
            fields = {k: str(v) for k, v in form.items() if k not in ("media", "media_data")}
            encoded = form.get("media_data")
        if not isinstance(encoded, str):
            return fields, None, 0
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise self._invalid("media is not valid base64", media=["<base64>"]) from None
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - kept as the segment until finalize
        handle.write(raw)
        if media is not None:
            media.bytes_received += len(raw)
        return fields, handle, len(raw)

    async def _spool(
        self, media: _Media | None, part: BodyPartReader, *, base64_data: bool
    ) -> tuple[IO[bytes], int]:
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - kept as the segment until finalize
        size = 0
        encoded = bytearray()
        while piece := await part.read_chunk(256 * 1024):
            if media is not None:  # every byte that arrived, re-sent ones too
                media.bytes_received += len(piece)
            if base64_data:
                encoded += piece
                continue
            handle.write(piece)
            size += len(piece)
        if base64_data:
            raw = base64.b64decode(bytes(encoded))
            handle.write(raw)
            size = len(raw)
        return handle, size

    async def _append(self, request: web.Request, grant: Grant, media_id: str | None) -> _Media:
        media = self._media_of(grant, media_id) if media_id is not None else None
        fields, handle, size = await self._read_append(request, media)
        if media is None:  # the single endpoints name the media in the form
            media = self._media_of(grant, fields.get("media_id", ""))
            media.bytes_received += size
        try:
            index = int(fields.get("segment_index", ""))
        except ValueError:
            index = -1
        problem = None
        if handle is None:
            problem = "media is required"
        elif not 0 <= index < int(self.config["max_segments"]):
            problem = f"segment_index must be between 0 and {int(self.config['max_segments']) - 1}"
        elif size > int(self.config["max_segment_bytes"]):
            problem = f"a segment is at most {self.config['max_segment_bytes']} bytes"
        elif media.finalized:
            problem = "the media is already finalized"
        else:
            previous = media.segments.get(index)
            if media.stored() - (previous[1] if previous else 0) + size > media.total_bytes:
                problem = "the segments exceed total_bytes"
        if problem is not None:
            if handle is not None:
                handle.close()
            raise self._invalid(problem, segment_index=[index])
        assert handle is not None
        previous = media.segments.pop(index, None)
        if previous is not None:
            previous[0].close()
        media.segments[index] = (handle, size)
        media.appends += 1
        return media

    def _finalize(self, media: _Media) -> None:
        if media.finalized:
            return
        indices = sorted(media.segments)
        if indices != list(range(len(indices))) or media.stored() != media.total_bytes:
            raise self._invalid(
                "Segments do not add up to provided total file size.", media_id=[media.id]
            )
        digest = hashlib.sha256()
        for index in indices:
            handle = media.segments[index][0]
            handle.seek(0)
            while piece := handle.read(1024 * 1024):
                digest.update(piece)
        media.drop_segments()
        media.sha256, media.size, media.finalized = digest.hexdigest(), media.total_bytes, True
        asynchronous = CATEGORIES[media.category][2]
        media.state = (
            "pending" if asynchronous and int(self.config["processing_polls"]) > 0 else "succeeded"
        )

    def _poll(self, media: _Media) -> None:
        if media.state not in ("pending", "in_progress"):
            return
        media.polls += 1
        if media.polls < int(self.config["processing_polls"]):
            media.state = "in_progress"
            return
        failure = self.config["fail_processing"]
        if failure:
            self.config["fail_processing"] = None
            media.state, media.error = "failed", str(failure)
            return
        media.state = "succeeded"

    def _processing_info(self, media: _Media) -> dict[str, Any] | None:
        if media.state is None or (media.state == "succeeded" and media.polls == 0):
            return None  # ready at once: X leaves processing_info out
        info: dict[str, Any] = {"state": media.state}
        if media.state in ("pending", "in_progress"):
            info["check_after_secs"] = int(self.config["check_after_secs"])
            polls = max(1, int(self.config["processing_polls"]))
            info["progress_percent"] = min(99, int(100 * media.polls / polls))
        elif media.state == "succeeded":
            info["progress_percent"] = 100
        else:
            info["error"] = {"code": 1, "name": "InvalidMedia", "message": media.error}
        return info

    def _media_body(self, media: _Media, *, legacy: bool = False) -> dict[str, Any]:
        left = max(0, int(media.expires_at - self.clock.time()))
        body: dict[str, Any] = (
            {"media_id": int(media.id), "media_id_string": media.id} if legacy else {"id": media.id}
        )
        body.update(media_key=media.media_key, expires_after_secs=left)
        if media.finalized:
            body["size"] = media.size
        info = self._processing_info(media)
        if info is not None:
            body["processing_info"] = info
        return body

    async def _v2_initialize(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "media.initialize", "media.write")
            try:
                body = await request.json()
            except ValueError:
                raise self._invalid("the body must be JSON") from None
            if not isinstance(body, dict):
                raise self._invalid("the body must be a JSON object")
            media = self._initialize(grant, body)
        except Refusal as refused:
            return refused.response
        return web.json_response({"data": self._media_body(media)}, headers=headers)

    async def _v2_append(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "media.append", "media.write")
            media = await self._append(request, grant, request.match_info["id"])
        except Refusal as refused:
            return refused.response
        return web.json_response({"data": {"expires_at": int(media.expires_at)}}, headers=headers)

    async def _v2_finalize(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "media.finalize", "media.write")
            media = self._media_of(grant, request.match_info["id"])
            self._finalize(media)
        except Refusal as refused:
            return refused.response
        return web.json_response({"data": self._media_body(media)}, headers=headers)

    async def _v2_status(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "media.status", "media.write")
            if request.query.get("command", "STATUS") != "STATUS":
                raise self._invalid(
                    "command must be STATUS", command=[request.query.get("command")]
                )
            media = self._media_of(grant, request.query.get("media_id", ""))
            self._poll(media)
        except Refusal as refused:
            return refused.response
        return web.json_response({"data": self._media_body(media)}, headers=headers)

    async def _command(self, request: web.Request, *, legacy: bool) -> web.Response:
        """The single-endpoint forms: ``command`` = INIT, APPEND or FINALIZE."""
        if request.content_type.startswith("multipart/"):  # APPEND: fields and bytes together
            grant, headers = self._call(request, "media.append", "media.write")
            await self._append(request, grant, None)
            return web.Response(status=204, headers=headers)
        form = dict(await request.post())
        command = str(form.get("command") or "")
        if command == "INIT":
            grant, headers = self._call(request, "media.initialize", "media.write")
            media = self._initialize(grant, form)
        elif command == "FINALIZE":
            grant, headers = self._call(request, "media.finalize", "media.write")
            media = self._media_of(grant, str(form.get("media_id") or ""))
            self._finalize(media)
        elif command == "APPEND":
            raise self._invalid("APPEND must be multipart/form-data", command=[command])
        else:
            raise self._invalid(
                "command must be INIT, APPEND, FINALIZE or STATUS", command=[command]
            )
        body = self._media_body(media, legacy=legacy)
        return web.json_response(body if legacy else {"data": body}, headers=headers)

    async def _v2_command(self, request: web.Request) -> web.Response:
        try:
            return await self._command(request, legacy=False)
        except Refusal as refused:
            return refused.response

    async def _v1_command(self, request: web.Request) -> web.Response:
        try:
            return await self._command(request, legacy=True)
        except Refusal as refused:
            return self._v1_error(refused.response)

    async def _v1_status(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "media.status", "media.write")
            media = self._media_of(grant, request.query.get("media_id", ""))
            self._poll(media)
        except Refusal as refused:
            return self._v1_error(refused.response)
        return web.json_response(self._media_body(media, legacy=True), headers=headers)

    @staticmethod
    def _v1_error(response: web.Response) -> web.Response:
        """v1.1 speaks ``{"errors": [{"code", "message"}]}``; the headers stay."""
        problem = json.loads(response.text or "{}")
        code = {401: 32, 403: 200, 404: 324, 429: 88}.get(response.status, 324)
        detail = problem.get("detail") or problem.get("title") or "error"
        messages = [e.get("message") for e in problem.get("errors") or () if e.get("message")]
        body = {"errors": [{"code": code, "message": messages[0] if messages else detail}]}
        return web.json_response(body, status=response.status, headers=dict(response.headers))

    # ---------------------------------------------------------------- posts

    def _check_post(self, grant: Grant, body: Any) -> tuple[str, list[_Media]]:
        if not isinstance(body, dict):
            raise self._invalid("the body must be a JSON object")
        text = body.get("text", "")
        ids = (
            (body.get("media") or {}).get("media_ids")
            if isinstance(body.get("media"), dict)
            else None
        )
        if not isinstance(text, str) or (not text and not ids):
            raise self._invalid("text or media is required", text=[text])
        if weighted_length(text) > 280:
            raise Refusal(self._blank(400, "Invalid Request", "Your Tweet text is too long."))
        media: list[_Media] = []
        if ids is not None:
            if (
                not isinstance(ids, list)
                or not 1 <= len(ids) <= 4
                or not all(isinstance(i, str) for i in ids)
            ):
                raise self._invalid(
                    "media.media_ids must list 1 to 4 media id strings", media_ids=ids
                )
            for media_id in ids:
                found = self.media.get(media_id)
                if found is None or found.account != grant.account or found.state != "succeeded":
                    raise self._invalid("Your media IDs are invalid.", media_ids=ids)
                media.append(found)
        since = self.clock.time() - 86400
        if text and any(
            t.account == grant.account and t.text == text and t.created_at > since
            for t in self.tweets
        ):
            raise Refusal(
                self._blank(
                    403,
                    "Forbidden",
                    "You are not allowed to create a Tweet with duplicate content.",
                )
            )
        return text, media

    async def _create_tweet(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(
                request, "tweets.create", "tweet.write", "tweet.read", "users.read"
            )
            cap = self.config["usage_cap"]
            if cap is not None and self._usage >= int(cap):
                return self._usage_capped()
            posted = self._posted.setdefault(grant.account, deque())
            now = self.clock.time()
            while posted and posted[0] <= now - 86400:
                posted.popleft()
            if len(posted) >= int(self.config["daily_post_cap"]):
                raise Refusal(
                    self._blank(
                        403, "Forbidden", "You are over the daily limit for sending Tweets."
                    )
                )
            try:
                body = await request.json()
            except ValueError:
                raise self._invalid("the body must be JSON") from None
            text, media = self._check_post(grant, body)
        except Refusal as refused:
            return refused.response
        tweet = _Tweet(
            id=str(1_900_000_000_000_000_000 + next(self._seq)),
            account=grant.account,
            text=text,
            created_at=max([now, *(t.created_at + 0.001 for t in self.tweets)]),
            media=media,
            reply_settings=str(body.get("reply_settings") or "everyone"),
        )
        self.tweets.append(tweet)
        posted.append(now)
        self._usage += 1
        data = {"id": tweet.id, "text": text, "edit_history_tweet_ids": [tweet.id]}
        return web.json_response({"data": data}, status=201, headers=headers)

    # -------------------------------------------------------------- lookups

    def _metrics(self, tweet: _Tweet) -> tuple[dict[str, int], dict[str, int]]:
        minutes = int(max(0.0, self.clock.time() - tweet.created_at) // 60)
        seed = int(tweet.id[-3:])
        impressions = minutes * (20 + seed % 9) + 1
        likes = impressions // 12
        reposts = impressions // 60
        public = {
            "retweet_count": reposts,
            "repost_count": reposts,  # the 2026 spelling: both are served
            "reply_count": impressions // 80,
            "like_count": likes,
            "quote_count": impressions // 200,
            "bookmark_count": impressions // 150,
            "impression_count": impressions,
        }
        private = {
            "impression_count": impressions,
            "url_link_clicks": impressions // 90,
            "user_profile_clicks": impressions // 70,
        }
        return public, private

    def _render(self, tweet: _Tweet, fields: set[str], own: bool) -> dict[str, Any]:
        public, private = self._metrics(tweet)
        full: dict[str, Any] = {
            "id": tweet.id,
            "text": tweet.text,
            "edit_history_tweet_ids": [tweet.id],
            "author_id": user_id(tweet.account),
            "created_at": _iso(tweet.created_at),
            "lang": "en",
            "reply_settings": tweet.reply_settings,
            "conversation_id": tweet.id,
            "source": "pellacia-dist sandbox",
            "possibly_sensitive": False,
            "public_metrics": public,
        }
        if tweet.media:
            full["attachments"] = {"media_keys": [m.media_key for m in tweet.media]}
        if own:
            full["non_public_metrics"] = private
            full["organic_metrics"] = {
                **private,
                **{k: public[k] for k in ("like_count", "reply_count", "retweet_count")},
            }
        wanted = {"id", "text", "edit_history_tweet_ids"} | fields
        return {k: v for k, v in full.items() if k in wanted}

    def _render_media(self, media: _Media, fields: set[str], own: bool) -> dict[str, Any]:
        views = sum(
            self._metrics(t)[0]["impression_count"] // 3 for t in self.tweets if media in t.media
        )
        full: dict[str, Any] = {
            "media_key": media.media_key,
            "type": "video" if media.media_type.startswith("video/") else "photo",
            "duration_ms": 12_000,
            "public_metrics": {"view_count": views},
        }
        if own:
            full["non_public_metrics"] = {
                f"playback_{p}_count": views * (100 - p) // 100 for p in (0, 25, 50, 75, 100)
            }
        return {k: v for k, v in full.items() if k in fields | {"media_key", "type"}}

    def _fields(self, request: web.Request) -> tuple[set[str], bool, set[str]]:
        q = request.query
        fields = {f for f in (q.get("tweet.fields") or q.get("post.fields") or "").split(",") if f}
        if not fields <= TWEET_FIELDS:
            raise self._invalid(
                "tweet.fields names an unknown field",
                **{"tweet.fields": sorted(fields - TWEET_FIELDS)},
            )
        expansions = {e for e in q.get("expansions", "").split(",") if e}
        media_fields = {f for f in q.get("media.fields", "").split(",") if f}
        return fields, "attachments.media_keys" in expansions, media_fields

    def _page_body(
        self, grant: Grant, tweets: list[_Tweet], request: web.Request
    ) -> dict[str, Any]:
        fields, expand, media_fields = self._fields(request)
        body: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        data = []
        for tweet in tweets:
            own = tweet.account == grant.account
            if not own and fields & set(PRIVATE_FIELDS):
                for private in sorted(fields & set(PRIVATE_FIELDS)):
                    errors.append({
                        "value": tweet.id, "detail": f"Sorry, you are not authorized to access '{private}' on the Tweet with ids: {tweet.id}.",
                        "field": private, "resource_type": "tweet", "resource_id": tweet.id,
                        "title": "Field Authorization Error", "section": "data",
                        "type": PROBLEMS + "not-authorized-for-field",
                    })  # fmt: skip
            data.append(self._render(tweet, fields, own))
        if data:
            body["data"] = data
        if expand:
            media = [
                self._render_media(m, media_fields, t.account == grant.account)
                for t in tweets
                for m in t.media
            ]
            if media:
                body["includes"] = {"media": media}
        if errors:
            body["errors"] = errors
        return body

    async def _lookup(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "tweets.lookup", "tweet.read", "users.read")
            ids = [i for i in request.query.get("ids", "").split(",") if i]
            if not 1 <= len(ids) <= 100 or not all(i.isdigit() for i in ids):
                raise self._invalid("ids must list 1 to 100 numeric ids", ids=ids)
            by_id = {t.id: t for t in self.tweets}
            body = self._page_body(grant, [by_id[i] for i in ids if i in by_id], request)
        except Refusal as refused:
            return refused.response
        missing = [i for i in ids if i not in by_id]
        body.setdefault("errors", []).extend(_missing(i) for i in missing)
        if not body["errors"]:
            del body["errors"]
        return web.json_response(body, headers=headers)

    async def _timeline(self, request: web.Request) -> web.Response:
        try:
            grant, headers = self._call(request, "users.tweets", "tweet.read", "users.read")
            owner = next(
                (t.account for t in self.tweets if user_id(t.account) == request.match_info["id"]),
                None,
            )
            if owner is None and request.match_info["id"] != user_id(grant.account):
                raise self._not_found("user", request.match_info["id"])
            q = request.query
            size = int(q.get("max_results", "10")) if q.get("max_results", "10").isdigit() else 0
            if not 5 <= size <= 100:
                raise self._invalid(
                    "max_results must be between 5 and 100", max_results=[q.get("max_results")]
                )
            since = _parse_iso(q.get("start_time"))
            mine = sorted(
                (
                    t
                    for t in self.tweets
                    if user_id(t.account) == request.match_info["id"] and t.created_at >= since
                ),
                key=lambda t: -t.created_at,
            )
            token = q.get("pagination_token")
            if token:
                mine = [t for t in mine if int(t.id) < int(token)] if token.isdigit() else []
            page = mine[:size]
            body = self._page_body(grant, page, request)
        except Refusal as refused:
            return refused.response
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
        if len(mine) > len(page):
            meta["next_token"] = page[-1].id
        body["meta"] = meta
        return web.json_response(body, headers=headers)


def _missing(post_id: str) -> dict[str, Any]:
    """The ``errors[]`` entry of a post id that does not exist."""
    return {
        "value": post_id,
        "detail": f"Could not find tweet with ids: [{post_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": post_id,
        "type": PROBLEMS + "resource-not-found",
    }


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_iso(value: str | None) -> float:
    from datetime import datetime

    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0

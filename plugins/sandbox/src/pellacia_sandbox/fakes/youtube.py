"""A faithful local fake of the YouTube Data API v3 (protocols.md §1).

One fake serves every Google host the client talks to (accounts.google.com,
oauth2.googleapis.com, www.googleapis.com, youtubeanalytics.googleapis.com)
under the same ``/youtube`` prefix; their paths do not collide.

Modelled:
- OAuth 2.0 authorization code flow with PKCE (auto-approving consent page),
  ``access_type=offline`` refresh tokens (not rotated), ``invalid_grant``;
- the resumable upload protocol: session start, 256 KiB-aligned chunks, 308 +
  ``Range``, the ``bytes */TOTAL`` (or ``bytes */*``) status query, session expiry (404), an
  optional ``Location`` on 308 (a trap for clients that follow it), and
  optional partial acceptance of a chunk (clients must trust ``Range``);
- processing that needs N status polls; ``videos.list`` statistics;
  ``channels.list`` + ``playlistItems.list`` for the channel's uploads;
- daily quota in units (reset at midnight America/Los_Angeles on the host
  clock) with a configurable ``videos.insert`` cost or the newer separate
  100-calls bucket, ``quotaExceeded`` and ``uploadLimitExceeded``.

Upload bytes are streamed: only their count and SHA-256 are kept.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from pellacia_sandbox.fakes.base import FakePlatform, Grant, IssuedTokens, TokenError, TokenStore
from pellacia_sandbox.fakes.ranges import parse_content_range, stored_range

PACIFIC = ZoneInfo("America/Los_Angeles")
CHUNK_ALIGN = 256 * 1024
UPLOADS_PLAYLIST = "UUsandbox0000000000000001"
CHANNEL_ID = "UCsandbox0000000000000001"
SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
    "https://www.googleapis.com/auth/yt-analytics.readonly",
)


@dataclass
class YouTubeFakeConfig:
    """Knobs tests turn; ``reset()`` restores these defaults."""

    daily_units: int = 10_000
    #: "units": videos.insert costs ``insert_cost`` units (the videos.insert
    #: reference page); "bucket": its own bucket of ``insert_bucket`` calls/day
    #: at 1 each, outside the units (the newer quota page).
    insert_quota_model: Literal["units", "bucket"] = "units"
    insert_cost: int = 1600
    insert_bucket: int = 100
    #: channel's daily upload cap (400 uploadLimitExceeded), None = no cap
    daily_upload_limit: int | None = None
    #: status polls a video stays "uploaded" before it turns "processed"
    processing_polls: int = 2
    #: outcome of processing: "processed", "failed" or "rejected"
    processing_outcome: str = "processed"
    #: store only part of each non-final chunk (clients must trust Range)
    partial_accept: bool = False
    #: add a ``Location`` header to 308 answers (clients must not follow it)
    location_on_308: bool = False
    session_ttl: float = 7 * 24 * 3600.0
    #: hash stored bytes (sha256 in snapshots); benchmarks turn it off so the
    #: server's CPU does not cap the client's throughput
    hash_bytes: bool = True


@dataclass
class _Upload:
    session_id: str
    total: int
    content_type: str
    resource: dict[str, Any]
    created_at: datetime
    account: str = "sandbox-account"
    stored: int = 0  # bytes kept, contiguous from 0
    bytes_received: int = 0  # every body byte that arrived, kept or not
    chunks: int = 0
    video_id: str | None = None
    expired: bool = False
    hasher: Any = field(default_factory=hashlib.sha256, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "account": self.account,
            "total": self.total,
            "stored": self.stored,
            "bytes_received": self.bytes_received,
            "chunks": self.chunks,
            "video_id": self.video_id,
            "complete": self.video_id is not None,
            "sha256": self.hasher.hexdigest() if self.video_id else None,
            "title": self.resource.get("snippet", {}).get("title"),
        }


class YouTubeFake(FakePlatform):
    """The YouTube (and Google OAuth) fake served under ``/youtube``."""

    name = "youtube"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        from pellacia_sandbox.fakes.pages.youtube import YouTubeStudio

        #: YouTube Studio's upload dialog (the browser layer's target)
        self.web = YouTubeStudio(self)
        self.reset()

    # ------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        self.config = YouTubeFakeConfig()
        # Google: ~1 h access tokens, refresh tokens not rotated. A "Testing"
        # consent screen makes refresh tokens die after 7 days: set
        # ``self.tokens.refresh_ttl`` to model it.
        self.tokens = TokenStore(
            self.clock, access_ttl=3599, refresh_ttl=10 * 365 * 86400.0, prefix="ya29"
        )
        self.offline_codes: set[str] = set()
        self.uploads: dict[str, _Upload] = {}
        self.videos: dict[str, dict[str, Any]] = {}  # id -> resource (newest last)
        self.polls: dict[str, int] = {}
        self.units_used: dict[str, int] = {}  # Pacific date -> units
        self.insert_calls: dict[str, int] = {}  # Pacific date -> videos.insert calls
        self.uploads_today: dict[str, int] = {}
        self.calls: dict[str, int] = {}  # endpoint -> count
        self.redirect_trap_hits = 0
        self.sink_bytes = 0
        self.web.reset()

    def configure(self, **changes: Any) -> None:
        """Change config knobs (unknown names raise)."""
        for key, value in changes.items():
            if not hasattr(self.config, key):
                raise KeyError(f"unknown YouTube fake setting: {key}")
            setattr(self.config, key, value)

    def snapshot(self) -> dict[str, Any]:
        return {
            "posts": [self._public_video(v) for v in self.videos.values()],
            "uploads": [u.public() for u in self.uploads.values()],
            "calls": dict(self.calls),
            "tokens": dict(self.tokens.stats),
            "quota": {
                "day": self._day(),
                "units_used": self.units_used.get(self._day(), 0),
                "insert_calls": self.insert_calls.get(self._day(), 0),
            },
            "redirect_trap_hits": self.redirect_trap_hits,
            "sink_bytes": self.sink_bytes,
            "config": asdict(self.config),
        }

    def revoke_refresh_tokens(self) -> None:
        """Every token dies (as refresh tokens do after 7 days on a "Testing" screen)."""
        self.tokens.reset()

    def expire_sessions(self) -> None:
        """Every open resumable upload session now answers 404."""
        for upload in self.uploads.values():
            if upload.video_id is None:
                upload.expired = True

    def issue_token(self, account: str = "sandbox-account") -> dict[str, Any]:
        """Mint a token pair directly (for tests that skip the consent flow)."""
        issued = self.tokens.issue(
            Grant(account=account, client_id="sandbox-client", scopes=SCOPES)
        )
        return self._token_body(issued, offline=True)

    def set_statistics(self, video_id: str, **counts: int) -> None:
        """Set a video's counters, e.g. ``viewCount=120`` (served as strings)."""
        self.videos[video_id]["statistics"].update({k: str(v) for k, v in counts.items()})

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind == "rate_limit":
            return google_error(
                403, "rateLimitExceeded", "User rate limit exceeded.", "usageLimits"
            )
        if kind == "quota":
            return quota_exceeded()
        if kind == "auth":
            return google_error(
                401,
                "authError",
                "Request had invalid authentication credentials.",
                "global",
                status="UNAUTHENTICATED",
            )
        if kind == "challenge":
            return google_error(403, "forbidden", "The request is not allowed.", "youtube.common")
        code = int(params.get("status", 503))
        return google_error(code, "backendError", "Backend Error", "global")

    # --------------------------------------------------------------- routes

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/o/oauth2/v2/auth", self.authorize)
        r.add_post("/token", self.token)
        r.add_post("/upload/youtube/v3/videos", self.start_upload)
        r.add_put("/upload/youtube/v3/videos/session/{sid}", self.put_chunk)
        r.add_get("/youtube/v3/videos", self.videos_list)
        r.add_get("/youtube/v3/channels", self.channels_list)
        r.add_get("/youtube/v3/playlistItems", self.playlist_items)
        r.add_route("*", "/_trap/redirect", self.redirect_trap)
        r.add_put("/_bench/sink", self.sink)
        self.web.setup(app)  # YouTube Studio's web upload dialog (pages/youtube.py)

    # ----------------------------------------------------------------- auth

    async def authorize(self, request: web.Request) -> web.Response:
        self._count("oauth.authorize")
        q = request.query
        missing = [k for k in ("client_id", "redirect_uri", "scope") if not q.get(k)]
        if missing or q.get("response_type") != "code":
            return web.Response(status=400, text=f"Error 400: invalid_request {missing}")
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="Error 400: invalid_request (PKCE S256 needed)")
        code = self.tokens.issue_code(
            client_id=q["client_id"],
            redirect_uri=q["redirect_uri"],
            scopes=q["scope"].split(),
            code_challenge=q["code_challenge"],
            code_challenge_method="S256",
            account=q.get("login_hint") or "sandbox-account",
        )
        # Google hands out a refresh token only for offline access.
        if q.get("access_type") == "offline":
            self.offline_codes.add(code)
        params = {"code": code, "scope": q["scope"]}
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if "?" in q["redirect_uri"] else "?"
        return web.Response(
            status=302, headers={"Location": f"{q['redirect_uri']}{sep}{urlencode(params)}"}
        )

    async def token(self, request: web.Request) -> web.Response:
        self._count("oauth.token")
        form = await request.post()
        grant = form.get("grant_type")
        client_id = str(form.get("client_id") or "")
        if not client_id or not form.get("client_secret"):
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        try:
            if grant == "authorization_code":
                code = str(form.get("code") or "")
                offline = code in self.offline_codes
                self.offline_codes.discard(code)
                issued = self.tokens.redeem_code(
                    code,
                    client_id=client_id,
                    redirect_uri=str(form.get("redirect_uri") or ""),
                    code_verifier=str(form.get("code_verifier") or "") or None,
                )
                if not offline:
                    self.tokens.revoke(issued.refresh_token)
                return web.json_response(self._token_body(issued, offline=offline))
            if grant == "refresh_token":
                issued = self.tokens.refresh(
                    str(form.get("refresh_token") or ""), client_id=client_id
                )
                return web.json_response(self._token_body(issued, offline=False))
        except TokenError as exc:
            if exc.reason == "invalid_grant":
                return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            return oauth_error(401, exc.reason, exc.description)
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")

    @staticmethod
    def _token_body(issued: IssuedTokens, *, offline: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": issued.access_token,
            "expires_in": issued.expires_in,
            "scope": " ".join(issued.grant.scopes),
            "token_type": "Bearer",
        }
        if offline:  # a refresh grant does not repeat the (unrotated) refresh token
            body["refresh_token"] = issued.refresh_token
        return body

    def _grant(self, request: web.Request) -> Grant | None:
        return self.tokens.bearer(request)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        if self._grant(request) is None:
            return self.native_error("auth")
        return None

    # -------------------------------------------------------------- upload

    async def start_upload(self, request: web.Request) -> web.Response:
        self._count("videos.insert")
        grant = self._grant(request)
        if grant is None:
            return self.native_error("auth")
        if request.query.get("uploadType") != "resumable":
            return google_error(400, "invalidParameter", "uploadType must be resumable here.")
        parts = set(request.query.get("part", "").split(","))
        if "snippet" not in parts:
            return google_error(400, "missingRequiredParameter", "No filter selected.")
        try:
            total = int(request.headers["X-Upload-Content-Length"])
        except (KeyError, ValueError):
            return google_error(400, "badContent", "X-Upload-Content-Length is required.")
        ctype = request.headers.get("X-Upload-Content-Type", "")
        if not (ctype.startswith("video/") or ctype == "application/octet-stream"):
            return google_error(400, "invalidContentType", "Media type is not supported.")
        try:
            resource = json.loads(await request.read() or b"{}")
        except ValueError:
            return google_error(400, "parseError", "Parse Error")
        if not isinstance(resource, dict) or not all(
            isinstance(resource.get(part) or {}, dict) for part in ("snippet", "status")
        ):
            return google_error(400, "parseError", "Parse Error")
        snippet = resource.get("snippet") or {}
        title = snippet.get("title") or ""
        if not isinstance(title, str) or not isinstance(snippet.get("description") or "", str):
            return google_error(400, "parseError", "Parse Error")
        if not title:
            return google_error(400, "invalidTitle", "The video title is missing.")
        if len(title) > 100 or "<" in title or ">" in title:
            return google_error(
                400, "invalidTitle", "The request metadata specifies an invalid title."
            )
        if len(snippet.get("description") or "") > 5000:
            return google_error(
                400, "invalidDescription", "The request metadata specifies an invalid description."
            )
        status = resource.get("status") or {}
        if status.get("publishAt") and status.get("privacyStatus") != "private":
            return google_error(
                400, "invalidPublishAt", "publishAt requires privacyStatus private."
            )
        day = self._day()
        if self.config.insert_quota_model == "bucket":
            if self.insert_calls.get(day, 0) + 1 > self.config.insert_bucket:
                return quota_exceeded()
            self.insert_calls[day] = self.insert_calls.get(day, 0) + 1
        elif not self._charge(self.config.insert_cost):
            return quota_exceeded()
        limit = self.config.daily_upload_limit
        if limit is not None and self.uploads_today.get(day, 0) >= limit:
            return google_error(
                400,
                "uploadLimitExceeded",
                "The user has exceeded the number of videos they may upload.",
                "youtube.video",
            )
        self.uploads_today[day] = self.uploads_today.get(day, 0) + 1
        sid = secrets.token_urlsafe(18)
        self.uploads[sid] = _Upload(
            session_id=sid,
            total=total,
            content_type=ctype,
            resource=resource,
            created_at=self._now(),
            account=grant.account,
        )
        location = self.url(f"/upload/youtube/v3/videos/session/{sid}") + (
            "?uploadType=resumable&upload_id=" + sid
        )
        return web.Response(status=200, headers={"Location": location})

    async def put_chunk(self, request: web.Request) -> web.StreamResponse:
        self._count("upload.put")
        upload = self.uploads.get(request.match_info["sid"])
        if (
            upload is None
            or upload.expired
            or self._now() - upload.created_at > timedelta(seconds=self.config.session_ttl)
        ):
            if upload is not None and upload.video_id is None:
                upload.expired = True
            return google_error(404, "notFound", "The upload session was not found or expired.")
        if (denied := self._auth_error(request)) is not None:
            return denied
        crange = request.headers.get("Content-Range", "")
        if crange == "" and upload.stored == 0:
            crange = f"bytes 0-{upload.total - 1}/{upload.total}"  # single-shot PUT
        parsed = parse_content_range(crange)
        if parsed is None:
            return google_error(400, "badRequest", "Invalid Content-Range header.")
        if parsed.query and parsed.total in (None, upload.total):
            # status query: "bytes */TOTAL" (the guide) or "bytes */*" (a client that
            # does not know the size); both are valid readings
            await request.read()
            return self._progress_response(upload)
        if parsed.total != upload.total:
            return google_error(400, "badRequest", "Content-Range total does not match.")
        if upload.video_id is not None:
            await self._drain(request, upload)
            return self._progress_response(upload)
        assert parsed.first is not None and parsed.last is not None
        first, last = parsed.first, parsed.last
        rng = f"{first}-{last}"
        length = last - first + 1
        final = last == upload.total - 1
        if first > upload.stored or last >= upload.total or length <= 0:
            await self._drain(request, upload)
            return google_error(
                400, "badRequest", f"Content-Range {rng} does not follow the stored bytes."
            )
        if not final and length % CHUNK_ALIGN:
            await self._drain(request, upload)
            return google_error(
                400, "badRequest", "Chunk size must be a multiple of 256 KiB except the last."
            )
        # Bytes [first, keep_to) are kept; a partial acceptance keeps less.
        keep_to = last + 1
        if self.config.partial_accept and not final and length > CHUNK_ALIGN:
            half = max(CHUNK_ALIGN, (length // 2) // CHUNK_ALIGN * CHUNK_ALIGN)
            keep_to = first + half
        upload.chunks += 1
        pos = first
        complete_body = True
        try:
            async for data in request.content.iter_any():
                upload.bytes_received += len(data)
                end = pos + len(data)
                lo = max(pos, upload.stored)
                hi = min(end, keep_to)
                if hi > lo:
                    if self.config.hash_bytes:
                        upload.hasher.update(memoryview(data)[lo - pos : hi - pos])
                    upload.stored = hi
                pos = end
        except Exception:  # connection dropped mid-body: keep what arrived, aligned
            complete_body = False
        if pos != last + 1:
            complete_body = False
        if not complete_body:
            # The connection broke mid-chunk: like the real service we keep the
            # bytes that arrived; the client learns the offset from a status query.
            return google_error(400, "badRequest", "Incomplete request body.")
        if upload.stored == upload.total:
            return self._finish(upload)
        return self._progress_response(upload)

    async def _drain(self, request: web.Request, upload: _Upload) -> None:
        async for data in request.content.iter_any():
            upload.bytes_received += len(data)

    def _progress_response(self, upload: _Upload) -> web.Response:
        if upload.video_id is not None:
            return web.json_response(self.videos[upload.video_id], status=200)
        headers = {}
        if (stored := stored_range(upload.stored)) is not None:
            headers["Range"] = stored
        if self.config.location_on_308:
            headers["Location"] = self.url("/_trap/redirect")
        return web.Response(status=308, headers=headers)

    def _finish(self, upload: _Upload) -> web.Response:
        video_id = secrets.token_urlsafe(8).replace("-", "x").replace("_", "y")[:11]
        res = upload.resource
        snippet = dict(res.get("snippet") or {})
        snippet.setdefault("description", "")
        snippet["publishedAt"] = _rfc3339(self._now())
        snippet["channelId"] = CHANNEL_ID
        status = {
            "privacyStatus": "private",
            **(res.get("status") or {}),
            "uploadStatus": "uploaded",
        }
        video = {
            "kind": "youtube#video",
            "etag": secrets.token_hex(8),
            "id": video_id,
            "snippet": snippet,
            "status": status,
            "processingDetails": {"processingStatus": "processing"},
            "statistics": {
                "viewCount": "0",
                "likeCount": "0",
                "favoriteCount": "0",
                "commentCount": "0",
            },
            "_size": upload.total,
            "_account": upload.account,
            "_sha256": upload.hasher.hexdigest(),
        }
        self.videos[video_id] = video
        self.polls[video_id] = 0
        upload.video_id = video_id
        return web.json_response(_strip(video), status=200)

    async def redirect_trap(self, request: web.Request) -> web.Response:
        self.redirect_trap_hits += 1
        await request.read()
        return google_error(400, "badRequest", "A client followed a 308 Location header.")

    async def sink(self, request: web.Request) -> web.Response:
        """Benchmark baseline: stream the body and count it (hashing it like an
        upload when ``hash_bytes`` is on, so both paths cost the server alike)."""
        hasher = hashlib.sha256()
        n = 0
        async for data in request.content.iter_any():
            if self.config.hash_bytes:
                hasher.update(data)
            n += len(data)
        self.sink_bytes += n
        return web.json_response({"bytes": n, "sha256": hasher.hexdigest()})

    # ---------------------------------------------------------------- reads

    async def videos_list(self, request: web.Request) -> web.Response:
        self._count("videos.list")
        if (denied := self._auth_error(request)) is not None:
            return denied
        parts = {p for p in request.query.get("part", "").split(",") if p}
        if not parts:
            return google_error(400, "missingRequiredParameter", "No filter selected.")
        ids = [i for i in request.query.get("id", "").split(",") if i]
        if len(ids) > 50:
            return google_error(400, "invalidFilters", "Too many ids (at most 50).")
        if not self._charge(1):
            return quota_exceeded()
        items = []
        for vid in ids:
            video = self.videos.get(vid)
            if video is None:
                continue
            if "status" in parts or "processingDetails" in parts:
                self._advance_processing(video)
            item = {"kind": "youtube#video", "etag": video["etag"], "id": vid}
            for part in parts:
                if part in video:
                    item[part] = video[part]
            items.append(item)
        return web.json_response(
            {
                "kind": "youtube#videoListResponse",
                "items": items,
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
            }
        )

    def _advance_processing(self, video: dict[str, Any]) -> None:
        status = video["status"]
        if status["uploadStatus"] != "uploaded":
            return
        self.polls[video["id"]] = self.polls.get(video["id"], 0) + 1
        if self.polls[video["id"]] <= self.config.processing_polls:
            return
        outcome = self.config.processing_outcome
        status["uploadStatus"] = outcome
        if outcome == "processed":
            video["processingDetails"] = {"processingStatus": "succeeded"}
        else:
            video["processingDetails"] = {"processingStatus": "failed"}
            if outcome == "failed":
                status["failureReason"] = "codec"
            else:
                status["rejectionReason"] = "duplicate"

    async def channels_list(self, request: web.Request) -> web.Response:
        self._count("channels.list")
        if (denied := self._auth_error(request)) is not None:
            return denied
        if request.query.get("mine") != "true":
            return google_error(400, "missingRequiredParameter", "No filter selected.")
        if not self._charge(1):
            return quota_exceeded()
        return web.json_response(
            {
                "kind": "youtube#channelListResponse",
                "items": [
                    {
                        "kind": "youtube#channel",
                        "id": CHANNEL_ID,
                        "contentDetails": {"relatedPlaylists": {"uploads": UPLOADS_PLAYLIST}},
                    }
                ],
            }
        )

    async def playlist_items(self, request: web.Request) -> web.Response:
        self._count("playlistItems.list")
        if (denied := self._auth_error(request)) is not None:
            return denied
        if request.query.get("playlistId") != UPLOADS_PLAYLIST:
            return google_error(404, "playlistNotFound", "The playlist was not found.")
        if not self._charge(1):
            return quota_exceeded()
        try:  # ASCII digits only, like the real API (int() takes "+5", " 5", "1_0")
            size = min(_whole(request.query.get("maxResults", "5")), 50)
            start = _whole(request.query.get("pageToken") or "0")
        except ValueError:
            return google_error(400, "invalidParameter", "Invalid maxResults or pageToken.")
        newest = list(reversed(self.videos.values()))
        page = newest[start : start + size]
        body: dict[str, Any] = {
            "kind": "youtube#playlistItemListResponse",
            "items": [
                {
                    "kind": "youtube#playlistItem",
                    "id": f"PLI{v['id']}",
                    "snippet": {
                        "title": v["snippet"]["title"],
                        "description": v["snippet"].get("description", ""),
                        "publishedAt": v["snippet"]["publishedAt"],
                        "playlistId": UPLOADS_PLAYLIST,
                        "resourceId": {"kind": "youtube#video", "videoId": v["id"]},
                    },
                    "contentDetails": {
                        "videoId": v["id"],
                        "videoPublishedAt": v["snippet"]["publishedAt"],
                    },
                }
                for v in page
            ],
            "pageInfo": {"totalResults": len(newest), "resultsPerPage": size},
        }
        if start + size < len(newest):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    # -------------------------------------------------------------- helpers

    def _now(self) -> datetime:
        return self.clock.now()

    def _day(self) -> str:
        return self._now().astimezone(PACIFIC).date().isoformat()

    def _charge(self, units: int) -> bool:
        day = self._day()
        used = self.units_used.get(day, 0)
        if used + units > self.config.daily_units:
            return False
        self.units_used[day] = used + units
        return True

    def _count(self, endpoint: str) -> None:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1

    def _public_video(self, video: dict[str, Any]) -> dict[str, Any]:
        out = _strip(video)
        out["bytes"] = video["_size"]
        out["account"] = video["_account"]
        out["sha256"] = video["_sha256"]
        out["title"] = video["snippet"]["title"]
        return out


def _strip(video: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in video.items() if not k.startswith("_")}


def _rfc3339(when: datetime) -> str:
    return when.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def google_error(
    code: int,
    reason: str,
    message: str,
    domain: str = "global",
    *,
    status: str | None = None,
) -> web.Response:
    """A Google API error body (protocols.md §1 Errors)."""
    statuses = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }
    body = {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status or statuses.get(code, "UNKNOWN"),
        }
    }
    return web.json_response(body, status=code)


def quota_exceeded() -> web.Response:
    return google_error(
        403,
        "quotaExceeded",
        "The request cannot be completed because you have exceeded your "
        '<a href="/youtube/v3/getting-started#quota">quota</a>.',
        "youtube.quota",
    )


def oauth_error(code: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=code)


def _whole(text: str) -> int:
    """A non-negative integer written in ASCII digits, else ``ValueError``."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)

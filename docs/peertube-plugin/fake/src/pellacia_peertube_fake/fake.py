"""A fake PeerTube instance for the sandbox (``register_fakes`` serves it at ``/peertube/``).

Modelled on PeerTube's REST API reference (api/v1):

    GET    /api/v1/oauth-clients/local          the instance's OAuth client, for anybody
    POST   /api/v1/users/token                  grant_type=password | refresh_token (form)
    GET    /api/v1/users/me                     the user and their channels
    POST   /api/v1/videos/upload-resumable      X-Upload-Content-Length/-Type + JSON
                                                -> 201 Location: ...?upload_id=X
                                                (200: the same file is being uploaded: resume)
    PUT    /api/v1/videos/upload-resumable?upload_id=X
           Content-Range: bytes A-B/N           -> 308 Range: bytes=0-B, or 200
                                                   {"video": {id, uuid, shortUUID}} for the
                                                   last byte: that answer creates the video
           Content-Range: bytes */N (no body)   -> 308 (Range when bytes arrived): where it stands
    DELETE /api/v1/videos/upload-resumable?upload_id=X
    GET    /api/v1/users/me/videos?search=      the user's videos, newest first
    GET    /api/v1/videos/{id|uuid|shortUUID}   a video, with views/likes/comments
    GET    /api/v1/videos/{id}/source           the file it came from (owner only)

Errors are RFC 7807 problem documents (``detail``, ``status``, ``code``, and the
deprecated ``error``). A finished upload is forgotten once its video exists:
its ``upload_id`` then answers 404, as PeerTube does after processing. Users:
any username signs in with ``SANDBOX_CREDENTIALS["password"]``; each has one
channel. Upload bytes are streamed: only their count and SHA-256 are kept.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from pellacia.testing.context import SANDBOX_CREDENTIALS
from pellacia_sandbox.fakes.base import FakePlatform, Grant, TokenError, TokenStore

UPLOAD = "/api/v1/videos/upload-resumable"
UPLOAD_TTL_S = 3600.0  # "If you didn't send chunks in the last hour, it is not valid anymore"
ACCESS_TTL_S = 86400.0  # access tokens live a day,
REFRESH_TTL_S = 14 * 86400.0  # refresh tokens two weeks
NAME_CHARS = (3, 120)
DESCRIPTION_CHARS = (3, 10_000)  # when there is one
MAGIC = {b"ftyp": "mp4", b"\x1aE\xdf\xa3": "matroska"}  # what ffprobe would recognise
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_ALPHABET = string.ascii_letters + string.digits

Handler = Callable[[web.Request, Grant], Any]


def problem(status: int, detail: str, *, code: str | None = None, **headers: str) -> web.Response:
    """PeerTube's error answer (``application/problem+json``)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": web.Response(status=status).reason,
        "status": status,
        "detail": detail,
        "error": detail,  # deprecated, still sent
    }
    if code:
        body["code"] = code
    return web.json_response(
        body, status=status, headers=headers or None, content_type="application/problem+json"
    )


def short_uuid(value: str) -> str:
    """A short, URL-safe form of a UUID (base 62)."""
    number, out = int(value.replace("-", ""), 16), ""
    while number:
        number, digit = divmod(number, 62)
        out = _ALPHABET[digit] + out
    return out


class PeerTubeFake(FakePlatform):
    """One PeerTube instance."""

    name = "peertube"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.tokens = TokenStore(
            self.clock, access_ttl=ACCESS_TTL_S, refresh_ttl=REFRESH_TTL_S, rotate_refresh=True
        )
        self.client_id = secrets.token_hex(16)
        self.client_secret = secrets.token_urlsafe(24)[:32]
        self.reset()

    # ------------------------------------------------------------ contract

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/oauth-clients/local", self._oauth_client)
        r.add_post("/api/v1/users/token", self._token)
        r.add_get("/api/v1/users/me", self._authed(self._me))
        r.add_post(UPLOAD, self._authed(self._upload_init))
        r.add_put(UPLOAD, self._authed(self._upload_chunk))
        r.add_delete(UPLOAD, self._authed(self._upload_cancel))
        r.add_get("/api/v1/users/me/videos", self._authed(self._my_videos))
        r.add_get("/api/v1/videos/{id}", self._video)
        r.add_get("/api/v1/videos/{id}/source", self._authed(self._source))

    def reset(self) -> None:
        self.tokens.reset()
        self.users: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.videos: list[dict[str, Any]] = []
        self._hashes: dict[str, Any] = {}
        self._ended: list[dict[str, Any]] = []  # uploads replaced by a new one of the same id

    def snapshot(self) -> dict[str, Any]:
        posts = [
            {**{k: v for k, v in video.items() if k != "name"}, "title": video["name"]}
            for video in self.videos
        ]
        return {
            "posts": posts,
            # every upload, finished ones too: the kit counts the bytes each received
            "uploads": [dict(u) for u in [*self._ended, *self.uploads.values()]],
            "tokens": {"live_access": self.tokens.live_access_tokens(), **self.tokens.stats},
        }

    def native_error(self, kind: str, **params: Any) -> web.Response:
        if kind == "rate_limit":
            wait = int(params.get("retry_after", 10))
            reset = int(self.clock.time()) + wait
            return problem(
                429,
                "You have reached the rate limit, please retry later",
                **{
                    "Retry-After": str(wait),
                    "X-RateLimit-Limit": "50",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        if kind == "quota":
            return problem(
                413, "The user video quota is exceeded with this video.", code="quota_reached"
            )
        if kind == "auth":
            return problem(401, "Token is invalid.", code="invalid_token")
        if kind == "challenge":
            return problem(403, "Your account is blocked by a moderator.", code="account_blocked")
        return problem(int(params.get("status", 500)), "Internal Server Error")

    # ---------------------------------------------------------------- auth

    async def _oauth_client(self, request: web.Request) -> web.Response:
        return web.json_response({"client_id": self.client_id, "client_secret": self.client_secret})

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return problem(400, "Invalid client: client is invalid", code="invalid_client")
        grant_type = form.get("grant_type")
        try:
            if grant_type == "password":
                issued = self.tokens.issue(self._login(str(form.get("username", "")), form))
            elif grant_type == "refresh_token":
                issued = self.tokens.refresh(
                    str(form.get("refresh_token", "")), client_id=self.client_id
                )
            else:
                return problem(
                    400,
                    "Unsupported grant type: grant_type is invalid",
                    code="unsupported_grant_type",
                )
        except TokenError as exc:
            return problem(400, f"Invalid grant: {exc.description}", code="invalid_grant")
        return web.json_response(
            {
                "token_type": "Bearer",
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_in": issued.expires_in,
                "refresh_token_expires_in": issued.refresh_expires_in,
            }
        )

    def _login(self, username: str, form: Mapping[str, Any]) -> Grant:
        if not username or form.get("password") != SANDBOX_CREDENTIALS["password"]:
            raise TokenError("invalid_grant", "user credentials are invalid")
        if username not in self.users:
            number = len(self.users) + 1
            self.users[username] = {
                "id": number,
                "username": username,
                "videoChannels": [
                    {"id": 100 + number, "name": f"{username}_channel", "displayName": username}
                ],
            }
        return Grant(account=username, client_id=self.client_id)

    def _authed(self, handler: Handler) -> Callable[[web.Request], Any]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            grant = self.tokens.bearer(request)
            if grant is None:
                return self.native_error("auth")
            result: web.StreamResponse = await handler(request, grant)
            return result

        return guarded

    async def _me(self, request: web.Request, grant: Grant) -> web.Response:
        return web.json_response(self.users[grant.account])

    # -------------------------------------------------------------- upload

    async def _upload_init(self, request: web.Request, grant: Grant) -> web.Response:
        try:
            size = int(request.headers["X-Upload-Content-Length"])
            mime = request.headers["X-Upload-Content-Type"]
            body = await request.json()
        except (KeyError, ValueError):
            return problem(400, "Incorrect request parameters: x-upload-content-length, body")
        if not mime.startswith("video/") or size <= 0:
            return problem(415, f"{mime} is not a supported video type")
        problem_text = self._invalid_metadata(body, grant)
        if problem_text:
            return problem(400, f"Incorrect request parameters: {problem_text}")
        # uploadx names the upload after who sends which file: the same again resumes it
        upload_id = hashlib.md5(  # an identifier, derived as uploadx does
            f"{grant.account}/{body['filename']}/{size}".encode()
        ).hexdigest()
        location = self.url(f"{UPLOAD}?upload_id={upload_id}")
        if self._live(upload_id) is not None:
            return web.Response(status=200, headers={"Location": location})
        if upload_id in self.uploads:  # the same file again after its upload ended
            self._ended.append(self.uploads.pop(upload_id))
        self.uploads[upload_id] = {
            "id": upload_id,
            "account": grant.account,
            "status": "uploading",  # then "finished" (its video exists) or "cancelled"
            "size": size,
            "received": 0,
            "bytes_received": 0,
            "mime": mime,
            "metadata": body,
            "touched": self.clock.time(),
            "head": "",
        }
        self._hashes[upload_id] = hashlib.sha256()
        return web.Response(status=201, headers={"Location": location})

    def _invalid_metadata(self, body: Any, grant: Grant) -> str | None:
        if not isinstance(body, dict):
            return "body"
        name = body.get("name")
        if not isinstance(name, str) or not NAME_CHARS[0] <= len(name.strip()) <= NAME_CHARS[1]:
            return "name"
        channels = {c["id"] for c in self.users[grant.account]["videoChannels"]}
        if body.get("channelId") not in channels:
            return "channelId"
        if not isinstance(body.get("filename"), str) or not body["filename"]:
            return "filename"
        description = str(body.get("description") or "")
        if description and not DESCRIPTION_CHARS[0] <= len(description) <= DESCRIPTION_CHARS[1]:
            return "description"
        tags = body.get("tags") or []
        if len(tags) > 5 or any(not 2 <= len(str(t)) <= 30 for t in tags):
            return "tags"
        return None

    def _live(self, upload_id: str, account: str | None = None) -> dict[str, Any] | None:
        """The upload if it still takes bytes (not finished, cancelled or expired)."""
        upload = self.uploads.get(upload_id)
        if upload is None or upload["status"] != "uploading":
            return None
        if account is not None and upload["account"] != account:
            return None
        if self.clock.time() - upload["touched"] > UPLOAD_TTL_S:
            upload["status"] = "expired"
            return None
        return upload

    async def _upload_chunk(self, request: web.Request, grant: Grant) -> web.Response:
        upload = self._live(request.query.get("upload_id", ""), grant.account)
        if upload is None:
            return problem(404, "Upload not found")
        upload["touched"] = self.clock.time()
        content_range = request.headers.get("Content-Range", "")
        if content_range == f"bytes */{upload['size']}":
            await request.read()
            return self._where(upload)
        match = _RANGE.match(content_range)
        if match is None or int(match.group(3)) != upload["size"]:
            return problem(400, "Content-Range is invalid")
        start, end = int(match.group(1)), int(match.group(2))
        if start != upload["received"] or end < start or end >= upload["size"]:
            await request.read()
            return problem(409, "Chunk does not match the upload range")
        received = await self._store(upload, request, end - start + 1)
        if received != end - start + 1:
            return problem(400, "Body length does not match Content-Range")
        if upload["received"] < upload["size"]:
            return self._where(upload)
        return self._finish(upload)

    async def _store(self, upload: dict[str, Any], request: web.Request, expected: int) -> int:
        """Stream the body in; keep it only when it is exactly the announced range."""
        digest, got, head = self._hashes[upload["id"]].copy(), 0, b""
        async for piece in request.content.iter_chunked(256 * 1024):
            got += len(piece)
            upload["bytes_received"] += len(piece)
            digest.update(piece)
            if len(head) < 8:
                head += piece[: 8 - len(head)]
        if got != expected:
            return got
        self._hashes[upload["id"]] = digest
        if upload["received"] == 0:
            upload["head"] = head.hex()
        upload["received"] += got
        return got

    @staticmethod
    def _where(upload: Mapping[str, Any]) -> web.Response:
        headers = {"Range": f"bytes=0-{upload['received'] - 1}"} if upload["received"] else {}
        return web.Response(status=308, headers=headers)

    def _finish(self, upload: dict[str, Any]) -> web.Response:
        """The last byte arrived: the video is created and the upload forgotten."""
        upload["status"] = "finished"
        head = bytes.fromhex(upload["head"])
        if not any(magic in head for magic in MAGIC):
            return problem(422, "Video file unreadable.")
        meta = upload["metadata"]
        video_uuid = str(uuid.uuid4())
        video = {
            "id": len(self.videos) + 1,
            "uuid": video_uuid,
            "shortUUID": short_uuid(video_uuid),
            "name": meta["name"].strip(),
            "description": meta.get("description") or "",
            "caption": meta.get("description") or "",
            "channelId": meta["channelId"],
            "account": upload["account"],
            "filename": meta["filename"],
            "privacy": int(meta.get("privacy") or 1),
            "tags": list(meta.get("tags") or []),
            "bytes": upload["received"],
            "sha256": self._hashes.pop(upload["id"]).hexdigest(),
            "createdAt": self.clock.now().isoformat(),
        }
        self.videos.append(video)
        return web.json_response({"video": {k: video[k] for k in ("id", "uuid", "shortUUID")}})

    async def _upload_cancel(self, request: web.Request, grant: Grant) -> web.Response:
        upload = self._live(request.query.get("upload_id", ""), grant.account)
        if upload is None:
            return problem(404, "Upload not found")
        upload["status"] = "cancelled"
        return web.Response(status=204)

    # -------------------------------------------------------------- videos

    def _find(self, key: str) -> dict[str, Any] | None:
        for video in self.videos:
            if key in (str(video["id"]), video["uuid"], video["shortUUID"]):
                return video
        return None

    def _json(self, video: Mapping[str, Any]) -> dict[str, Any]:
        """A ``Video`` as the API shows it; views grow with the sandbox clock."""
        age_s = max(0.0, self.clock.time() - _epoch(video["createdAt"]))
        views = video["id"] * 10 + int(age_s // 60)
        return {
            "id": video["id"],
            "uuid": video["uuid"],
            "shortUUID": video["shortUUID"],
            "name": video["name"],
            "description": video["description"],
            "url": self.url(f"/videos/watch/{video['uuid']}"),
            "createdAt": video["createdAt"],
            "publishedAt": video["createdAt"],
            "privacy": {"id": video["privacy"]},
            "state": {"id": 1, "label": "Published"},
            "views": views,
            "likes": views // 10,
            "dislikes": views // 100,
            "comments": views // 50,
            "channel": {"id": video["channelId"]},
        }

    async def _my_videos(self, request: web.Request, grant: Grant) -> web.Response:
        search = request.query.get("search", "").lower()
        mine = [
            self._json(v)
            for v in reversed(self.videos)  # -createdAt
            if v["account"] == grant.account and search in v["name"].lower()
        ]
        start = int(request.query.get("start", "0"))
        count = min(100, int(request.query.get("count", "15")))
        return web.json_response({"total": len(mine), "data": mine[start : start + count]})

    async def _video(self, request: web.Request) -> web.Response:
        video = self._find(request.match_info["id"])
        if video is None:
            return problem(404, "Video not found")
        return web.json_response(self._json(video))

    async def _source(self, request: web.Request, grant: Grant) -> web.Response:
        video = self._find(request.match_info["id"])
        if video is None:
            return problem(404, "Video not found")
        if video["account"] != grant.account:
            return problem(403, "Cannot get this video source")
        return web.json_response(
            {"inputFilename": video["filename"], "createdAt": video["createdAt"]}
        )


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()

"""HTTP calls to TikTok's Open API and the mapping of its answers to ``pellacia.errors``.

Every TikTok response carries ``error: {code, message, log_id}`` (``code == "ok"``
on success). Mapping (protocols.md §2):

- 429 / ``rate_limit_exceeded`` → ``RateLimited``: TikTok's windows slide over
  one minute and send no reset header, so ``retry_after`` is the window (60 s).
- ``spam_risk_too_many_posts`` / ``reached_active_user_cap`` → ``RateLimited``
  on the daily posting budget (a cap, not a failure).
- other ``spam_risk_*`` → ``Challenge`` (ban risk: a person must look).
- 401 (``access_token_invalid``, ``scope_*``) → one forced token refresh and one
  retry, then ``AuthExpired``.
- 5xx and network errors → ``Transient``; but when the request of a
  non-idempotent call (init creates a post) may have reached TikTok, a lost
  answer is ``OutcomeUnknown``.
- anything else (``invalid_params``, ``privacy_level_option_mismatch``, …) → ``Rejected``.

No message ever carries a token: TikTok's texts are passed through the log
redactor and our own never quote headers or URLs with ``upload_token``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pellacia.contract import PlatformContext
from pellacia.errors import (
    AuthExpired,
    Challenge,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from pellacia.log import redact_text

PLATFORM = "tiktok"
API_BASE = "https://open.tiktokapis.com"
AUTH_BASE = "https://www.tiktok.com"
WINDOW_S = 60.0  # every TikTok limit is a sliding one-minute window
DAILY_CAP_RETRY_S = 3600.0  # the daily cap's reset is not announced: look again in an hour
DAILY_CAP_QUOTA = "tiktok:daily-posts"
INIT_QUOTA = "tiktok:init-per-minute"
READ_PIECE = 1024 * 1024  # bytes read from disk per piece of a streamed chunk

#: errors that mean "not now" rather than "no"
_CAP_CODES = frozenset({"spam_risk_too_many_posts", "reached_active_user_cap"})
_AUTH_CODES = frozenset({"access_token_invalid", "scope_not_authorized", "scope_permission_missed"})


@dataclass(frozen=True)
class ApiError:
    """A TikTok error answer, before it becomes a typed error."""

    status: int
    code: str
    message: str = ""
    log_id: str = ""


def map_error(err: ApiError, *, what: str, bucket: str | None = None) -> PlatformError:
    """The ``pellacia.errors`` class for a TikTok error answer."""
    text = redact_text(f"TikTok {what} failed: HTTP {err.status} {err.code}: {err.message}".strip())
    if err.log_id:
        text += f" (log_id {err.log_id})"
    if err.status == 429 or err.code == "rate_limit_exceeded":
        quota = f"tiktok:{bucket}-per-minute" if bucket else None
        return RateLimited(text, platform=PLATFORM, retry_after=WINDOW_S, quota=quota)
    if err.code in _CAP_CODES:
        return RateLimited(
            text, platform=PLATFORM, retry_after=DAILY_CAP_RETRY_S, quota=DAILY_CAP_QUOTA
        )
    if err.code.startswith("spam_risk"):
        return Challenge(text, platform=PLATFORM)
    if err.status == 401 or err.code in _AUTH_CODES:
        return AuthExpired(text, platform=PLATFORM)
    if err.status >= 500 or err.code == "internal_error":
        return Transient(text, platform=PLATFORM)
    return Rejected(text, platform=PLATFORM)


async def read_error(resp: aiohttp.ClientResponse) -> ApiError:
    """The ``error`` object of a response (tolerating bodies that are not JSON)."""
    try:
        payload = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        payload = None
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict):
        return ApiError(
            resp.status,
            str(err.get("code") or "unknown"),
            str(err.get("message") or ""),
            str(err.get("log_id") or ""),
        )
    if isinstance(err, str):  # OAuth endpoints: {"error": "...", "error_description": "..."}
        assert isinstance(payload, dict)
        return ApiError(
            resp.status,
            err,
            str(payload.get("error_description") or ""),
            str(payload.get("log_id") or ""),
        )
    return ApiError(resp.status, "unknown", f"unexpected answer (HTTP {resp.status})")


class UploadUrlGone(Exception):
    """The upload URL expired or was forgotten: initialize again."""


class ChunkOutOfOrder(Exception):
    """TikTok refused the chunk's range (416): re-read ``uploaded_bytes`` first."""


@dataclass
class TikTokClient:
    """TikTok Open API calls for one account, with the one-refresh-then-retry rule."""

    ctx: PlatformContext
    #: how many times a 401 led to a forced refresh (tests read it)
    refreshes: int = field(default=0)

    @property
    def api_base(self) -> str:
        return self.ctx.endpoint(API_BASE)

    async def call(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        what: str,
        bucket: str | None = None,
        idempotent: bool = True,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST JSON ``body`` to ``path``; the ``data`` object of a success.

        A 401 forces one token refresh and one retry. ``idempotent=False``
        turns a lost answer into ``OutcomeUnknown``.
        """
        token = (await self.ctx.tokens.current()).access_token
        for attempt in (1, 2):
            status, payload, err = await self._post(
                path, body, token, what=what, idempotent=idempotent, query=query
            )
            if err is None:
                data = payload.get("data") if isinstance(payload, dict) else None
                return data if isinstance(data, dict) else {}
            if status == 401 and attempt == 1:
                self.refreshes += 1
                token = (await self.ctx.tokens.refresh()).access_token
                continue
            raise map_error(err, what=what, bucket=bucket)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(
        self,
        path: str,
        body: Mapping[str, Any],
        token: str,
        *,
        what: str,
        idempotent: bool,
        query: Mapping[str, str] | None,
    ) -> tuple[int, Any, ApiError | None]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=UTF-8",
        }
        url = f"{self.api_base}{path}"
        try:
            async with self.ctx.http.post(
                url, json=dict(body), headers=headers, params=query, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    return resp.status, None, await read_error(resp)
                payload = await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:  # never reached TikTok: safe to retry
            raise Transient(
                f"TikTok {what}: cannot connect ({type(exc).__name__})",
                platform=PLATFORM,
                network=True,
            ) from None
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            if not idempotent:
                raise OutcomeUnknown(
                    f"TikTok {what}: the request was sent but its answer was lost ({type(exc).__name__}); "
                    "reconcile before repeating it",
                    platform=PLATFORM,
                ) from None
            raise Transient(
                f"TikTok {what}: connection lost ({type(exc).__name__})",
                platform=PLATFORM,
                network=True,
            ) from None
        err = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(err, dict) and err.get("code") not in (None, "ok"):
            return (
                200,
                payload,
                ApiError(
                    200,
                    str(err.get("code")),
                    str(err.get("message") or ""),
                    str(err.get("log_id") or ""),
                ),
            )
        return 200, payload, None

    # ----------------------------------------------------------- endpoints

    async def creator_info(self) -> dict[str, Any]:
        return await self.call(
            "/v2/post/publish/creator_info/query/", {}, what="creator info query"
        )

    async def init(self, *, inbox: bool, body: Mapping[str, Any]) -> dict[str, Any]:
        path = "/v2/post/publish/inbox/video/init/" if inbox else "/v2/post/publish/video/init/"
        return await self.call(path, body, what="upload init", bucket="init", idempotent=False)

    async def status(self, publish_id: str) -> dict[str, Any]:
        return await self.call(
            "/v2/post/publish/status/fetch/",
            {"publish_id": publish_id},
            what="status fetch",
            bucket="status",
        )

    async def video_list(
        self, *, fields: str, cursor: int | None, max_count: int = 20
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"max_count": max_count}
        if cursor is not None:
            body["cursor"] = cursor
        return await self.call(
            "/v2/video/list/", body, what="video list", bucket="display", query={"fields": fields}
        )

    async def video_query(self, ids: list[str], *, fields: str) -> dict[str, Any]:
        return await self.call(
            "/v2/video/query/",
            {"filters": {"video_ids": ids}},
            what="video query",
            bucket="display",
            query={"fields": fields},
        )

    async def put_chunk(
        self,
        upload_url: str,
        *,
        path: Any,
        first: int,
        length: int,
        total: int,
        content_type: str,
        on_piece: Callable[[int], None] | None = None,
    ) -> int:
        """PUT bytes ``[first, first+length)`` of the file at ``path``, streamed from disk.

        Returns the HTTP status (206 more wanted, 201 complete). Raises
        ``ChunkOutOfOrder`` on 416 and ``UploadUrlGone`` when the URL is dead.
        """
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(length),
            "Content-Range": f"bytes {first}-{first + length - 1}/{total}",
        }
        try:
            async with self.ctx.http.put(
                upload_url,
                data=_file_slice(path, first, length, on_piece),
                headers=headers,
                allow_redirects=False,
            ) as resp:
                if resp.status in (200, 201, 206):
                    return resp.status
                err = await read_error(resp)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # the chunk is re-sent on resume (TikTok ignores nothing it did not acknowledge)
            raise Transient(
                f"TikTok chunk upload: connection lost ({type(exc).__name__})",
                platform=PLATFORM,
                network=True,
            ) from None
        if err.status == 416:
            raise ChunkOutOfOrder(err.message)
        if err.status in (403, 404, 410):
            raise UploadUrlGone(err.code)
        raise map_error(err, what="chunk upload")


async def _file_slice(
    path: Any, first: int, length: int, on_piece: Callable[[int], None] | None
) -> AsyncIterator[bytes]:
    """Bytes ``[first, first+length)`` of a file, one bounded piece at a time."""
    with open(path, "rb") as fh:  # noqa: ASYNC230 - reads go through a thread below
        await asyncio.to_thread(fh.seek, first)
        left = length
        while left > 0:
            piece = await asyncio.to_thread(fh.read, min(READ_PIECE, left))
            if not piece:
                raise OSError("the video file is shorter than planned")
            left -= len(piece)
            if on_piece is not None:
                on_piece(len(piece))
            yield piece

"""TikTok's Open API through ``pellacia.sdk.ApiClient``, and its error mapping.

The SDK adds the bearer token, refreshes once after a 401 and retries once,
and turns network failures into ``Transient`` (``OutcomeUnknown`` for init,
which creates a post). Every TikTok response carries
``error: {code, message, log_id}`` (``code == "ok"`` on success), sometimes with
HTTP 200; ``TikTokClient.error_for`` maps it (protocols.md §2):

- 429 / ``rate_limit_exceeded`` → ``RateLimited``: TikTok's windows slide over
  one minute and send no reset header, so ``retry_after`` is the window (60 s).
- ``spam_risk_too_many_posts`` / ``reached_active_user_cap`` → ``RateLimited``
  on the daily posting budget (a cap, not a failure);
  ``spam_risk_too_many_pending_share`` → ``RateLimited`` until the creator
  clears the inbox drafts.
- other ``spam_risk_*`` → ``Challenge`` (ban risk: a person must look).
- ``unaudited_client_can_only_post_to_private_accounts`` → ``Rejected``, saying
  what to change.
- 401 (``access_token_invalid``, ``scope_*``) after the SDK's refresh → ``AuthExpired``.
- 5xx → ``Transient``; anything else (``invalid_params``, ...) → ``Rejected``.

No message ever carries a token: TikTok's texts are redacted and our own
never quote headers or URLs with ``upload_token``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pellacia.errors import AuthExpired, Challenge, PlatformError, Rejected, Transient
from pellacia.log import redact_text
from pellacia.sdk import ApiClient, Chunk, Reply

PLATFORM = "tiktok"
API_BASE = "https://open.tiktokapis.com"
AUTH_BASE = "https://www.tiktok.com"
WINDOW_S = 60.0  # every TikTok limit is a sliding one-minute window
DAILY_CAP_RETRY_S = 3600.0  # the daily cap's reset is not announced: look again in an hour
DAILY_CAP_QUOTA = "tiktok:daily-posts"
INBOX_PENDING_QUOTA = "tiktok:inbox-pending"
INIT_QUOTA = "tiktok:init-per-minute"

#: errors that mean "not now" rather than "no"
_CAP_CODES = frozenset({"spam_risk_too_many_posts", "reached_active_user_cap"})
_AUTH_CODES = frozenset({"access_token_invalid", "scope_not_authorized", "scope_permission_missed"})
UNAUDITED = "unaudited_client_can_only_post_to_private_accounts"
PENDING_CAP = "spam_risk_too_many_pending_share"
#: the per-minute window each call counts against (names the quota of a 429)
_BUCKETS = {
    "upload init": "init",
    "status fetch": "status",
    "video list": "display",
    "video query": "display",
}


def error_of(reply: Reply) -> tuple[str, str, str]:
    """``(code, message, log_id)`` of TikTok's ``error`` object (or an OAuth error body)."""
    payload = reply.json()
    if not isinstance(payload, dict):
        return ("unknown" if reply.status >= 400 else "ok"), "", ""
    err = payload.get("error")
    if isinstance(err, dict):
        code = str(err.get("code") or "ok")
        return code, str(err.get("message") or ""), str(err.get("log_id") or "")
    if isinstance(err, str):  # OAuth endpoints: {"error": "...", "error_description": "..."}
        return err, str(payload.get("error_description") or ""), str(payload.get("log_id") or "")
    return ("unknown" if reply.status >= 400 else "ok"), "", ""


class UploadUrlGone(Exception):
    """The upload URL expired or was forgotten: initialize again."""


class ChunkOutOfOrder(Exception):
    """TikTok refused the chunk's range (416): re-read ``uploaded_bytes`` first."""


class TikTokClient(ApiClient):
    """TikTok Open API calls for one account (``refreshes`` counts forced refreshes)."""

    display_name = "TikTok"
    base_url = API_BASE
    default_retry_after = WINDOW_S

    def is_error(self, reply: Reply) -> bool:
        return reply.status >= 400 or error_of(reply)[0] != "ok"

    def describe(self, reply: Reply) -> str:
        code, message, _log_id = error_of(reply)
        return redact_text(f"{code}: {message}".strip().rstrip(":"))[:300]

    def error_for(self, reply: Reply, action: str) -> PlatformError:
        code, _message, log_id = error_of(reply)
        text = f"TikTok {action} failed: HTTP {reply.status} {self.describe(reply)}"
        if log_id:
            text += f" (log_id {log_id})"
        if reply.status == 429 or code == "rate_limit_exceeded":
            bucket = _BUCKETS.get(action)
            return self.rate_limited(text, WINDOW_S, quota=bucket and f"tiktok:{bucket}-per-minute")
        if code in _CAP_CODES:
            return self.rate_limited(text, DAILY_CAP_RETRY_S, quota=DAILY_CAP_QUOTA)
        if code == PENDING_CAP:
            return self.rate_limited(
                f"{text}: the creator has too many unfinished drafts in the TikTok inbox; "
                "they must post or delete some first",
                DAILY_CAP_RETRY_S,
                quota=INBOX_PENDING_QUOTA,
            )
        if code.startswith("spam_risk"):
            return Challenge(text, platform=PLATFORM)
        if code == UNAUDITED:
            return Rejected(
                f"{text}: until the TikTok app passes its audit, the account must be set to "
                "private and posts go out as SELF_ONLY (set unaudited_app = true)",
                platform=PLATFORM,
            )
        if reply.status == 401 or code in _AUTH_CODES:
            return AuthExpired(text, platform=PLATFORM)
        if reply.status >= 500 or code == "internal_error":
            return Transient(text, platform=PLATFORM)
        return Rejected(text, platform=PLATFORM)

    async def call(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        what: str,
        idempotent: bool = True,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST JSON ``body`` to ``path``; the ``data`` object of a success."""
        payload = await self.json(
            "POST",
            path,
            action=what,
            json=dict(body),
            params=query,
            headers={"Content-Type": "application/json; charset=UTF-8"},
            idempotent=idempotent,
        )
        data = payload.get("data")
        return data if isinstance(data, dict) else {}

    # ----------------------------------------------------------- endpoints

    async def creator_info(self) -> dict[str, Any]:
        return await self.call(
            "/v2/post/publish/creator_info/query/", {}, what="creator info query"
        )

    async def init(self, *, inbox: bool, body: Mapping[str, Any]) -> dict[str, Any]:
        """One init; each call (a re-init after a lost answer or a restart too)
        spends the account's 6-per-minute init budget first."""
        path = "/v2/post/publish/inbox/video/init/" if inbox else "/v2/post/publish/video/init/"
        await self.ctx.spend(INIT_QUOTA)
        return await self.call(path, body, what="upload init", idempotent=False)

    async def status(self, publish_id: str) -> dict[str, Any]:
        return await self.call(
            "/v2/post/publish/status/fetch/", {"publish_id": publish_id}, what="status fetch"
        )

    async def video_list(
        self, *, fields: str, cursor: int | None, max_count: int = 20
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"max_count": max_count}
        if cursor is not None:
            body["cursor"] = cursor
        return await self.call("/v2/video/list/", body, what="video list", query={"fields": fields})

    async def video_query(self, ids: list[str], *, fields: str) -> dict[str, Any]:
        return await self.call(
            "/v2/video/query/",
            {"filters": {"video_ids": ids}},
            what="video query",
            query={"fields": fields},
        )

    async def put_chunk(
        self,
        upload_url: str,
        *,
        path: Path,
        first: int,
        length: int,
        total: int,
        content_type: str,
    ) -> int:
        """PUT bytes ``[first, first+length)`` of the file at ``path``, streamed from disk.

        Returns the HTTP status (206 more wanted, 201 complete). Raises
        ``ChunkOutOfOrder`` on 416 and ``UploadUrlGone`` when the URL is dead.
        The upload URL carries its own token: no bearer token is sent.
        """
        chunk = Chunk(Path(path), first, length, total)
        return await self.send_chunk(upload_url, chunk, content_type)

    async def send_chunk(self, upload_url: str, chunk: Chunk, content_type: str) -> int:
        """``put_chunk`` for a ``pellacia.sdk.Chunk`` (progress reported by the chunk)."""
        reply = await self.request(
            "PUT",
            upload_url,
            action="chunk upload",
            headers=chunk.headers(content_type),
            data=chunk.body(),
            auth=False,
            accept=(403, 404, 410, 416),
        )
        if reply.status == 416:
            raise ChunkOutOfOrder(error_of(reply)[1])
        if reply.status in (403, 404, 410):
            raise UploadUrlGone(error_of(reply)[0])
        return reply.status

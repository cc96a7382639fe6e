"""PeerTube: a resumable upload whose last chunk creates the video.

There is no publish call. The upload is opened with the video's metadata
(``POST /api/v1/videos/upload-resumable``), its chunks go in ``PUT`` with
``Content-Range``, and the answer to the last byte is the new video. A PUT
with ``Content-Range: bytes */N`` and no body asks where the upload stands.

Never posting twice rests on the file name: each upload sends
``<idempotency key><suffix>`` as ``filename``, which the instance keeps as the
video's source (``GET /api/v1/videos/{id}/source``, owner only). When a saved
upload is gone on resume (its video was made, or it expired), or when core
reconciles, the account's videos with the title are checked for that source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from pellacia.contract import (
    AuthFlow,
    Capabilities,
    MediaRules,
    MetricsSnapshot,
    PlatformContext,
    PublishRequest,
    QuotaBudget,
    RemotePost,
    UploadReceipt,
    UploadSession,
)
from pellacia.errors import OutcomeUnknown, Rejected, Transient
from pellacia.media import check_rules
from pellacia.sdk import Chunk, upload_chunks

from pellacia_peertube.api import NAME, PeerTubeApi
from pellacia_peertube.auth import PeerTubeAuth

UPLOAD = "/api/v1/videos/upload-resumable"
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
#: the container (as the probe names it) -> the type the upload declares
MIME = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "matroska": "video/x-matroska",
}
#: PeerTube's privacy ids
PRIVACY = {"public": 1, "unlisted": 2, "private": 3, "internal": 4}

MEDIA_RULES = MediaRules(
    containers=frozenset(MIME),
    max_title_chars=120,  # a name is 3 to 120 characters
    max_description_chars=10_000,
)


class PeerTubePlatform:
    """The platform object the plugin registers."""

    name = NAME
    display_name = "PeerTube"
    # the upload makes the video: publish() only reads it back
    capabilities = Capabilities(resumable_upload=True, separate_publish=False)
    media_rules = MEDIA_RULES
    quotas: Sequence[QuotaBudget] = ()
    auth: AuthFlow = PeerTubeAuth()

    # -------------------------------------------------------------- upload

    async def upload(
        self, request: PublishRequest, session: UploadSession, ctx: PlatformContext
    ) -> UploadReceipt:
        """Open (or resume) the upload, send the bytes, return the video the last one made."""
        problems = check_rules(
            self.media_rules,
            request.video,
            title=request.title,
            description=request.caption,
            platform=self.name,
            display_name=self.display_name,
        )
        messages = [p.message for p in problems]
        if 0 < len(request.caption.strip()) < 3:  # PeerTube's rule; MediaRules has no minimum
            messages.append("a PeerTube description needs at least 3 characters")
        if messages:
            raise Rejected("; ".join(messages), platform=self.name)
        api = PeerTubeApi(ctx)
        total = request.video.size
        state = dict(session.resume_state or {})
        if state.get("size") != total:  # nothing saved, or for another file
            state = {}
        offset = await self._where(api, state) if state else None
        if offset is None and state:
            # the saved upload is gone: finished (our last chunk made the video) or expired
            video = await self._find(api, request)
            if video is not None:
                return _receipt(state, video)
        if offset is None:
            state, offset = await self._open(api, request, ctx)
            await session.save_state(state)
        made: dict[str, Any] = {}

        async def send(chunk: Chunk) -> int:
            reply = await api.request(
                "PUT",
                state["url"],
                action="upload chunk",
                headers=chunk.headers(state["mime"]),
                data=chunk.body(),
                accept=(308,),
            )
            if reply.status == 308:
                return _acknowledged(reply.headers.get("Range"))
            made.update(_video(reply.json()))
            return total

        size = max(1, int(ctx.settings.get("chunk_size", DEFAULT_CHUNK_SIZE)))
        await upload_chunks(
            session,
            request.video.path,
            total=total,
            offset=offset,
            chunk_length=lambda at: min(size, total - at),
            send=send,
            state=lambda at: {**state, "offset": at},
            checkpoint=lambda: self._where(api, state),
        )
        if not made:  # every byte was in before this call: the video exists
            video = await self._find(api, request)
            if video is None:
                raise Transient("PeerTube: the upload is complete but no video came of it yet")
            return _receipt(state, video)
        return _receipt(state, made)

    async def _open(
        self, api: PeerTubeApi, request: PublishRequest, ctx: PlatformContext
    ) -> tuple[dict[str, Any], int]:
        """A new upload: ``(state, offset)`` (offset > 0 when the instance already had it)."""
        mime = MIME[request.video.container]  # media_rules let no other container through
        body = {
            "name": request.title,
            "channelId": await self._channel(api, request, ctx),
            "filename": _filename(request),
            "description": request.caption.strip() or None,
            "privacy": PRIVACY[str(request.options.get("privacy", "public"))],
            "tags": _tags(request.hashtags),
            "waitTranscoding": True,
        }
        headers = {
            "X-Upload-Content-Length": str(request.video.size),
            "X-Upload-Content-Type": mime,
        }
        reply = await api.request("POST", UPLOAD, action="upload start", json=body, headers=headers)
        location = reply.headers.get("Location")
        if not location:
            raise Transient("PeerTube upload start: no Location in the answer")
        state = {
            "url": urljoin(api.url(UPLOAD), location),
            "mime": mime,
            "size": request.video.size,
        }
        # 200: this very file is already being uploaded (a lost answer to an earlier start)
        offset = await self._where(api, state) if reply.status == 200 else 0
        return state, offset or 0

    async def _channel(
        self, api: PeerTubeApi, request: PublishRequest, ctx: PlatformContext
    ) -> int:
        chosen = request.options.get("channel_id") or ctx.settings.get("channel_id")
        if chosen:
            return int(chosen)
        me = await api.json("GET", "/api/v1/users/me", action="account lookup")
        channels = me.get("videoChannels") or []
        if not channels:
            raise Rejected(f"PeerTube account {ctx.account!r} has no channel", platform=self.name)
        return int(channels[0]["id"])

    async def _where(self, api: PeerTubeApi, state: Mapping[str, Any]) -> int | None:
        """Bytes the instance holds for the saved upload; None when it is gone (404)."""
        reply = await api.request(
            "PUT",
            state["url"],
            action="upload status",
            headers={"Content-Range": f"bytes */{state['size']}", "Content-Length": "0"},
            accept=(308, 404),
        )
        if reply.status == 404:
            return None
        return _acknowledged(reply.headers.get("Range")) if reply.status == 308 else None

    # ------------------------------------------------------------ the post

    async def publish(
        self, request: PublishRequest, receipt: UploadReceipt, ctx: PlatformContext
    ) -> RemotePost:
        """The upload made the video: read it back (its URL and publication time)."""
        video = await PeerTubeApi(ctx).json(
            "GET", f"/api/v1/videos/{receipt.remote_id}", action="video lookup"
        )
        return _post(video)

    async def reconcile(
        self, request: PublishRequest, receipt: UploadReceipt | None, ctx: PlatformContext
    ) -> RemotePost | None:
        """The video this delivery made, if any.

        A receipt naming the video (the upload returned): read it back. A
        receipt of state only (the last chunk's answer was lost) or none:
        look for the account's video made from this delivery's file. With no
        receipt at all the API never opened an upload for this delivery, yet
        another layer (a browser, a person) may have posted it: a video with
        the same title from another file then leaves the outcome unknown.
        """
        api = PeerTubeApi(ctx)
        made = receipt.state.get("video") if receipt is not None else None
        if isinstance(made, Mapping) and made.get("uuid"):
            reply = await api.request(
                "GET", f"/api/v1/videos/{made['uuid']}", action="video lookup", accept=(404,)
            )
            return None if reply.status == 404 else _post(reply.json())
        video, namesakes = await self._search(api, request)
        if video is not None:
            found = await api.json("GET", f"/api/v1/videos/{video['uuid']}", action="video lookup")
            return _post(found)
        if receipt is None and namesakes:
            raise OutcomeUnknown(
                f"PeerTube has {namesakes} video(s) titled {request.title!r} that this "
                "delivery's upload did not make: check whether one is this post",
                platform=self.name,
            )
        return None

    async def _find(self, api: PeerTubeApi, request: PublishRequest) -> dict[str, Any] | None:
        """The account's video made from this delivery's file, if any."""
        return (await self._search(api, request))[0]

    async def _search(
        self, api: PeerTubeApi, request: PublishRequest
    ) -> tuple[dict[str, Any] | None, int]:
        """``(the video made from this delivery's file, how many others have its title)``."""
        listed = await api.json(
            "GET",
            "/api/v1/users/me/videos",
            action="video search",
            params={"search": request.title, "sort": "-createdAt", "count": "100"},
        )
        wanted, namesakes = _filename(request), 0
        for video in listed.get("data") or []:
            if video.get("name") != request.title.strip():
                continue
            source = await api.request(
                "GET",
                f"/api/v1/videos/{video['uuid']}/source",
                action="video source",
                accept=(403, 404),  # gone meanwhile, or not ours after all
            )
            if source.status == 200 and (source.json() or {}).get("inputFilename") == wanted:
                return dict(video), namesakes
            namesakes += 1
        return None, namesakes

    # ------------------------------------------------------------- metrics

    async def fetch_metrics(
        self, posts: Sequence[RemotePost], ctx: PlatformContext
    ) -> list[MetricsSnapshot]:
        api = PeerTubeApi(ctx)
        snapshots = []
        for post in posts:
            video = await api.json("GET", f"/api/v1/videos/{post.remote_id}", action="metrics")
            metrics: dict[str, float] = {
                name: float(video[name]) for name in ("views", "likes", "comments") if name in video
            }
            snapshots.append(MetricsSnapshot(remote_id=post.remote_id, metrics=metrics, raw=video))
        return snapshots


# ------------------------------------------------------------------ helpers


def _filename(request: PublishRequest) -> str:
    """The file name the upload declares: this delivery's handle on its video."""
    return f"{request.idempotency_key}{request.video.path.suffix or '.mp4'}"


def _tags(hashtags: Sequence[str]) -> list[str]:
    """At most 5 tags of 2 to 30 characters, without '#'."""
    tags = [t.lstrip("#") for t in hashtags]
    return [t for t in tags if 2 <= len(t) <= 30][:5]


def _acknowledged(header: str | None) -> int:
    """Bytes held from a 308's ``Range: bytes=0-LAST`` (none: nothing yet)."""
    if not header:
        return 0
    try:
        return int(header.rpartition("-")[2]) + 1
    except ValueError:
        raise Transient(f"PeerTube answered an unreadable Range: {header!r}") from None


def _video(body: Any) -> dict[str, Any]:
    video = body.get("video") if isinstance(body, dict) else None
    if not isinstance(video, dict) or "uuid" not in video:
        raise Transient("PeerTube: the last chunk's answer names no video")
    return video


def _receipt(state: Mapping[str, Any], video: Mapping[str, Any]) -> UploadReceipt:
    return UploadReceipt(
        remote_id=str(video["uuid"]),
        state={**state, "video": {k: video[k] for k in ("id", "uuid", "shortUUID") if k in video}},
    )


def _post(video: Mapping[str, Any]) -> RemotePost:
    published = video.get("publishedAt")
    return RemotePost(
        remote_id=str(video["uuid"]),
        url=video.get("url"),
        published_at=datetime.fromisoformat(published) if published else None,
        raw=dict(video),
    )

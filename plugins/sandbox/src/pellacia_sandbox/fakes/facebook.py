"""Fake of Facebook Page video publishing: the Reels Publishing API and regular Page videos.

Served under ``/facebook`` (protocols.md §4), besides what ``MetaGraphFake``
serves (Facebook Login, token exchange, ``/me/accounts``, batch):

    POST /{ver}/{page}/video_reels         upload_phase=start -> {"video_id", "upload_url"}
    POST /video-upload/{ver}/{video}       rupload: Authorization: OAuth, offset, file_size, bytes
    GET  /video-upload/{ver}/{video}       -> {"offset": bytes held}
    POST /{ver}/{page}/video_reels         upload_phase=finish&video_id&video_state=PUBLISHED
                                           &description&title -> {"success": true, "post_id"}
    GET  /{ver}/{video}?fields=status,permalink_url,description,...
         status{video_status, uploading_phase{status, bytes_transferred},
                processing_phase{status}, publishing_phase{status, publish_status, publish_time}}
    GET  /{ver}/{page}/video_reels, /{ver}/{page}/videos   the Page's videos, newest first
    POST /{ver}/{app}/uploads              file_name&file_length&file_type -> {"id": "upload:<s>"}
    POST /{ver}/upload:<s>                 Authorization: OAuth, file_offset, bytes -> {"h": handle}
    GET  /{ver}/upload:<s>                 -> {"id", "file_offset"}
    POST /{ver}/{page}/videos              title&description&fbuploader_video_file_chunk=<h>
                                           -> {"id": video} (a regular Page video, published)
    GET  /{ver}/{video}/video_insights?metric=...
    GET  /{ver}/{page}?fields=followers_count,fan_count,name

Page calls need the Page token (a user token gets ``(#200)``). 30 API-published
reels per Page per 24-hour moving window (code 9 past it, on ``video_reels``).
A reel is processed for ``PROCESSING_S`` after its last byte; one whose bytes
are not an MP4/MOV ends in ``processing_phase.status = error``. Finishing
a reel twice returns the same post. Media bytes are hashed while they stream
in, never kept.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from pellacia_sandbox.fakes.meta_graph import (
    PROCESSING_S,
    GraphError,
    GraphToken,
    MetaGraphFake,
    Person,
    Upload,
    fields_of,
    graph_time,
    looks_like_video,
)

REELS_LIMIT = 30
WINDOW_S = 24 * 3600.0
MAX_DESCRIPTION = 63206  # a Page post's text limit
REEL_METRICS = {
    "blue_reels_play_count", "fb_reels_total_plays", "fb_reels_replay_count",
    "post_impressions_unique", "post_video_avg_time_watched", "post_video_view_time",
    "post_video_social_actions", "post_video_followers",
}  # fmt: skip
VIDEO_METRICS = {
    "total_video_views", "total_video_views_unique", "total_video_avg_time_watched",
    "total_video_view_total_time", "total_video_impressions",
}  # fmt: skip


class FacebookFake(MetaGraphFake):
    """Facebook Pages: reels and regular videos."""

    name = "facebook"
    buc_type = "pages"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.videos: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, Upload] = {}
        self.sessions: dict[str, dict[str, Any]] = {}  # regular-video upload sessions
        #: reels per Page per 24 h window (tests lower it to reach the limit)
        self.reels_limit = REELS_LIMIT
        from pellacia_sandbox.fakes.pages.facebook import FacebookWeb

        #: the Page reel composer (the browser layer's target)
        self.web = FacebookWeb(self)

    def reset(self) -> None:
        super().reset()
        self.reels_limit = REELS_LIMIT
        self.videos.clear()
        self.uploads.clear()
        self.sessions.clear()
        self.web.reset()

    def snapshot(self) -> dict[str, Any]:
        for video in self.videos.values():
            self._due(video)
        posts = [self._post_record(v) for v in self.videos.values() if v["published"]]
        return {
            "posts": posts,
            "uploads": [u.record() for u in self.uploads.values()],
            "videos": [
                {k: v for k, v in video.items() if k != "upload"} for video in self.videos.values()
            ],
            "tokens": {**self.stats, "live": len(self.graph_tokens)},
        }

    def _post_record(self, video: dict[str, Any]) -> dict[str, Any]:
        upload = self.uploads[video["upload"]]
        return {
            "id": video["id"],
            "post_id": video["post_id"],
            "kind": video["kind"],
            "title": video["title"],
            "caption": video["description"],
            "account": video["account"],
            "bytes": upload.offset,
            "sha256": upload.sha.hexdigest(),
            "permalink_url": video["permalink_url"],
        }

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post(r"/video-upload/{ver:v\d+\.\d+}/{id}", self._rupload)
        r.add_get(r"/video-upload/{ver:v\d+\.\d+}/{id}", self._rupload_get)
        r.add_post(r"/{ver:v\d+\.\d+}/{session:upload:[^/]+}", self._session_post)
        r.add_get(r"/{ver:v\d+\.\d+}/{session:upload:[^/]+}", self._session_get)
        self.web.setup(app)  # the Page reel composer (pages/facebook.py)

    def buc_object(self, person: Person) -> str:
        return person.page_id

    def quota_error(self) -> GraphError:
        return GraphError(
            400,
            f"(#9) This Page has published {self.reels_limit} reels through the API in the last "
            "24 hours; try again later",
            9,
        )

    # ------------------------------------------------------------ uploads

    async def _rupload(self, request: web.Request) -> web.Response:
        return await self.rupload(request, self.uploads.get(request.match_info["id"]))

    async def _rupload_get(self, request: web.Request) -> web.Response:
        return await self.rupload_status(request, self.uploads.get(request.match_info["id"]))

    async def _session_post(self, request: web.Request) -> web.Response:
        """The Resumable Upload API's transfer: ``file_offset`` header, raw body."""
        session = self.sessions.get(request.match_info["session"])
        if session is None:
            return GraphError(400, "(#100) Invalid upload session", 100).response()
        upload = self.uploads[session["upload"]]
        # the Resumable Upload API has no file_size header: the session knows the length
        headers = {
            "offset": request.headers.get("file_offset", ""),
            "file_size": str(session["length"]),
        }
        forwarded = request.clone(headers={**request.headers, **headers})
        answer = await self.rupload(forwarded, upload)
        if answer.status != 200:
            return answer
        return web.json_response({"h": session["handle"]})

    async def _session_get(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["session"])
        try:
            who = self.who(self._oauth(request) or self.token_of(request))
        except GraphError as exc:
            return exc.response()
        if session is None or session["account"] != who.person.account:
            return GraphError(400, "(#100) Invalid upload session", 100).response()
        upload = self.uploads[session["upload"]]
        return web.json_response({"id": session["id"], "file_offset": upload.offset})

    # ------------------------------------------------------------ nodes

    def _page(self, node: str, who: GraphToken) -> Person:
        if node != who.person.page_id:
            raise GraphError(
                400,
                f"Unsupported request. Object with ID '{node}' does not exist, cannot be loaded "
                "due to missing permissions, or does not support this operation",
                100,
                subcode=33,
            )
        if who.kind != "page":
            raise GraphError(
                403, "(#200) This call requires a Page access token for this Page", 200
            )
        return who.person

    def graph_get(self, parts: list[str], query: dict[str, str], who: GraphToken) -> Any:
        node, edge = parts[0], parts[1] if len(parts) > 1 else None
        if node in self.videos:
            video = self.videos[node]
            self._page(video["page_id"], who)
            if edge is None:
                return self._video_fields(video, fields_of(query, "id"))
            if edge == "video_insights":
                return self._insights(video, query)
        elif node == who.person.page_id:
            person = self._page(node, who)
            if edge in ("video_reels", "videos"):
                return self._list(person, query, reels=edge == "video_reels")
            if edge is None:
                values = {"id": node, "name": person.page_name, "followers_count": 2400,
                          "fan_count": 2100}  # fmt: skip
                return {f: values[f] for f in fields_of(query, "id,name") if f in values}
        raise GraphError(
            400, f"Unsupported get request. Object with ID '{node}' does not exist", 100, subcode=33
        )

    def graph_post(self, parts: list[str], form: dict[str, str], who: GraphToken) -> Any:
        if len(parts) == 2 and parts[1] == "video_reels":
            person = self._page(parts[0], who)
            phase = form.get("upload_phase")
            if phase == "start":
                return self._start(person)
            if phase == "finish":
                return self._finish(person, form)
            raise GraphError(400, "(#100) upload_phase must be start or finish", 100)
        if len(parts) == 2 and parts[1] == "uploads":
            return self._open_session(parts[0], form, who)
        if len(parts) == 2 and parts[1] == "videos":
            return self._page_video(self._page(parts[0], who), form)
        raise GraphError(400, f"Unsupported post request: /{'/'.join(parts)}", 100)

    # ------------------------------------------------------------ reels

    def _published_reels(self, person: Person) -> int:
        since = self.clock.time() - WINDOW_S
        return sum(
            1
            for v in self.videos.values()
            if v["page_id"] == person.page_id and v["kind"] == "reel" and v["finished_at"]
            and v["finished_at"] > since
        )  # fmt: skip

    def _new_video(self, person: Person, kind: str) -> dict[str, Any]:
        vid = self.new_id()
        self.uploads[vid] = Upload(id=vid, account=person.account)
        path = f"/reel/{vid}" if kind == "reel" else f"/{person.page_id}/videos/{vid}"
        video: dict[str, Any] = {
            "id": vid,
            "kind": kind,
            "page_id": person.page_id,
            "account": person.account,
            "upload": vid,
            "created_at": self.clock.time(),
            "title": "",
            "description": "",
            "finish_requested": False,
            "finished_at": None,
            "published": False,
            "post_id": None,
            "permalink_url": self.url(path),
        }
        self.videos[vid] = video
        return video

    def _start(self, person: Person) -> dict[str, Any]:
        if self._published_reels(person) >= self.reels_limit:
            raise self.quota_error()
        video = self._new_video(person, "reel")
        upload_url = self.url(f"/video-upload/{self.version}/{video['id']}")
        return {"video_id": video["id"], "upload_url": upload_url}

    def _finish(self, person: Person, form: dict[str, str]) -> dict[str, Any]:
        video = self.videos.get(form.get("video_id", ""))
        if video is None or video["page_id"] != person.page_id or video["kind"] != "reel":
            raise GraphError(400, "(#100) Invalid video_id", 100)
        if video["finish_requested"]:  # finishing again returns the same post
            return {"success": True, "post_id": video["post_id"]}
        if not self.uploads[video["id"]].complete:
            raise GraphError(
                400,
                "(#6000) There was a problem uploading your video file: upload incomplete",
                6000,
            )
        state = form.get("video_state", "")
        if state not in ("PUBLISHED", "DRAFT", "SCHEDULED"):
            raise GraphError(400, "(#100) video_state must be PUBLISHED, DRAFT or SCHEDULED", 100)
        description = form.get("description", "")
        if len(description) > MAX_DESCRIPTION:
            raise GraphError(400, "(#100) The description is too long", 100)
        if state == "PUBLISHED" and self._published_reels(person) >= self.reels_limit:
            raise self.quota_error()
        if state == "SCHEDULED":
            video["scheduled_for"] = self._schedule_time(form)
        video.update(
            title=form.get("title", ""),
            description=description,
            finish_requested=True,
            state=state,
            post_id=f"{person.page_id}_{video['id']}",
        )
        if state == "PUBLISHED":
            video["finished_at"] = self.clock.time()
            video["published"] = True  # the post exists from here; it shows once processed
        return {"success": True, "post_id": video["post_id"]}

    def _schedule_time(self, form: dict[str, str]) -> float:
        """``scheduled_publish_time``: 10 minutes to 30 days ahead (Page posts' window)."""
        try:
            when = float(form.get("scheduled_publish_time", ""))
        except ValueError:
            raise GraphError(400, "(#100) scheduled_publish_time is required", 100) from None
        ahead = when - self.clock.time()
        if not 600 <= ahead <= 30 * 86400:
            raise GraphError(
                400, "(#100) The scheduled publish time must be 10 minutes to 30 days ahead", 100
            )
        return when

    def _due(self, video: dict[str, Any]) -> float | None:
        """A scheduled reel's time; once it passed, the reel is published (Facebook does it)."""
        due: float | None = video.get("scheduled_for")
        if due is not None and not video["published"] and self.clock.time() >= due:
            video.update(published=True, finished_at=due)
        return due

    def _phases(self, video: dict[str, Any]) -> dict[str, Any]:
        upload = self.uploads[video["upload"]]
        now = self.clock.time()
        due = self._due(video)
        processed = upload.completed_at is not None and now >= upload.completed_at + PROCESSING_S
        broken = processed and not looks_like_video(upload.head)
        processing: dict[str, Any]
        if not upload.complete:
            status, processing = "uploading", {"status": "not_started"}
        elif broken:
            status = "error"
            processing = {
                "status": "error",
                "errors": [{"code": 1363008, "message": "The video file is not supported"}],
            }
        elif processed:
            status, processing = "ready", {"status": "complete"}
        else:
            status, processing = "processing", {"status": "in_progress"}
        publishing: dict[str, Any] = {"status": "not_started", "publish_status": "not_published"}
        if due is not None and not video["published"]:
            publishing = {
                "status": "not_started",
                "publish_status": "scheduled",
                "publish_time": int(due),
            }
        if video["published"] and not broken:
            done = processed
            publishing = {
                "status": "complete" if done else "in_progress",
                "publish_status": "published" if done else "not_published",
                "publish_time": int(video["finished_at"]),
            }
        return {
            "video_status": status,
            "uploading_phase": {
                "status": "complete" if upload.complete else "in_progress",
                "bytes_transferred": upload.offset,
            },
            "processing_phase": processing,
            "publishing_phase": publishing,
        }

    # ------------------------------------------------------------ regular videos

    def _open_session(self, app_id: str, form: dict[str, str], who: GraphToken) -> dict[str, Any]:
        try:
            length = int(form.get("file_length", ""))
        except ValueError:
            raise GraphError(400, "(#100) file_length must be a positive integer", 100) from None
        if length <= 0 or not form.get("file_type", "").startswith("video/"):
            raise GraphError(400, "(#100) file_length and a video/* file_type are required", 100)
        sid = f"upload:{secrets.token_urlsafe(12)}"
        upload = Upload(id=sid, account=who.person.account, file_size=length)
        self.uploads[sid] = upload
        self.sessions[sid] = {
            "id": sid,
            "app_id": app_id,
            "account": who.person.account,
            "length": length,
            "upload": sid,
            "handle": f"4:{secrets.token_urlsafe(16)}",
        }
        return {"id": sid}

    def _page_video(self, person: Person, form: dict[str, str]) -> dict[str, Any]:
        handle = form.get("fbuploader_video_file_chunk", "")
        session = next((s for s in self.sessions.values() if s["handle"] == handle), None)
        if session is None or session["account"] != person.account:
            raise GraphError(400, "(#100) Invalid fbuploader_video_file_chunk handle", 100)
        if not self.uploads[session["upload"]].complete:
            raise GraphError(400, "(#6000) The upload session is not complete", 6000)
        video = self._new_video(person, "video")
        del self.uploads[video["id"]]
        video.update(
            upload=session["upload"],
            title=form.get("title", ""),
            description=form.get("description", ""),
            finish_requested=True,
            finished_at=self.clock.time(),
            published=True,
            post_id=f"{person.page_id}_{video['id']}",
        )
        return {"id": video["id"]}

    # ------------------------------------------------------------ reading

    def _video_fields(self, video: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        values = {
            "id": video["id"],
            "status": self._phases(video),
            "permalink_url": video["permalink_url"],
            "description": video["description"],
            "title": video["title"],
            "created_time": graph_time(video["created_at"]),
            "updated_time": graph_time(video["finished_at"] or video["created_at"]),
            "post_id": video["post_id"],
            "length": 4.0,
        }
        return {f: values[f] for f in fields if f in values}

    def _list(self, person: Person, query: dict[str, str], *, reels: bool) -> dict[str, Any]:
        kind = "reel" if reels else "video"
        mine = sorted(
            (
                v
                for v in self.videos.values()
                if v["page_id"] == person.page_id and v["kind"] == kind
            ),
            key=lambda v: v["created_at"],
            reverse=True,
        )
        limit = min(int(query.get("limit") or 25), 100)
        start = int(query.get("after") or 0)
        fields = fields_of(query, "id,description,updated_time")
        answer: dict[str, Any] = {
            "data": [self._video_fields(v, fields) for v in mine[start : start + limit]]
        }
        if start + limit < len(mine):
            after = str(start + limit)
            edge = "video_reels" if reels else "videos"
            answer["paging"] = {
                "cursors": {"after": after},
                "next": self.url(f"/{self.version}/{person.page_id}/{edge}?after={after}"),
            }
        return answer

    def _insights(self, video: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        known = REEL_METRICS if video["kind"] == "reel" else VIDEO_METRICS
        wanted = fields_of({"fields": query.get("metric", "")}, ",".join(sorted(known)))
        unknown = [m for m in wanted if m not in known]
        if unknown:
            raise GraphError(
                400, f"(#100) The value must be a valid insights metric: {unknown[0]}", 100
            )
        plays = 0
        if video["published"] and video["finished_at"]:
            plays = int(max(0.0, self.clock.time() - video["finished_at"]) * 5)
        values: dict[str, Any] = {
            "blue_reels_play_count": plays,
            "fb_reels_total_plays": plays + plays // 10,
            "fb_reels_replay_count": plays // 10,
            "post_impressions_unique": plays * 3 // 4,
            "post_video_avg_time_watched": 3100,
            "post_video_view_time": plays * 3100,
            "post_video_social_actions": {
                "REACTION": plays // 8,
                "COMMENT": plays // 40,
                "SHARE": plays // 30,
            },
            "total_video_views": plays,
            "total_video_views_unique": plays * 3 // 4,
            "total_video_avg_time_watched": 3100,
            "total_video_view_total_time": plays * 3100,
            "total_video_impressions": plays * 2,
        }
        data = [
            {
                "name": metric,
                "period": "lifetime",
                "title": metric.replace("_", " "),
                "description": f"sandbox {metric}",
                "id": f"{video['id']}/video_insights/{metric}/lifetime",
                # a metric the Page has no data for yet is an empty set (post_video_followers)
                "values": [{"value": values[metric]}] if metric in values else [],
            }
            for metric in wanted
        ]
        return {"data": data}

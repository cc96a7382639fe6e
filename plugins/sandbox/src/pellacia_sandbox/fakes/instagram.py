"""Fake of Instagram's Graph API (with Facebook Login): Reels through media containers.

Served under ``/instagram`` (protocols.md §3), besides what ``MetaGraphFake``
serves (Facebook Login, token exchange, ``/me/accounts``, batch):

    POST /{ver}/{ig-user}/media            media_type=REELS&upload_type=resumable&caption=...
                                           -> {"id": container, "uri": rupload URI}
    POST /ig-api-upload/{ver}/{container}  rupload: Authorization: OAuth, offset, file_size, bytes
    GET  /ig-api-upload/{ver}/{container}  -> {"offset": bytes held}
    GET  /{ver}/{container}?fields=status_code,status
                                           IN_PROGRESS | FINISHED | ERROR | EXPIRED | PUBLISHED
    POST /{ver}/{ig-user}/media_publish    creation_id=container -> {"id": media}
    GET  /{ver}/{ig-user}/media            the account's media, newest first (limit, after)
    GET  /{ver}/{media}?fields=...         permalink, caption, timestamp, media_product_type, ...
    GET  /{ver}/{media}/insights?metric=   views, reach, likes, comments, shares, saved,
                                           total_interactions, ig_reels_avg_watch_time,
                                           ig_reels_video_view_total_time (deprecated ones: #100)
    GET  /{ver}/{ig-user}/content_publishing_limit?fields=quota_usage,config
    GET  /{ver}/{ig-user}?fields=followers_count,media_count,username

A container expires 24 h after its creation unless published; a published
container answers PUBLISHED and refuses a second ``media_publish``; bytes
that are not an MP4/MOV make the container ERROR (2207026). 50 posts per
24-hour moving window (the documented figure; code 9, subcode 2207042 past
it). ``media_type=VIDEO`` is refused (gone since 2023-11). Media bytes are
hashed while they stream in, never kept.
"""

from __future__ import annotations

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

CONTAINER_TTL_S = 24 * 3600.0
PUBLISH_LIMIT = 50
PUBLISH_WINDOW_S = 24 * 3600.0
MAX_CAPTION = 2200
INSIGHTS = frozenset(
    {
        "views", "reach", "likes", "comments", "shares", "saved", "total_interactions",
        "ig_reels_avg_watch_time", "ig_reels_video_view_total_time", "follows", "profile_visits",
    }
)  # fmt: skip
DEPRECATED = frozenset(
    {"plays", "clips_replays_count", "ig_reels_aggregated_all_plays_count", "impressions",
     "video_views"}
)  # fmt: skip
MEDIA_FIELDS = "id,caption,media_type,media_product_type,permalink,timestamp"


class InstagramFake(MetaGraphFake):
    """Instagram professional accounts reached through their Facebook Page."""

    name = "instagram"
    buc_type = "instagram"

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.containers: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, Upload] = {}
        self.media: dict[str, dict[str, Any]] = {}
        #: posts per 24 h window (tests lower it to reach the limit)
        self.publish_limit = PUBLISH_LIMIT
        from pellacia_sandbox.fakes.pages.instagram import InstagramWeb

        #: the web Create flow (the browser layer's target)
        self.web = InstagramWeb(self)

    def reset(self) -> None:
        super().reset()
        self.publish_limit = PUBLISH_LIMIT
        self.containers.clear()
        self.uploads.clear()
        self.media.clear()
        self.web.reset()

    def snapshot(self) -> dict[str, Any]:
        return {
            "posts": [dict(m) for m in self.media.values()],
            "uploads": [u.record() for u in self.uploads.values()],
            "containers": [
                {**c, "status_code": self._status(c)[0]} for c in self.containers.values()
            ],
            "tokens": {**self.stats, "live": len(self.graph_tokens)},
        }

    def routes(self, app: web.Application) -> None:
        app.router.add_post(r"/ig-api-upload/{ver:v\d+\.\d+}/{id}", self._rupload)
        app.router.add_get(r"/ig-api-upload/{ver:v\d+\.\d+}/{id}", self._rupload_get)
        self.web.setup(app)  # the web Create flow and profile pages (pages/instagram.py)

    def buc_object(self, person: Person) -> str:
        return person.ig_id

    def quota_error(self) -> GraphError:
        return GraphError(
            400,
            "Application request limit reached",
            9,
            subcode=2207042,
            user_msg="You have reached the maximum number of posts that is allowed to be "
            "published by Content Publishing API.",
        )

    # ------------------------------------------------------------ rupload

    async def _rupload(self, request: web.Request) -> web.Response:
        return await self.rupload(request, self.uploads.get(request.match_info["id"]))

    async def _rupload_get(self, request: web.Request) -> web.Response:
        return await self.rupload_status(request, self.uploads.get(request.match_info["id"]))

    # ------------------------------------------------------------ nodes

    def _account(self, node: str, who: GraphToken) -> Person:
        if node != who.person.ig_id:
            raise GraphError(
                400,
                f"Unsupported request - method type: get. Object with ID '{node}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation",
                100,
                subcode=33,
            )
        return who.person

    def graph_get(self, parts: list[str], query: dict[str, str], who: GraphToken) -> Any:
        node, edge = parts[0], parts[1] if len(parts) > 1 else None
        if node in self.containers and edge is None:
            return self._container(self.containers[node], query, who)
        if node in self.media:
            media = self.media[node]
            self._account(media["ig_user"], who)
            if edge is None:
                return self._media_fields(media, fields_of(query, "id"))
            if edge == "insights":
                return self._insights(media, query)
        elif node == who.person.ig_id:
            if edge == "media":
                return self._list(who.person, query)
            if edge == "content_publishing_limit":
                return {"data": [self._limit(who.person)]}
            if edge is None:
                return self._profile(who.person, fields_of(query, "id"))
        raise GraphError(
            400, f"Unsupported get request. Object with ID '{node}' does not exist", 100, subcode=33
        )

    def graph_post(self, parts: list[str], form: dict[str, str], who: GraphToken) -> Any:
        if len(parts) == 2 and parts[1] == "media":
            return self._create(self._account(parts[0], who), form)
        if len(parts) == 2 and parts[1] == "media_publish":
            return self._publish(self._account(parts[0], who), form)
        raise GraphError(400, f"Unsupported post request: /{'/'.join(parts)}", 100)

    # ------------------------------------------------------------ containers

    def _create(self, person: Person, form: dict[str, str]) -> dict[str, Any]:
        kind = form.get("media_type", "")
        if kind != "REELS":
            raise GraphError(
                400,
                f"(#100) The parameter media_type {kind or '(none)'} is not supported here: "
                "single videos are published with media_type=REELS",
                100,
            )
        if form.get("upload_type") != "resumable":
            raise GraphError(
                400,
                "(#100) The sandbox cannot fetch video_url: use upload_type=resumable",
                100,
            )
        caption = form.get("caption", "")
        if len(caption) > MAX_CAPTION:
            raise GraphError(400, "(#100) The caption is too long", 100, subcode=2207050)
        cid = self.new_id()
        ver = self.version
        self.containers[cid] = {
            "id": cid,
            "ig_user": person.ig_id,
            "account": person.account,
            "caption": caption,
            "share_to_feed": form.get("share_to_feed", "true"),
            "created_at": self.clock.time(),
            "media_id": None,
        }
        self.uploads[cid] = Upload(id=cid, account=person.account)
        return {"id": cid, "uri": self.url(f"/ig-api-upload/{ver}/{cid}")}

    def _status(self, container: dict[str, Any]) -> tuple[str, str]:
        upload = self.uploads[container["id"]]
        now = self.clock.time()
        if container["media_id"]:
            return "PUBLISHED", "Published"
        if now >= container["created_at"] + CONTAINER_TTL_S:
            return "EXPIRED", "Expired: not published within 24 hours"
        if upload.complete and upload.completed_at is not None:
            if not looks_like_video(upload.head):
                return "ERROR", "Error: 2207026: unsupported video format (not MP4/MOV)"
            if now >= upload.completed_at + PROCESSING_S:
                return (
                    "FINISHED",
                    "Finished: Media has been uploaded and it is ready to be published.",
                )
        return "IN_PROGRESS", "In Progress: Media is still being processed."

    def _container(self, container: dict[str, Any], query: dict[str, str], who: GraphToken) -> Any:
        self._account(container["ig_user"], who)
        code, status = self._status(container)
        values = {
            "id": container["id"],
            "status_code": code,
            "status": status,
            "copyright_check_status": {"status": "completed", "matches_found": False},
        }
        return {f: values[f] for f in fields_of(query, "id") if f in values}

    def _publish(self, person: Person, form: dict[str, str]) -> dict[str, Any]:
        container = self.containers.get(form.get("creation_id", ""))
        if container is None or container["ig_user"] != person.ig_id:
            raise GraphError(400, "(#100) Param creation_id is not a valid container", 100)
        code, status = self._status(container)
        if code == "PUBLISHED":
            raise GraphError(
                400, "(#9007) The media has already been published", 9007, subcode=2207006
            )
        if code == "EXPIRED":
            raise GraphError(400, "(#9007) The media container expired", 9007, subcode=2207008)
        if code == "ERROR":
            raise GraphError(400, status, 9007, subcode=2207026, user_msg=status)
        if code != "FINISHED":
            raise GraphError(
                400,
                "Media ID is not available",
                9007,
                subcode=2207027,
                user_msg="The media is not ready for publishing, please wait for a moment",
            )
        if self._limit(person)["quota_usage"] >= self.publish_limit:
            raise self.quota_error()
        upload = self.uploads[container["id"]]
        media_id = self.new_id()
        container["media_id"] = media_id
        now = self.clock.time()
        self.media[media_id] = {
            "id": media_id,
            "container_id": container["id"],
            "ig_user": person.ig_id,
            "account": person.account,
            "caption": container["caption"],
            "bytes": upload.offset,
            "sha256": upload.sha.hexdigest(),
            "permalink": self.url(f"/reel/{media_id[-11:]}/"),
            "published_at": now,
        }
        return {"id": media_id}

    def _limit(self, person: Person) -> dict[str, Any]:
        since = self.clock.time() - PUBLISH_WINDOW_S
        used = sum(
            1
            for m in self.media.values()
            if m["ig_user"] == person.ig_id and m["published_at"] > since
        )
        return {
            "quota_usage": used,
            "config": {"quota_total": self.publish_limit, "quota_duration": int(PUBLISH_WINDOW_S)},
        }

    # ------------------------------------------------------------ media

    def _media_fields(self, media: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        views = self._views(media)
        values = {
            "id": media["id"],
            "caption": media["caption"],
            "media_type": "VIDEO",
            "media_product_type": "REELS",
            "permalink": media["permalink"],
            "timestamp": graph_time(media["published_at"]),
            "username": self.people[media["account"]].ig_username,
            "like_count": views // 10,
            "comments_count": views // 50,
        }
        return {f: values[f] for f in fields if f in values}

    def _list(self, person: Person, query: dict[str, str]) -> dict[str, Any]:
        mine = sorted(
            (m for m in self.media.values() if m["ig_user"] == person.ig_id),
            key=lambda m: m["published_at"],
            reverse=True,
        )
        limit = min(int(query.get("limit") or 25), 100)
        start = int(query.get("after") or 0)
        page = mine[start : start + limit]
        fields = fields_of(query, "id")
        answer: dict[str, Any] = {"data": [self._media_fields(m, fields) for m in page]}
        if start + limit < len(mine):
            after = str(start + limit)
            answer["paging"] = {
                "cursors": {"after": after},
                "next": self.url(
                    f"/{self.version}/{person.ig_id}/media?limit={limit}&after={after}"
                ),
            }
        return answer

    def _views(self, media: dict[str, Any]) -> int:
        """Grows with the post's age on the sandbox clock (0 right after publishing)."""
        return int(max(0.0, self.clock.time() - media["published_at"]) * 3)

    def _insights(self, media: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        wanted = fields_of({"fields": query.get("metric", "")}, "")
        if not wanted:
            raise GraphError(400, "(#100) The parameter metric is required", 100)
        for metric in wanted:
            if metric in DEPRECATED or metric not in INSIGHTS:
                raise GraphError(
                    400,
                    f"(#100) metric[{wanted.index(metric)}] must be one of the following values: "
                    + ", ".join(sorted(INSIGHTS)),
                    100,
                )
        views = self._views(media)
        values = {
            "views": views,
            "reach": views * 4 // 5,
            "likes": views // 10,
            "comments": views // 50,
            "shares": views // 40,
            "saved": views // 60,
            "total_interactions": views // 10 + views // 50 + views // 40 + views // 60,
            "ig_reels_avg_watch_time": 2400,
            "ig_reels_video_view_total_time": views * 2400,
        }
        data = []
        for metric in wanted:
            entry: dict[str, Any] = {
                "name": metric,
                "period": "lifetime",
                "title": metric.replace("_", " ").title(),
                "description": f"sandbox {metric}",
                "id": f"{media['id']}/insights/{metric}/lifetime",
                # unavailable data is an empty set, not 0 (follows/profile_visits on reels)
                "values": [{"value": values[metric]}] if metric in values else [],
            }
            data.append(entry)
        return {"data": data}

    def _profile(self, person: Person, fields: list[str]) -> dict[str, Any]:
        count = sum(1 for m in self.media.values() if m["ig_user"] == person.ig_id)
        values = {
            "id": person.ig_id,
            "username": person.ig_username,
            "followers_count": 1200,
            "follows_count": 80,
            "media_count": count,
        }
        return {f: values[f] for f in fields if f in values}

"""Post metrics through ``GET /2/tweets?ids=`` (1 to 100 ids a call).

Public metrics (likes, replies, reposts, quotes, bookmarks, impressions), the
author-only non-public and organic ones (X gives them for the account's own
posts of the last 30 days, else an ``errors[]`` entry beside ``data``), and the
video's own ``view_count`` through ``expansions=attachments.media_keys``. X's
2026 spec renames ``retweet_count`` to ``repost_count``: both are read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pellacia.contract import MetricsSnapshot, RemotePost
from pellacia.log import get_logger

from pellacia_twitter.client import XApi, problem_kind

BATCH = 100
TWEET_FIELDS = "public_metrics,non_public_metrics,organic_metrics,created_at,attachments"
MEDIA_FIELDS = "media_key,type,duration_ms,public_metrics,non_public_metrics"

log = get_logger("pellacia_twitter.metrics")


def _count(metrics: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = metrics.get(name)
        if isinstance(value, int | float):
            return float(value)
    return None


def snapshot_of(
    tweet: Mapping[str, Any], media: Mapping[str, Mapping[str, Any]]
) -> MetricsSnapshot:
    """The unified metrics of one post (its raw fields and its video's kept beside)."""
    public = tweet.get("public_metrics") or {}
    private = tweet.get("non_public_metrics") or {}
    keys = (tweet.get("attachments") or {}).get("media_keys") or []
    videos = [media[k] for k in keys if k in media]
    video_views = [
        v
        for v in (_count(m.get("public_metrics") or {}, "view_count") for m in videos)
        if v is not None
    ]
    impressions = _count(public, "impression_count") or _count(private, "impression_count")
    reposts = _count(public, "repost_count", "retweet_count")
    quotes = _count(public, "quote_count")
    found: dict[str, float | None] = {
        "views": sum(video_views) if video_views else impressions,
        "impressions": impressions,
        "likes": _count(public, "like_count"),
        "comments": _count(public, "reply_count"),
        "shares": (reposts or 0.0) + (quotes or 0.0) if reposts is not None else quotes,
        "saves": _count(public, "bookmark_count"),
    }
    clicks = [_count(private, "url_link_clicks"), _count(private, "user_profile_clicks")]
    if any(c is not None for c in clicks):
        found["clicks"] = sum(c or 0.0 for c in clicks)
    metrics = {k: v for k, v in found.items() if v is not None}
    raw = {**tweet, "media": videos}
    return MetricsSnapshot(remote_id=str(tweet["id"]), metrics=metrics, raw=raw)


async def fetch(api: XApi, posts: Sequence[RemotePost]) -> list[MetricsSnapshot]:
    """Snapshots of ``posts`` (order kept; posts X no longer returns are left out)."""
    ids = [p.remote_id for p in posts if p.remote_id.isdigit()]
    found: dict[str, MetricsSnapshot] = {}
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        params = {
            "ids": ",".join(batch),
            "tweet.fields": TWEET_FIELDS,
            "expansions": "attachments.media_keys",
            "media.fields": MEDIA_FIELDS,
        }
        # accept a 200 holding only errors[]: every post of the batch was deleted
        reply = await api.request(
            "GET", "/2/tweets", action="post lookup", params=params, accept=(200,)
        )
        body = reply.json()
        answer: dict[str, Any] = body if isinstance(body, dict) else {}
        for problem in answer.get("errors") or ():
            if isinstance(problem, dict):  # partial success: say what is missing, keep the rest
                log.info(
                    "twitter.metrics_partial",
                    kind=problem_kind(problem),
                    value=problem.get("value") or problem.get("resource_id"),
                    field=problem.get("field"),
                )
        media = {
            str(m["media_key"]): m
            for m in (answer.get("includes") or {}).get("media") or ()
            if isinstance(m, dict) and m.get("media_key")
        }
        for tweet in answer.get("data") or ():
            if isinstance(tweet, dict) and tweet.get("id"):
                snap = snapshot_of(tweet, media)
                found[snap.remote_id] = snap
    return [found[i] for i in ids if i in found]

"""Post metrics through Graph batch requests (at most 50 operations, each counted).

Each post's insights are one ``GET`` operation of the batch; the answer is
an array in request order of ``{code, headers, body}`` (``body`` a JSON
string). Insight values come as ``data[{name, values:[{value}]}]``; an empty
``values`` means "not available" (too recent, too few viewers) and the metric
is left out of the snapshot, never stored as 0. A post with too few viewers
(``(#10) Not enough viewers``) gets a snapshot without metrics; a post whose
operation failed otherwise (deleted) is left out: core marks it removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from pellacia.contract import MetricsSnapshot, RemotePost
from pellacia.errors import Transient

from pellacia_meta.graph import GraphApi

BATCH = 50

#: raw metric -> (unified name, factor): Instagram media insights
INSTAGRAM_METRICS: Mapping[str, tuple[str, float]] = {
    "views": ("views", 1.0),
    "reach": ("reach", 1.0),
    "likes": ("likes", 1.0),
    "comments": ("comments", 1.0),
    "shares": ("shares", 1.0),
    "saved": ("saves", 1.0),
    "total_interactions": ("", 1.0),
    "ig_reels_avg_watch_time": ("avg_view_duration_s", 0.001),  # milliseconds
    "ig_reels_video_view_total_time": ("watch_time_s", 0.001),
}
#: Facebook reels and regular videos (video_insights: each kind answers its own names)
FACEBOOK_METRICS: Mapping[str, tuple[str, float]] = {
    "total_video_views": ("views", 1.0),
    "total_video_views_unique": ("reach", 1.0),
    "total_video_avg_time_watched": ("avg_view_duration_s", 0.001),
    "total_video_view_total_time": ("watch_time_s", 0.001),
    "blue_reels_play_count": ("views", 1.0),
    "fb_reels_total_plays": ("", 1.0),
    "post_impressions_unique": ("reach", 1.0),
    "post_video_avg_time_watched": ("avg_view_duration_s", 0.001),
    "post_video_view_time": ("watch_time_s", 0.001),
    "post_video_social_actions": ("", 1.0),
}
#: post_video_social_actions keys -> unified names
SOCIAL_ACTIONS = {"REACTION": "likes", "COMMENT": "comments", "SHARE": "shares"}


def read_insights(data: Any, mapping: Mapping[str, tuple[str, float]]) -> dict[str, float]:
    """Unified metrics from an insights answer (empty value sets left out)."""
    metrics: dict[str, float] = {}
    for entry in (data or {}).get("data") or []:
        if not isinstance(entry, dict) or not entry.get("values"):
            continue
        value = entry["values"][-1].get("value")
        name = str(entry.get("name"))
        if isinstance(value, dict) and name == "post_video_social_actions":
            for key, unified in SOCIAL_ACTIONS.items():
                if isinstance(value.get(key), int | float):
                    metrics[unified] = float(value[key])
            continue
        unified, factor = mapping.get(name, ("", 1.0))
        if unified and isinstance(value, int | float):
            metrics[unified] = float(value) * factor
    return metrics


async def batch_get(api: GraphApi, urls: Sequence[str]) -> list[tuple[int, Any]]:
    """``(code, parsed body)`` of each relative GET, in order, 50 per batch request."""
    answers: list[tuple[int, Any]] = []
    for start in range(0, len(urls), BATCH):
        ops = [{"method": "GET", "relative_url": u} for u in urls[start : start + BATCH]]
        reply = await api.request(
            "POST",
            api.path(""),
            action="batch request",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data=urlencode({"batch": json.dumps(ops), "include_headers": "false"}).encode(),
        )
        results = reply.json()
        if not isinstance(results, list) or len(results) != len(ops):
            raise Transient(f"{api.name} batch request: unexpected answer", platform=api.platform)
        for result in results:
            if not isinstance(result, dict):  # null: the operation timed out on Meta's side
                answers.append((0, None))
                continue
            try:
                body = json.loads(result.get("body") or "null")
            except ValueError:
                body = None
            answers.append((int(result.get("code") or 0), body))
    return answers


async def fetch(
    api: GraphApi,
    posts: Sequence[RemotePost],
    url_of: Callable[[str], str],
    mapping: Mapping[str, tuple[str, float]],
) -> list[MetricsSnapshot]:
    """One snapshot per post whose insights came back."""
    answers = await batch_get(api, [url_of(p.remote_id) for p in posts])
    snapshots = []
    for post, (code, body) in zip(posts, answers, strict=True):
        if code == 200 and isinstance(body, dict):
            metrics = read_insights(body, mapping)
            snapshots.append(MetricsSnapshot(remote_id=post.remote_id, metrics=metrics, raw=body))
        elif _too_few_viewers(body):  # the post exists: its metrics are not available yet
            snapshots.append(MetricsSnapshot(remote_id=post.remote_id, metrics={}, raw=body))
    return snapshots


def _too_few_viewers(body: Any) -> bool:
    """Graph's ``(#10) Not enough viewers`` error (code 10) on an insights read."""
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == 10

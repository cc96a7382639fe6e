"""Post metrics through the Display API's ``video/query`` (at most 20 ids a call)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pellacia.contract import MetricsSnapshot, RemotePost

from pellacia_tiktok.client import TikTokClient

BATCH = 20
FIELDS = "id,create_time,title,duration,share_url,view_count,like_count,comment_count,share_count"
#: TikTok field -> unified metric name
UNIFIED = {
    "view_count": "views",
    "like_count": "likes",
    "comment_count": "comments",
    "share_count": "shares",
}


def snapshot_of(video: Mapping[str, Any]) -> MetricsSnapshot:
    """A ``MetricsSnapshot`` from one video object (raw fields kept beside)."""
    metrics = {
        unified: float(video[raw]) for raw, unified in UNIFIED.items() if video.get(raw) is not None
    }
    return MetricsSnapshot(remote_id=str(video["id"]), metrics=metrics, raw=dict(video))


def is_video_id(remote_id: str) -> bool:
    """Inbox drafts carry a publish_id, not a video id: they have no metrics."""
    return remote_id.isdigit()


async def fetch(client: TikTokClient, posts: Sequence[RemotePost]) -> list[MetricsSnapshot]:
    """Snapshots of ``posts`` (order kept; posts TikTok no longer returns are left out).

    An inbox draft (a publish id) exists but has no metrics yet: a snapshot
    without metrics, not left out (core would take it for a deleted post).
    """
    ids = [p.remote_id for p in posts if is_video_id(p.remote_id)]
    found: dict[str, MetricsSnapshot] = {
        p.remote_id: MetricsSnapshot(remote_id=p.remote_id, metrics={}, raw={"inbox_draft": True})
        for p in posts
        if not is_video_id(p.remote_id)
    }
    for start in range(0, len(ids), BATCH):
        data = await client.video_query(ids[start : start + BATCH], fields=FIELDS)
        for video in data.get("videos") or []:
            if isinstance(video, dict) and video.get("id") is not None:
                snap = snapshot_of(video)
                found[snap.remote_id] = snap
    return [found[p.remote_id] for p in posts if p.remote_id in found]

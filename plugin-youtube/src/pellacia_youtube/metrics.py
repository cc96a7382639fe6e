"""Post statistics through ``videos.list part=statistics`` (50 ids per call, 1 unit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pellacia.contract import MetricsSnapshot, RemotePost

from pellacia_youtube.client import YouTubeApi

BATCH = 50
#: YouTube statistics field -> unified metric name (the API sends strings)
FIELDS: Mapping[str, str] = {
    "viewCount": "views",
    "likeCount": "likes",
    "commentCount": "comments",
}


def unify(statistics: Mapping[str, Any]) -> dict[str, float]:
    """Unified metrics from a ``statistics`` object (string counts → numbers)."""
    out: dict[str, float] = {}
    for field, name in FIELDS.items():
        value = statistics.get(field)
        if value is None:
            continue  # hidden (e.g. likes turned off): absent, not zero
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            continue
    return out


async def fetch_statistics(
    client: YouTubeApi, posts: Sequence[RemotePost]
) -> list[MetricsSnapshot]:
    """Snapshots for ``posts``, ``BATCH`` ids per request; deleted videos are left out."""
    ids = list(dict.fromkeys(p.remote_id for p in posts))
    snapshots: list[MetricsSnapshot] = []
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        data = await client.get_json(
            "/youtube/v3/videos",
            {"part": "statistics", "id": ",".join(batch)},
            "videos.list statistics",
        )
        for item in data.get("items") or []:
            stats = item.get("statistics") or {}
            snapshots.append(
                MetricsSnapshot(remote_id=str(item["id"]), metrics=unify(stats), raw=dict(stats))
            )
    return snapshots

"""Post metrics, the fewest calls per batch (protocols.md §6 Analytics).

- Organization posts: ``GET /rest/organizationalEntityShareStatistics
  ?q=organizationalEntity&organizationalEntity=<org>&shares=List(…)&ugcPosts=List(…)``,
  one call for the batch (``rw_organization_admin``): impressions, unique
  impressions (reach), clicks, likes, comments, shares.
- Member posts: with ``r_member_postAnalytics``, ``GET /rest/memberCreatorPostAnalytics
  ?q=entity&entity=(share:…)&queryType=…&aggregation=TOTAL`` per post and metric
  (impressions, members reached, reactions, comments, reshares); otherwise
  ``GET /rest/socialActions?ids=List(…)`` (a BATCH_GET, ``r_member_social``):
  likes and comments.
- Views of either: ``GET /rest/videoAnalytics?q=entity&entity=<post>&type=VIDEO_VIEW``
  (one call per post). A 403 there leaves ``views`` out rather than failing
  the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pellacia.contract import MetricsSnapshot, RemotePost
from pellacia.errors import Rejected, Unsupported

from pellacia_linkedin.client import PLATFORM, LinkedInApi, query, restli_list, urn_path

BATCH = 20
#: share statistics field -> unified metric name
SHARE_FIELDS: Mapping[str, str] = {
    "impressionCount": "impressions",
    "uniqueImpressionsCount": "reach",
    "clickCount": "clicks",
    "likeCount": "likes",
    "commentCount": "comments",
    "shareCount": "shares",
}


def _numbers(source: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, float]:
    return {
        name: float(source[field])
        for field, name in fields.items()
        if isinstance(source.get(field), int | float)
    }


async def share_statistics(
    api: LinkedInApi, organization: str, posts: Sequence[str]
) -> dict[str, tuple[dict[str, float], dict[str, Any]]]:
    """``{post urn: (metrics, raw)}`` from one share statistics call."""
    shares = [p for p in posts if p.startswith("urn:li:share:")]
    ugc = [p for p in posts if p.startswith("urn:li:ugcPost:")]
    params = {"q": "organizationalEntity", "organizationalEntity": organization}
    if shares:
        params["shares"] = restli_list(shares)
    if ugc:
        params["ugcPosts"] = restli_list(ugc)
    data = await api.get(
        "/rest/organizationalEntityShareStatistics?" + query(params, raw=("shares", "ugcPosts")),
        action="share statistics",
    )
    found: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
    for element in data.get("elements") or ():
        urn = element.get("share") or element.get("ugcPost")
        stats = element.get("totalShareStatistics") or {}
        if urn:
            found[str(urn)] = (_numbers(stats, SHARE_FIELDS), dict(stats))
    return found


async def social_actions(
    api: LinkedInApi, posts: Sequence[str]
) -> dict[str, tuple[dict[str, float], dict[str, Any]]]:
    """``{post urn: (metrics, raw)}`` from one socialActions BATCH_GET."""
    data = await api.get(
        f"/rest/socialActions?ids={restli_list(posts)}",
        action="social actions",
        method_header="BATCH_GET",
    )
    found: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
    for urn, result in (data.get("results") or {}).items():
        likes = (result.get("likesSummary") or {}).get("totalLikes")
        comments = (result.get("commentsSummary") or {}).get("aggregatedTotalComments")
        metrics = {
            name: float(value)
            for name, value in (("likes", likes), ("comments", comments))
            if isinstance(value, int | float)
        }
        found[str(urn)] = (metrics, dict(result))
    return found


#: memberCreatorPostAnalytics query types -> unified metric names
MEMBER_QUERIES: Mapping[str, str] = {
    "IMPRESSION": "impressions",
    "MEMBERS_REACHED": "reach",
    "REACTION": "likes",
    "COMMENT": "comments",
    "RESHARE": "shares",
}


def entity_of(post: str) -> str:
    """A post URN as memberCreatorPostAnalytics' ``entity`` union: ``(share:…)`` / ``(ugc:…)``."""
    kind = "ugc" if post.startswith("urn:li:ugcPost:") else "share"
    return f"({kind}:{urn_path(post)})"


async def member_post_analytics(
    api: LinkedInApi, posts: Sequence[str]
) -> dict[str, tuple[dict[str, float], dict[str, Any]]]:
    """``{post urn: (metrics, raw)}`` from memberCreatorPostAnalytics (one call per
    post and query type; needs ``r_member_postAnalytics``)."""
    found: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
    for post in posts:
        metrics: dict[str, float] = {}
        for query_type, name in MEMBER_QUERIES.items():
            params = {"q": "entity", "queryType": query_type, "aggregation": "TOTAL"}
            data = await api.get(
                f"/rest/memberCreatorPostAnalytics?{query(params)}&entity={entity_of(post)}",
                action="member post analytics",
                method_header="FINDER",
            )
            counts = [e.get("count") for e in data.get("elements") or () if isinstance(e, dict)]
            numbers = [float(c) for c in counts if isinstance(c, int | float)]
            if numbers:
                metrics[name] = sum(numbers)
        found[post] = (metrics, {"memberCreatorPostAnalytics": dict(metrics)})
    return found


async def video_views(api: LinkedInApi, post: str) -> float | None:
    """Lifetime video views of ``post`` (None when LinkedIn does not say)."""
    params = {"q": "entity", "entity": post, "type": "VIDEO_VIEW", "aggregation": "ALL"}
    try:
        data = await api.get(f"/rest/videoAnalytics?{query(params)}", action="video analytics")
    except Rejected:  # not permitted for this post or account: views stay unknown
        return None
    values = [e.get("value") for e in data.get("elements") or () if isinstance(e, dict)]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    return sum(numbers) if numbers else None


async def fetch(
    api: LinkedInApi, author: str, posts: Sequence[RemotePost], scopes: Sequence[str] = ()
) -> list[MetricsSnapshot]:
    """One snapshot per post LinkedIn reports on, ``BATCH`` posts per call.

    Pages: share statistics. Members: memberCreatorPostAnalytics when the
    sign-in granted ``r_member_postAnalytics``, else social actions.
    """
    urns = list(dict.fromkeys(p.remote_id for p in posts))
    snapshots: list[MetricsSnapshot] = []
    for start in range(0, len(urns), BATCH):
        batch = urns[start : start + BATCH]
        try:
            if author.startswith("urn:li:organization:"):
                found = await share_statistics(api, author, batch)
            elif "r_member_postAnalytics" in scopes:
                found = await member_post_analytics(api, batch)
            else:
                found = await social_actions(api, batch)
        except Rejected as refused:
            raise Unsupported(
                f"LinkedIn metrics of {author}'s posts are not readable with this sign-in "
                f"({refused}); pages need rw_organization_admin, members "
                "r_member_postAnalytics or r_member_social",
                platform=PLATFORM,
            ) from None
        for urn in batch:
            metrics, raw = found.get(urn, ({}, {}))
            views = await video_views(api, urn)
            if views is not None:
                metrics = {**metrics, "views": views}
            if metrics:
                snapshots.append(MetricsSnapshot(remote_id=urn, metrics=metrics, raw=raw))
    return snapshots


__all__ = [
    "BATCH",
    "fetch",
    "member_post_analytics",
    "share_statistics",
    "social_actions",
    "video_views",
]

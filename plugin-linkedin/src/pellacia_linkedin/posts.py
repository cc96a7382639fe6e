"""The Posts API: create a video post, and find the ones an author made.

``POST /rest/posts`` answers 201 with an empty body; the new post's URN
(``urn:li:share:…`` or ``urn:li:ugcPost:…``) is the ``x-restli-id`` header.

``commentary`` is in LinkedIn's "little text" format, where
``| { } @ [ ] ( ) < > # \\ * _ ~`` are syntax: plain text escapes them with a
backslash (else LinkedIn cuts the text at the first one), and hashtags are
written ``{hashtag|\\#|news}``.

Reconcile (``find_post``) reads the author's recent posts
(``GET /rest/posts?q=author``, a FINDER: ``r_organization_social`` for a page,
``r_member_social`` for a member) newest first. The marker of a delivery's
post is the video it references: a video URN belongs to one upload of one
delivery, so a post with it is that delivery's. A delivery that never
uploaded through the API (``receipt`` None) is matched by its exact
commentary instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pellacia.contract import PlatformContext, PublishRequest, RemotePost
from pellacia.errors import OutcomeUnknown, Rejected

from pellacia_linkedin.client import PLATFORM, LinkedInApi, query

MAX_COMMENTARY = 3000
MAX_TITLE = 200
PAGE = 50
_RESERVED = re.compile(r"([|{}@\[\]()<>#\\*_~])")
_HASHTAG = re.compile(r"^#?([\w]+)$")
FEED_URL = "https://www.linkedin.com/feed/update/{}/"


def escape(text: str) -> str:
    """``text`` as plain little-text (every reserved character backslashed)."""
    return _RESERVED.sub(r"\\\1", text)


def hashtag(tag: str) -> str:
    """``#news`` as LinkedIn's hashtag template (escaped text if it is no hashtag)."""
    match = _HASHTAG.match(tag.strip())
    return "{hashtag|\\#|" + match.group(1) + "}" if match else escape(tag)


def commentary_of(request: PublishRequest) -> str:
    """The post text: ``options["commentary"]`` as given (already little text),
    else the title and the description, escaped, then the hashtags."""
    given = request.options.get("commentary")
    if isinstance(given, str):
        text = given
    else:
        parts = [request.title.strip(), request.description.strip()]
        body = "\n\n".join(p for i, p in enumerate(parts) if p and p not in parts[:i])
        tags = " ".join(hashtag(t) for t in request.hashtags if t.strip())
        text = "\n\n".join(p for p in (escape(body), tags) if p)
    if len(text) > MAX_COMMENTARY:
        raise Rejected(
            f"LinkedIn commentary is at most {MAX_COMMENTARY} characters "
            f"(this one has {len(text)} after escaping)",
            platform=PLATFORM,
        )
    return text


def post_body(request: PublishRequest, author: str, video: str) -> dict[str, Any]:
    """The ``POST /rest/posts`` body of a public feed post of ``video``."""
    return {
        "author": author,
        "commentary": commentary_of(request),
        "visibility": str(request.options.get("visibility", "PUBLIC")),
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "content": {"media": {"title": request.title[:MAX_TITLE], "id": video}},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def remote_post(urn: str, author: str, video: str | None, **raw: Any) -> RemotePost:
    when = raw.get("publishedAt") or raw.get("createdAt")
    published = datetime.fromtimestamp(when / 1000, tz=UTC) if isinstance(when, int) else None
    return RemotePost(
        remote_id=urn,
        url=FEED_URL.format(urn),
        published_at=published,
        raw={"author": author, "video": video, **raw},
    )


async def create_post(
    api: LinkedInApi, request: PublishRequest, author: str, video: str
) -> RemotePost:
    """Create the post; a lost answer is ``OutcomeUnknown`` (the SDK's ``idempotent=False``)."""
    reply = await api.request(
        "POST",
        "/rest/posts",
        action="create post",
        json=post_body(request, author, video),
        idempotent=False,
    )
    urn = reply.headers.get("x-restli-id", "").strip()
    if not urn:
        raise OutcomeUnknown(
            f"LinkedIn created a post (HTTP {reply.status}) without naming it (no x-restli-id); "
            "reconcile",
            platform=PLATFORM,
        )
    return remote_post(urn, author, video, createdAt=int(api.ctx.clock.now().timestamp() * 1000))


def matches(element: Mapping[str, Any], video: str | None, commentary: str | None) -> bool:
    """Whether a post element is this delivery's (see the module docstring)."""
    media = ((element.get("content") or {}).get("media") or {}).get("id")
    if video:
        return bool(media == video)
    return commentary is not None and element.get("commentary") == commentary


async def find_post(
    api: LinkedInApi,
    ctx: PlatformContext,
    author: str,
    *,
    video: str | None,
    commentary: str | None,
    since: datetime,
) -> RemotePost | None:
    """This delivery's post among the author's posts created since ``since``.

    None when sure there is none; ``OutcomeUnknown`` when the posts cannot be
    read (a missing read permission) or there are too many to look through.
    """
    floor_ms = int(since.timestamp() * 1000) - 300_000  # 5 min of clock skew
    limit = int(ctx.settings.get("reconcile_max_posts", 200))
    for start in range(0, limit, PAGE):
        params = {
            "q": "author",
            "author": author,
            "count": str(PAGE),
            "start": str(start),
            "sortBy": "CREATED",
        }
        try:
            data = await api.get(
                f"/rest/posts?{query(params)}", action="posts by author", method_header="FINDER"
            )
        except Rejected as refused:
            raise OutcomeUnknown(
                f"cannot read {author}'s posts to check for this delivery's ({refused}); "
                "grant r_organization_social (pages) or r_member_social (members), or check "
                "by hand",
                platform=PLATFORM,
                checkable=False,  # the permission will not come by waiting
            ) from None
        elements = [e for e in data.get("elements") or () if isinstance(e, dict)]
        for element in elements:
            created = element.get("createdAt")
            if isinstance(created, int) and created < floor_ms:
                return None
            if matches(element, video, commentary):
                media = ((element.get("content") or {}).get("media") or {}).get("id")
                return remote_post(
                    str(element["id"]),
                    author,
                    media,
                    createdAt=created,
                    publishedAt=element.get("publishedAt"),
                )
        if len(elements) < PAGE:
            return None
    raise OutcomeUnknown(
        f"LinkedIn: more than {limit} posts by {author} since the upload; check by hand",
        platform=PLATFORM,
    )


__all__ = [
    "commentary_of",
    "create_post",
    "escape",
    "find_post",
    "post_body",
    "remote_post",
]

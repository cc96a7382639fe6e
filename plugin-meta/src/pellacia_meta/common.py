"""What the Instagram and Facebook platforms share: captions, media checks, account facts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from pellacia.contract import MediaRules, PlatformContext, PublishRequest
from pellacia.errors import AuthExpired, Rejected
from pellacia.sdk import poll_delays as sdk_poll_delays

STATE_VERSION = 1
#: clocks differ: a post may carry a time a little before our "started"
CLOCK_SKEW = timedelta(minutes=5)


class _Named(Protocol):
    name: str
    display_name: str
    media_rules: MediaRules


def caption_of(request: PublishRequest) -> str:
    """What the post says: the title, then the description and hashtags.

    Reels have no title field, so the title leads the caption; it is also
    how ``reconcile`` recognises this delivery's post.
    """
    parts = [request.title.strip(), request.caption.strip()]
    return "\n\n".join(p for p in parts if p)


def check_media(platform: _Named, request: PublishRequest) -> None:
    """``Rejected`` with every rule the video breaks, before any request."""
    from pellacia.media import check_rules

    violations = check_rules(
        platform.media_rules,
        request.video,
        description=caption_of(request),
        platform=platform.name,
        display_name=platform.display_name,
    )
    if violations:
        raise Rejected("; ".join(v.message for v in violations), platform=platform.name)


async def account_fact(ctx: PlatformContext, key: str) -> str:
    """A fact the sign-in stored (``page_id``, ``ig_user_id``); ``AuthExpired`` without it."""
    tokens = await ctx.tokens.current()
    value = tokens.extra.get(key)
    if not value:
        raise AuthExpired(
            f"the stored {ctx.platform} sign-in names no {key}: sign in again with "
            f"`pellacia-dist auth login {ctx.platform} --account {ctx.account}`",
            platform=ctx.platform,
        )
    return str(value)


def parse_time(value: Any) -> datetime | None:
    """Graph's ``2026-11-30T22:51:30+0000`` (or ISO 8601, or epoch seconds)."""
    if isinstance(value, int | float):
        from datetime import UTC

        return datetime.fromtimestamp(float(value), tz=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def since_of(state: dict[str, Any], request: PublishRequest, ctx: PlatformContext) -> datetime:
    """The earliest time this delivery's post can carry."""
    started = state.get("started_at")
    if started:
        return datetime.fromisoformat(started) - CLOCK_SKEW
    if request.scheduled_at is not None:
        return request.scheduled_at - CLOCK_SKEW
    hours = float(ctx.settings.get("reconcile_lookback_hours", 72))
    return ctx.clock.now() - timedelta(hours=hours)


def poll_delays(settings: Mapping[str, Any]) -> Iterator[float]:
    """Waits between status polls: 0.25 s, doubling up to ``status_poll_interval`` (15 s).

    Meta suggests about one poll a minute; a short clip is ready in seconds,
    so the first polls come sooner (``pellacia.sdk.poll_delays``).
    """
    return sdk_poll_delays(float(settings.get("status_poll_interval", 15.0)))

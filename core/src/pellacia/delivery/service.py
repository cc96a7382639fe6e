"""The post service: intake (validate everything, then write in one transaction) and cancel.

Nothing is written unless the whole post is acceptable on every platform asked
for: a refused post leaves no row behind.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.clock import SYSTEM_CLOCK, Clock
from pellacia.delivery.errors import BadInput, NotFound
from pellacia.delivery.timeparse import parse_local, zone
from pellacia.errors import ConfigError, MediaError
from pellacia.store import deliveries as delivery_store
from pellacia.store import posts as post_store
from pellacia.store import queue

if TYPE_CHECKING:
    import asyncpg

    from pellacia.config import Settings
    from pellacia.contract import MediaInfo
    from pellacia.plugins import Registry

#: the same file + title on the same platform within this window is refused
DUPLICATE_WINDOW = timedelta(hours=6)
#: a scheduled time this far in the past is still "now" (clock skew, typing time)
PAST_GRACE = timedelta(minutes=1)
#: ``--at next-slot``: the next free posting slot of the target accounts
NEXT_SLOT = "next-slot"


@dataclass(frozen=True)
class CreatedDelivery:
    id: uuid.UUID
    platform: str
    account: str
    idempotency_key: str


@dataclass(frozen=True)
class CreatedPost:
    """What intake wrote."""

    id: uuid.UUID
    sha256: str
    size: int
    scheduled_at: datetime | None
    timezone: str | None
    deliveries: list[CreatedDelivery] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "post_id": str(self.id),
            "sha256": self.sha256,
            "size": self.size,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "timezone": self.timezone,
            "deliveries": [
                {"id": str(d.id), "platform": d.platform, "account": d.account}
                for d in self.deliveries
            ],
        }


def parse_hashtags(raw: str | Sequence[str] | None) -> list[str]:
    """``"#a #b, c"`` or a list → ``["#a", "#b", "#c"]`` (order kept, repeats dropped)."""
    if raw is None:
        return []
    parts = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    tags = []
    for part in parts:
        word = part.strip().lstrip("#")
        if word:
            tags.append(f"#{word}")
    return list(dict.fromkeys(tags))


def _platforms(registry: Registry, spec: str | Sequence[str]) -> list[str]:
    from pellacia.validation import resolve_platforms

    try:
        return resolve_platforms(registry, spec)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None


async def create_post(
    pool: asyncpg.Pool,
    registry: Registry,
    settings: Settings,
    *,
    file: str | Path,
    platforms: str | Sequence[str],
    title: str | None = None,
    description: str = "",
    hashtags: str | Sequence[str] | None = None,
    priority: str = "normal",
    scheduled_at: str | datetime | None = None,
    timezone: str | None = None,
    test: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    fold: int | None = None,
    allow_past: bool = False,
    allow_duplicate: bool = False,
    force_vpn_fallback: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    in_transaction: Callable[[Any, uuid.UUID], Awaitable[None]] | None = None,
) -> CreatedPost:
    """Validate a post for every platform, then write it and its deliveries at once.

    Raises ``BadInput`` (nothing written) for a missing or unreadable file, a
    file that is not a video, an unknown platform, a bad time zone or time, a
    time in the past (unless ``allow_past``), any platform's rule violation,
    or a recent duplicate (unless ``allow_duplicate``). ``force_vpn_fallback``
    starts each delivery at its chain's ``api+vpn`` layer. ``in_transaction(conn,
    post_id)`` runs in the transaction that writes the post (a caller's own record
    of it commits, or not, with the post).
    """
    from pellacia.media import media_json, probe, sha256_file_async

    if priority not in ("normal", "breaking"):
        raise BadInput(f"priority must be 'normal' or 'breaking', not {priority!r}")
    names = _platforms(registry, platforms)
    tz_name = timezone or settings.timezone
    zone(tz_name)  # refuse a bad zone even without a time
    now = clock.now()
    if isinstance(scheduled_at, str) and scheduled_at.strip().lower() == NEXT_SLOT:
        scheduled_at = await _next_slot(pool, settings, names, now)
    when = _when(scheduled_at, tz_name, fold=fold, now=now, allow_past=allow_past)
    start_layer = _start_layers(settings, names) if force_vpn_fallback else {}
    if test and not settings.sandbox_url:
        raise BadInput("--test needs a sandbox: pass --sandbox URL or set PELLACIA_SANDBOX_URL")

    _check_storable("the file name", str(file))  # a NUL would make resolve() raise
    path = await asyncio.to_thread(lambda: Path(file).expanduser().resolve())
    try:
        info = await asyncio.to_thread(probe, path)
    except MediaError as exc:
        raise BadInput(str(exc)) from None
    title = (title or "").strip() or path.stem
    tags = parse_hashtags(hashtags)
    all_overrides = {k: dict(v) for k, v in (overrides or {}).items()}
    for what, value in (
        ("the title", title),
        ("the description", description),
        ("the hashtags", tags),
        ("the options", all_overrides),
    ):
        _check_storable(what, value)
    _validate(registry, names, info, title, description, tags, all_overrides)

    sha256 = await sha256_file_async(path)
    due = when if when is not None and when > now else now
    rows = _delivery_rows(settings, names, due, priority, start_layer)
    post = post_store.NewPost(
        id=uuid.uuid4(),
        video_path=str(path),
        video_sha256=sha256,
        video_size=info.size,
        media=media_json(info),
        title=title,
        description=description,
        hashtags=tags,
        overrides=all_overrides,
        priority=priority,
        scheduled_at=when,
        timezone=tz_name,
        is_test=test,
    )
    since = None if allow_duplicate else now - DUPLICATE_WINDOW
    await _write(pool, post, rows, names, duplicates_since=since, in_transaction=in_transaction)
    return CreatedPost(
        id=post.id,
        sha256=sha256,
        size=info.size,
        scheduled_at=when,
        timezone=tz_name,
        deliveries=[CreatedDelivery(r.id, r.platform, r.account, r.idempotency_key) for r in rows],
    )


def _check_storable(what: str, value: Any) -> None:
    """``BadInput`` for what PostgreSQL cannot store: a NUL character, text that is
    not Unicode (a lone surrogate: undecodable bytes in a file name or argument),
    a NaN or infinite number in JSON."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadInput(f"{what} may not contain a NUL (\\x00) character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput(f"{what} is not valid Unicode text (undecodable bytes?)") from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{what} may not hold NaN or an infinite number")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_storable(what, key)
            _check_storable(what, item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_storable(what, item)


async def _next_slot(
    pool: asyncpg.Pool, settings: Settings, names: Sequence[str], now: datetime
) -> datetime:
    """``--at next-slot``: the next free posting slot of every target account."""
    from pellacia.analytics.slots import NoSlot, next_slot

    targets = [(n, a.name) for n in names for a in settings.accounts_for(n)]
    try:
        async with pool.acquire() as conn:
            return await next_slot(conn, settings, targets, now)
    except NoSlot as exc:
        raise BadInput(str(exc)) from None


def _when(
    scheduled_at: str | datetime | None,
    tz_name: str,
    *,
    fold: int | None,
    now: datetime,
    allow_past: bool,
) -> datetime | None:
    """The scheduled time in UTC (None: now); refuses one in the past unless allowed."""
    when: datetime | None = None
    if isinstance(scheduled_at, str):
        when = parse_local(scheduled_at, tz_name, fold=fold)
    elif scheduled_at is not None:
        if scheduled_at.tzinfo is None:
            raise BadInput("scheduled time needs a time zone")
        when = scheduled_at
    if when is not None and when < now - PAST_GRACE and not allow_past:
        raise BadInput(
            f"the scheduled time {when.isoformat()} is in the past (now {now.isoformat()}); "
            "pass --allow-past to post it at once"
        )
    return when


def _start_layers(settings: Settings, names: Sequence[str]) -> dict[str, int]:
    """``--force-vpn-fallback``: each platform starts at its chain's api+vpn layer."""
    start: dict[str, int] = {}
    for name in names:
        chain = settings.chain_for(name)
        if "api+vpn" not in chain:
            raise BadInput(
                f"--force-vpn-fallback: the chain of {name} has no api+vpn layer "
                f"({', '.join(chain)})"
            )
        start[name] = chain.index("api+vpn")
    return start


def _validate(
    registry: Registry,
    names: Sequence[str],
    info: MediaInfo,
    title: str,
    description: str,
    tags: list[str],
    overrides: Mapping[str, Mapping[str, Any]],
) -> None:
    """Every platform's validators; ``BadInput`` listing every problem if any refuses."""
    from pellacia.validation import preview_request, run_validators

    unknown_override = sorted(set(overrides) - set(names))
    if unknown_override:
        raise BadInput(
            f"options given for platforms not in this post: {', '.join(unknown_override)}"
        )
    problems: list[str] = []
    for name in names:
        platform = registry.platforms[name]
        request = preview_request(
            name,
            info,
            title=title,
            description=description,
            hashtags=tags,
            options=overrides.get(name),
        )
        for violation in run_validators(registry, request, platform):
            problems.append(f"{platform.display_name}: {violation.message}")
    if problems:
        raise BadInput("the post was refused, nothing was scheduled:\n  " + "\n  ".join(problems))


def _delivery_rows(
    settings: Settings,
    names: Sequence[str],
    due: datetime,
    priority: str,
    start_layer: Mapping[str, int],
) -> list[post_store.NewDelivery]:
    """One delivery per (platform, configured account)."""
    rows: list[post_store.NewDelivery] = []
    for name in names:
        for account in settings.accounts_for(name):
            delivery_id = uuid.uuid4()
            rows.append(
                post_store.NewDelivery(
                    id=delivery_id,
                    platform=name,
                    account=account.name,
                    idempotency_key=f"pd-{delivery_id.hex}",
                    priority=1 if priority == "breaking" else 0,
                    due_at=due,
                    layer_index=start_layer.get(name, 0),
                )
            )
    return rows


async def _write(
    pool: asyncpg.Pool,
    post: post_store.NewPost,
    rows: list[post_store.NewDelivery],
    names: Sequence[str],
    *,
    duplicates_since: datetime | None,
    in_transaction: Callable[[Any, uuid.UUID], Awaitable[None]] | None = None,
) -> None:
    """Insert the post and its deliveries in one transaction (refusing a recent
    duplicate unless ``duplicates_since`` is None) and wake the workers."""
    async with pool.acquire() as conn, conn.transaction():
        if duplicates_since is not None:
            await post_store.lock_intake(conn, post.video_sha256)
            dups = await post_store.recent_duplicates(
                conn,
                sha256=post.video_sha256,
                title=post.title,
                platforms=names,
                since=duplicates_since,
            )
            if dups:
                seen = ", ".join(sorted({d["platform"] for d in dups}))
                raise BadInput(
                    f"the same video with the same title was submitted for {seen} at "
                    f"{dups[0]['created_at']:%Y-%m-%d %H:%M} UTC (post {dups[0]['post_id']}); "
                    "pass --allow-duplicate to post it again"
                )
        await post_store.insert(conn, post, rows)
        if in_transaction is not None:
            await in_transaction(conn, post.id)
        await queue.notify(conn)


@dataclass(frozen=True)
class CancelResult:
    delivery_id: uuid.UUID
    platform: str
    outcome: str  # cancelled | requested | published | failed | manual | publishing | ...


async def cancel_delivery(pool: asyncpg.Pool, delivery_id: uuid.UUID) -> CancelResult:
    """Cancel one delivery not yet published (in flight: at its next checkpoint)."""
    async with pool.acquire() as conn:
        row = await delivery_store.get(conn, delivery_id)
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        outcome = await delivery_store.cancel(conn, delivery_id)
    return CancelResult(delivery_id, row["platform"], outcome)


async def cancel_post(pool: asyncpg.Pool, post_id: uuid.UUID) -> list[CancelResult]:
    """Cancel every delivery of a post that is not yet published."""
    async with pool.acquire() as conn:
        rows = await delivery_store.of_post(conn, post_id)
        if not rows:
            raise NotFound(f"no post {post_id}")
        out = []
        for row in rows:
            outcome = await delivery_store.cancel(conn, row["id"])
            out.append(CancelResult(row["id"], row["platform"], outcome))
    return out


async def resolve_id(pool: asyncpg.Pool, text: str) -> tuple[str, uuid.UUID]:
    """("post" | "delivery", id) for a full or prefix id typed by an operator."""
    text = text.strip().lower()
    async with pool.acquire() as conn:
        try:
            full = uuid.UUID(text)
        except ValueError:
            full = None
        if full is not None:
            if await post_store.get(conn, full):
                return "post", full
            if await delivery_store.get(conn, full):
                return "delivery", full
            raise NotFound(f"no post or delivery {text}")
        if len(text) < 4:
            raise BadInput("give at least 4 characters of the id")
        posts = await post_store.find(conn, text)
        found = await delivery_store.find(conn, text)
    matches = [("post", p) for p in posts] + [("delivery", r["id"]) for r in found]
    if not matches:
        raise NotFound(f"no post or delivery starting with {text}")
    if len(matches) > 1:
        raise BadInput(f"{text} matches several ids; give more characters")
    kind, value = matches[0]
    return kind, value

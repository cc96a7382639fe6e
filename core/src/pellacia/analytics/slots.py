"""Posting slots: ``schedule --at next-slot`` picks the next free one.

An account's slots are local times ("08:30") in its IANA zone, from the config
(``slots`` under ``[[accounts.<platform>]]``) or written by ``analytics
best-times --write`` (which wins). A slot is turned into UTC on each local
date, so it stays at 08:30 local across DST changes; a slot that does not
exist that day (clocks jump over it) is skipped. A slot is free when no post
of any target account is within that platform's spacing interval of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from pellacia.config import Settings

#: how far ahead next-slot looks
HORIZON_DAYS = 60
#: a slot closer than this to now is not taken (the post must still be submitted)
LEAD = timedelta(minutes=1)

Target = tuple[str, str]  # (platform, account)


class NoSlot(Exception):
    """No slot configured, or none free within the horizon (said how to fix it)."""


def slot_times(slots: Sequence[str], zone: str, start: datetime, days: int) -> Iterator[datetime]:
    """Each slot on each local date from ``start``'s, in UTC, in order."""
    tz = ZoneInfo(zone)
    first = start.astimezone(tz).date()
    for offset in range(days + 1):
        day = first + timedelta(days=offset)
        for slot in sorted(slots):
            hour, minute = (int(x) for x in slot.split(":"))
            local = datetime.combine(day, time(hour, minute), tzinfo=tz)
            utc = local.astimezone(UTC)
            if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
                continue  # inside the spring-forward gap: this slot does not exist today
            yield utc


def first_free(
    candidates: Sequence[tuple[datetime, Target]],
    busy: Sequence[tuple[str, str, datetime]],
    spacing: Mapping[str, float],
    targets: Sequence[Target],
) -> datetime | None:
    """The earliest candidate no target account posts within its spacing of."""
    for when, _ in sorted(candidates):
        clash = any(
            (p, a) in targets and abs((at - when).total_seconds()) < spacing.get(p, 0.0)
            for p, a, at in busy
        )
        if not clash:
            return when
    return None


async def next_slot(
    conn: Any, settings: Settings, targets: Sequence[Target], now: datetime
) -> datetime:
    """The next free slot of ``targets`` after ``now`` (``NoSlot`` when none)."""
    from pellacia.store import analytics as store

    stored = await store.stored_slots(conn, targets)
    candidates: list[tuple[datetime, Target]] = []
    for target in targets:
        account = settings.account(*target)
        slots = stored.get(target) or account.slots
        zone = account.timezone or settings.timezone
        for when in slot_times(slots, zone, now, HORIZON_DAYS):
            if when >= now + LEAD:
                candidates.append((when, target))
    if not candidates:
        names = ", ".join(f"{p}/{a}" for p, a in targets)
        raise NoSlot(
            f'no posting slots for {names}: set slots = ["08:30", ...] under '
            "[[accounts.<platform>]] or run `pellacia-dist analytics best-times --write`"
        )
    spacing = {p: settings.spacing_for(p).min_interval for p, _ in targets}
    reach = timedelta(seconds=max(spacing.values(), default=0.0))
    last = max(w for w, _ in candidates)
    busy = await store.busy_times(conn, targets, now - reach, last + reach)
    found = first_free(candidates, busy, spacing, targets)
    if found is None:
        raise NoSlot(f"every slot of the next {HORIZON_DAYS} days is taken")
    return found

"""Wall-clock times in a named IANA zone → aware UTC, DST-correct.

A local time that does not exist (the spring-forward gap) is an error; one
that happens twice (the fall-back hour) is refused unless the caller says
which (``fold`` 0 = the first, 1 = the second) or gives an explicit offset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pellacia.delivery.errors import BadInput

_LOCAL = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2})?)\s*$")


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` or a ``BadInput`` saying what is expected."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, a name too long
        raise BadInput(
            f"unknown time zone {name!r}: use an IANA name such as America/New_York, "
            "Europe/Paris or UTC"
        ) from None


def _offset(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_local(text: str, tz_name: str, *, fold: int | None = None) -> datetime:
    """``"2026-12-27 14:00"`` in ``tz_name`` as an aware UTC datetime.

    ``text`` may carry an explicit offset (``2026-11-01T01:30-04:00``): then
    that offset decides and the zone only names where the user is.
    """
    tz = zone(tz_name)
    text = text.strip()
    try:
        return _parse(text, tz, tz_name, fold)
    except OverflowError:  # year 1 or 9999 moved into UTC leaves the calendar
        raise BadInput(f"the time {text!r} is out of range (too near the year 1 or 9999)") from None


def _parse(text: str, tz: ZoneInfo, tz_name: str, fold: int | None) -> datetime:
    match = _LOCAL.match(text)
    if match is None:
        try:
            explicit = datetime.fromisoformat(text)
        except ValueError:
            raise BadInput(
                f"cannot read the time {text!r}: use 'YYYY-MM-DD HH:MM' (e.g. 2026-12-27 14:00)"
            ) from None
        if explicit.tzinfo is None:
            raise BadInput(f"cannot read the time {text!r}: use 'YYYY-MM-DD HH:MM'")
        return explicit.astimezone(UTC)
    try:
        naive = datetime.fromisoformat(f"{match.group(1)} {match.group(2).zfill(5)}")
    except ValueError as exc:
        raise BadInput(f"invalid date or time {text!r}: {exc}") from None

    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    # a time in the gap does not survive the round trip through UTC
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        before = (first.astimezone(UTC) - timedelta(hours=1)).astimezone(tz)
        raise BadInput(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {tz_name}: the clocks jump forward "
            f"that night (offset {_offset(before)} → {_offset(second)}); pick a time outside the gap"
        )
    if first.utcoffset() != second.utcoffset():
        if fold is None:
            raise BadInput(
                f"{naive:%Y-%m-%d %H:%M} happens twice in {tz_name} (clocks go back): "
                f"pass --fold 0 for the first ({_offset(first)}) or --fold 1 for the second "
                f"({_offset(second)}), or give an explicit offset"
            )
        return (second if fold else first).astimezone(UTC)
    return first.astimezone(UTC)


def describe(at: datetime, tz_name: str | None) -> str:
    """``2026-12-27 14:00 EST (-05:00)`` for showing a stored UTC time back."""
    tz = zone(tz_name) if tz_name else UTC
    local = at.astimezone(tz)
    # isoformat: %Y drops the zeros of a year before 1000, and then it does not parse back
    return f"{local.date().isoformat()} {local:%H:%M} {local.tzname()} ({_offset(local)})"

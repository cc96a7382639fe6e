"""Properties of time and zone parsing (``--at``, ``--until``, intake ``at``/``timezone``):
a value or our own ``BadInput``, never another exception; a parsed time is aware
UTC, shows back as what was typed, and names the same instant whatever zone
the user is in; DST gaps and repeated hours are refused or resolved by ``fold``."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pellacia.cli.account_cmd import parse_until
from pellacia.delivery.errors import BadInput
from pellacia.delivery.timeparse import describe, parse_local, zone
from pellacia.testing.fuzz import fuzz_settings

#: zones with DST (one with a 30-minute shift, one with negative "DST", one that
#: skipped a whole day, southern-hemisphere ones), and some without
DST_ZONES = (
    "America/New_York",
    "Europe/Paris",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "America/Santiago",
    "Pacific/Apia",
    "Asia/Tehran",
    "America/Havana",
)
zones = st.one_of(st.sampled_from(DST_ZONES), st.timezone_keys())
zone_texts = st.one_of(zones, st.text(max_size=300))
folds = st.sampled_from([None, 0, 1])
#: wall times the way people type them: minutes, sometimes seconds
walls = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), allow_imaginary=True
).map(lambda d: d.replace(microsecond=0))


def typed(wall: datetime) -> str:
    text = f"{wall.date().isoformat()} {wall:%H:%M}"
    return text if wall.second == 0 else f"{text}:{wall.second:02d}"


def _has_transition_at(wall: datetime, tz: ZoneInfo) -> bool:
    """The two readings of ``wall`` (before / after a clock change) differ."""
    return (
        wall.replace(tzinfo=tz, fold=0).utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset()
    )


@functools.cache
def _transitions(name: str, year: int) -> tuple[datetime, ...]:
    """Instants (UTC, to the minute) at which ``name`` changes its offset in ``year``."""
    tz = ZoneInfo(name)
    found = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    for _ in range(366):
        nxt = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = day, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(second=0, microsecond=0))
        day = nxt
    return tuple(found)


@st.composite
def dst_edges(draw: st.DrawFn) -> tuple[datetime, str]:
    """A wall time within two hours of a clock change: in the gap, the repeated
    hour, or just around them."""
    name = draw(st.sampled_from(DST_ZONES))
    year = draw(st.integers(1971, 2037))
    changes = _transitions(name, year) or _transitions("America/New_York", year)
    if not _transitions(name, year):
        name = "America/New_York"
    instant = draw(st.sampled_from(changes))
    tz = ZoneInfo(name)
    before = (instant - timedelta(minutes=1)).astimezone(tz).utcoffset() or timedelta(0)
    # the wall clock as it would read had the change not happened: walks into gaps
    wall = (instant + before).replace(tzinfo=None)
    step = draw(st.integers(-8, 8)) * timedelta(minutes=15)
    return wall + step, name


@fuzz_settings(max_examples=300)
@given(text=st.one_of(st.text(max_size=40), walls.map(typed)), tz_name=zone_texts, fold=folds)
@example(text="0001-01-01 00:00", tz_name="Asia/Tokyo", fold=None)  # UTC before year 1
@example(text="9999-12-31 23:00", tz_name="America/New_York", fold=None)  # after 9999
@example(text="0001-01-01T00:00+01:00", tz_name="UTC", fold=None)
@example(text="2026-01-01 10:00", tz_name="x" * 300, fold=None)  # file name too long
@example(text="2026-01-01 10:00", tz_name="America", fold=None)  # a directory of zones
@example(text="2026-01-01 10:00", tz_name="../../etc/passwd", fold=None)
def test_any_text_is_a_utc_time_or_bad_input(text: str, tz_name: str, fold: int | None) -> None:
    try:
        at = parse_local(text, tz_name, fold=fold)
    except BadInput as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert at.tzinfo is UTC


@fuzz_settings(max_examples=300)
@given(wall=st.one_of(walls, dst_edges().map(lambda edge: edge[0])), name=zones, fold=folds)
def test_a_wall_time_round_trips_or_is_refused_for_a_clock_change(
    wall: datetime, name: str, fold: int | None
) -> None:
    tz = ZoneInfo(name)
    try:
        at = parse_local(typed(wall), name, fold=fold)
    except BadInput as exc:
        message = str(exc)
        if "out of range" in message:
            assert wall.year in (1, 9999)
            return
        # only a time at a clock change is refused, and fold only settles repeats
        assert _has_transition_at(wall, tz), message
        assert "does not exist" in message or ("happens twice" in message and fold is None)
        return
    assert at.tzinfo is UTC
    local = at.astimezone(tz)
    assert local.replace(tzinfo=None, fold=0) == wall  # the same wall time, in that zone
    if fold is not None and _has_transition_at(wall, tz):
        assert local.fold == fold  # the repeated hour the user chose
    assert describe(at, name).startswith(typed(wall.replace(second=0)))


@fuzz_settings(max_examples=200)
@given(edge=dst_edges(), fold=st.sampled_from([0, 1]))
def test_at_a_clock_change_fold_picks_the_first_or_the_second_instant(
    edge: tuple[datetime, str], fold: int
) -> None:
    wall, name = edge
    try:
        chosen = parse_local(typed(wall), name, fold=fold)
    except BadInput as exc:
        assert "does not exist" in str(exc)  # the gap: no instant to choose
        return
    other = parse_local(typed(wall), name, fold=1 - fold)
    tz = ZoneInfo(name)
    # both read as the typed wall time there; where it repeats, fold 1 is the later
    for at in (chosen, other):
        assert at.astimezone(tz).replace(tzinfo=None, fold=0) == wall
    if chosen != other:
        assert (fold == 1) == (chosen > other)


@fuzz_settings(max_examples=200)
@given(
    wall=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offset_minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
    first=zone_texts.filter(lambda name: _valid_zone(name)),
    second=zones,
)
def test_an_explicit_offset_is_the_same_instant_in_every_zone(
    wall: datetime, offset_minutes: int, first: str, second: str
) -> None:
    aware = wall.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = aware.isoformat()
    a, b = parse_local(text, first), parse_local(text, second)
    assert a == b == aware
    assert a.tzinfo is UTC and b.tzinfo is UTC


def _valid_zone(name: str) -> bool:
    try:
        zone(name)
    except BadInput:
        return False
    return True


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@fuzz_settings(max_examples=200)
@given(
    text=st.one_of(
        st.builds(
            lambda n, unit, pad: f"{pad}{n}{pad}{unit}{pad}",
            st.integers(0, 10**30),
            st.sampled_from("mhd"),
            st.sampled_from(["", " "]),
        ),
        st.text(max_size=30),
    ),
    name=zones,
)
@example(text="99999999999d", name="UTC")  # timedelta overflow
@example(text="3000000d", name="UTC")  # past the year 9999
def test_until_is_a_later_time_or_bad_input(text: str, name: str) -> None:
    try:
        until = parse_until(text, NOW, name)
    except BadInput as exc:
        assert str(exc)
        return
    assert until.utcoffset() == timedelta(0)


@pytest.mark.parametrize("name", ["", " ", "/etc/localtime", "..", "a\x00b", "\ud800"])
def test_odd_zone_names_are_bad_input(name: str) -> None:
    with pytest.raises(BadInput, match="unknown time zone"):
        zone(name)

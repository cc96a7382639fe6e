"""The retry policy as a table: error class, tries, layer and stage give the next step (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pellacia.delivery.layers import Layer, LayerKind
from pellacia.delivery.policy import (
    AlertKind,
    Fail,
    Failure,
    Limits,
    Manual,
    NextLayer,
    Reconcile,
    Retry,
    Situation,
    Stage,
    Step,
    WaitForPlatform,
    WaitUntil,
    count,
    decide,
)
from pellacia.errors import (
    AuthExpired,
    Challenge,
    ErrorClass,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    Transient,
    Unsupported,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = Limits(tries_per_layer=3, base_delay=1.0, max_delay=16.0, inline_max=20.0)
NET, PLAT, UNK = ErrorClass.NETWORK, ErrorClass.PLATFORM, ErrorClass.UNKNOWN_OUTCOME
API, BROWSER = Layer.API, Layer.BROWSER
UP, PUB, REC = Stage.UPLOAD, Stage.PUBLISH, Stage.RECONCILE
UNKNOWN = "outcome unknown — check before reposting (lost)"


def at(
    layer: Layer = API,
    stage: Stage = UP,
    failures: int = 1,
    *,
    elapsed: float = 0.0,
    uploaded: bool = False,
    waiting: float = 0.0,
) -> Situation:
    return Situation("tiktok", layer, stage, failures, NOW, elapsed, uploaded, waiting)


WAIT = WaitForPlatform(60.0, "waiting for tiktok to confirm the uploaded video")
GIVE_UP = "tiktok has not confirmed the uploaded video after 360 min: lost"


TABLE: list[tuple[str, ErrorClass | None, Situation, Limits, Step]] = [
    ("network 1st try: back off 1 s", NET, at(failures=1), LIMITS, Retry(1.0, inline=True)),
    ("5xx 2nd try: back off 2 s", PLAT, at(failures=2), LIMITS, Retry(2.0, inline=True)),
    (
        "tries exhausted",
        PLAT,
        at(failures=3),
        LIMITS,
        NextLayer("3 tries failed without progress: lost"),
    ),
    ("a progressing try backs off the least", NET, at(failures=0), LIMITS, Retry(1.0, True)),
    (
        "layer out of time",
        NET,
        at(failures=1, elapsed=6 * 3600),
        LIMITS,
        NextLayer("layer api kept failing for 21600 s: lost"),
    ),
    # once the platform has the video, no other layer (it would upload it again)
    (
        "uploaded, tries exhausted: wait",
        PLAT,
        at(stage=PUB, failures=3, uploaded=True),
        LIMITS,
        WAIT,
    ),
    (
        "uploaded, out of time: wait",
        NET,
        at(stage=PUB, elapsed=7 * 3600, uploaded=True, waiting=60),
        LIMITS,
        WAIT,
    ),
    (
        "uploaded, waited too long: a person checks it",
        PLAT,
        at(stage=PUB, failures=3, uploaded=True, waiting=6 * 3600),
        LIMITS,
        Manual(GIVE_UP, outcome_unknown=False),
    ),
    ("uploaded, still processing: wait", UNK, at(stage=REC, uploaded=True), LIMITS, WAIT),
    (
        "uploaded, unknown, tries exhausted: wait",
        UNK,
        at(stage=PUB, failures=3, uploaded=True),
        LIMITS,
        WAIT,
    ),
    (
        "uploaded, still processing too long: a person checks it",
        UNK,
        at(stage=REC, uploaded=True, waiting=6 * 3600 + 1),
        LIMITS,
        Manual(GIVE_UP, outcome_unknown=False),
    ),
    ("uploaded, lost answer: reconcile", UNK, at(stage=PUB, uploaded=True), LIMITS, Reconcile()),
    (
        "long backoff parks",
        NET,
        at(failures=6),
        Limits(10, 8.0, 64.0, 20.0),
        Retry(64.0, inline=False),
    ),
    (
        "backoff capped",
        NET,
        at(failures=9),
        Limits(10, 1.0, 16.0, 20.0),
        Retry(16.0, inline=True),
    ),
    (
        "browser network error retries too",
        NET,
        at(BROWSER, PUB),
        LIMITS,
        Retry(1.0, inline=True),
    ),
    (
        "auth: alert, next layer",
        ErrorClass.AUTH,
        at(),
        LIMITS,
        NextLayer("auth: lost", AlertKind.CREDENTIALS),
    ),
    ("validation fails", ErrorClass.VALIDATION, at(), LIMITS, Fail("rejected by tiktok: lost")),
    (
        "challenge: alert, next layer",
        ErrorClass.CHALLENGE,
        at(BROWSER, PUB),
        LIMITS,
        NextLayer("challenge: lost", AlertKind.CHALLENGE),
    ),
    (
        "unsupported: next layer",
        ErrorClass.UNSUPPORTED,
        at(),
        LIMITS,
        NextLayer("unsupported: lost"),
    ),
    ("plugin bug: next layer", None, at(), LIMITS, NextLayer("lost")),
    ("lost publish answer: reconcile", UNK, at(stage=PUB), LIMITS, Reconcile()),
    ("unknown, tries out: manual", UNK, at(stage=PUB, failures=3), LIMITS, Manual(UNKNOWN, True)),
    ("reconcile cannot tell: manual", UNK, at(stage=REC), LIMITS, Manual(UNKNOWN, True)),
    ("browser cannot check: manual", UNK, at(BROWSER, PUB), LIMITS, Manual(UNKNOWN, True)),
]


@pytest.mark.parametrize(
    ("error", "situation", "limits", "expected"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_policy_table(
    error: ErrorClass | None, situation: Situation, limits: Limits, expected: Step
) -> None:
    assert decide(Failure(error, "lost"), situation, limits) == expected


def test_rate_limit_waits_for_the_announced_reset() -> None:
    reset = NOW + timedelta(minutes=5)
    failure = Failure.of(RateLimited("slow down", reset_at=reset, quota="tiktok:init-per-minute"))
    step = decide(failure, at(), LIMITS)
    # the reason of the account's block: `queue status` shows it as "rate-limit: <reason>"
    assert step == WaitUntil(reset, "tiktok:init-per-minute until 12:05:00 UTC")


def test_rate_limit_without_a_reset_waits_retry_after_or_a_minute() -> None:
    assert decide(Failure.of(RateLimited("x", retry_after=30)), at(), LIMITS) == WaitUntil(
        NOW + timedelta(seconds=30), "tiktok until 12:00:30 UTC"
    )
    step = decide(Failure.of(RateLimited("x")), at(), LIMITS)
    assert isinstance(step, WaitUntil) and step.at == NOW + timedelta(seconds=60)
    past = decide(Failure.of(RateLimited("x", reset_at=NOW - timedelta(hours=1))), at(), LIMITS)
    assert isinstance(past, WaitUntil) and past.at == NOW + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("exc", "counted"),
    [
        (Transient("x"), True),
        (Transient("x", network=True), True),
        (OutcomeUnknown("x"), True),
        (RateLimited("x"), False),  # never a try, never a failure
        (AuthExpired("x"), False),
        (Rejected("x"), False),
        (Challenge("x"), False),
        (Unsupported("x"), False),
        (ValueError("x"), False),
    ],
)
def test_which_failures_use_up_the_layer_budget(exc: Exception, counted: bool) -> None:
    assert count(2, Failure.of(exc)) == (3 if counted else 2)
    assert count(2, Failure.of(exc), progressed=True) == 0  # new bytes acknowledged


def test_an_outcome_no_wait_can_tell_goes_to_a_person_at_once() -> None:
    """A reconcile that can never tell (no permission to read the account's posts)
    is not "still processing": a flagged manual entry now, not six hours of checks."""
    never = Failure.of(OutcomeUnknown("cannot read the posts", checkable=False))
    step = decide(never, at(stage=REC, uploaded=True), LIMITS)
    assert step == Manual(
        "outcome unknown — check before reposting (cannot read the posts)", outcome_unknown=True
    )
    later = Failure.of(OutcomeUnknown("still processing"))
    assert decide(later, at(stage=REC, uploaded=True), LIMITS) == WAIT


def test_untyped_plugin_errors_are_labelled() -> None:
    failure = Failure.of(KeyError("video_id"))
    assert failure.error_class is None and failure.label == "plugin"
    assert failure.message == "plugin error KeyError: 'video_id'"


def test_layers_are_types_parsed_from_config_names() -> None:
    assert [Layer.parse(n) for n in ("api", "API+VPN", " browser", "browser+vpn", "manual")] == [
        Layer.API,
        Layer.API_VPN,
        Layer.BROWSER,
        Layer.BROWSER_VPN,
        Layer.MANUAL,
    ]
    assert Layer.parse("carrier-pigeon") is None
    assert [(layer.kind, layer.via_vpn) for layer in Layer] == [
        (LayerKind.API, False),
        (LayerKind.API, True),
        (LayerKind.BROWSER, False),
        (LayerKind.BROWSER, True),
        (LayerKind.MANUAL, False),
    ]

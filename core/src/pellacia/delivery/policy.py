"""The retry policy: what to do after a try failed (DESIGN §4).

A pure function — no database, no clock, no I/O: :func:`decide` takes the
failure (its error class and what the platform said), where the delivery
stands (layer, stage, tries so far) and the settings, and returns the next
:data:`Step`. The executor only carries the step out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pellacia.delivery.layers import Layer, LayerKind
from pellacia.errors import ErrorClass, OutcomeUnknown, PlatformError, RateLimited

if TYPE_CHECKING:
    from pellacia.config import RetrySettings

#: backoff delays up to this many seconds are slept in process (lease held,
#: the worker keeps renewing it); longer ones park the delivery in retry_wait
INLINE_RETRY_MAX = 20.0
#: error classes that use up the layer's try budget
COUNTED = frozenset({ErrorClass.NETWORK, ErrorClass.PLATFORM, ErrorClass.UNKNOWN_OUTCOME})
UNKNOWN_PREFIX = "outcome unknown — check before reposting"


class Stage(enum.Enum):
    """Which call of a try failed."""

    UPLOAD = "upload"
    PUBLISH = "publish"
    RECONCILE = "reconcile"


class AlertKind(enum.Enum):
    """Why the operator must hear about a failure at once (critical alert)."""

    CREDENTIALS = "credentials"  # the token was refused, and refreshing did not help
    CHALLENGE = "challenge"  # the platform asks for a human


@dataclass(frozen=True)
class Failure:
    """One failed try as the policy sees it. ``error_class`` None: the plugin
    raised an untyped exception (a bug in it)."""

    error_class: ErrorClass | None
    message: str
    retry_after: float | None = None
    reset_at: datetime | None = None
    quota: str | None = None
    #: an unknown outcome that waiting will not make known (``OutcomeUnknown.checkable``)
    uncheckable: bool = False

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        if isinstance(exc, RateLimited):
            return cls(exc.error_class, str(exc), exc.retry_after, exc.reset_at, exc.quota)
        if isinstance(exc, OutcomeUnknown):
            return cls(exc.error_class, str(exc), uncheckable=not exc.checkable)
        if isinstance(exc, PlatformError):
            return cls(exc.error_class, str(exc))
        return cls(None, f"plugin error {type(exc).__name__}: {exc}")

    @property
    def label(self) -> str:
        """The error class as stored in the audit trail."""
        return self.error_class.value if self.error_class is not None else "plugin"


@dataclass(frozen=True)
class Situation:
    """Where the delivery stands when the try failed.

    ``failures``: failed tries of this layer in a row without progress, this
    one included (see :func:`count`); ``layer_elapsed``: seconds since the
    layer's first try; ``uploaded``: the platform has the whole video (a
    receipt exists), ``waiting``: seconds since it got it.
    """

    platform: str
    layer: Layer
    stage: Stage
    failures: int
    now: datetime
    layer_elapsed: float = 0.0
    uploaded: bool = False
    waiting: float = 0.0


@dataclass(frozen=True)
class Limits:
    """The settings the policy needs."""

    tries_per_layer: int = 5
    base_delay: float = 1.0
    max_delay: float = 16.0
    inline_max: float = INLINE_RETRY_MAX
    layer_time_limit: float = 6 * 3600.0
    check_every: float = 60.0
    give_up_after: float = 6 * 3600.0

    @classmethod
    def of(cls, retry: RetrySettings, inline_max: float = INLINE_RETRY_MAX) -> Limits:
        return cls(
            retry.tries_per_layer,
            retry.base_delay,
            retry.max_delay,
            inline_max,
            retry.layer_time_limit,
            retry.processing_check_every,
            retry.processing_give_up_after,
        )


@dataclass(frozen=True)
class Retry:
    """Try the layer again after ``delay`` s: slept in process when ``inline``,
    else the delivery is parked in ``retry_wait`` until then."""

    delay: float
    inline: bool


@dataclass(frozen=True)
class Reconcile:
    """A publish may have gone out: try again at once, asking the platform first."""


@dataclass(frozen=True)
class WaitUntil:
    """Rate limited: block the account (``reason`` says why) and park the
    delivery until ``at``; not a try."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class WaitForPlatform:
    """The video is uploaded but not confirmed yet: park for ``delay`` s, keeping
    what is known (receipt, outcome-unknown flag), then check again."""

    delay: float
    reason: str


@dataclass(frozen=True)
class NextLayer:
    reason: str
    alert: AlertKind | None = None


@dataclass(frozen=True)
class Fail:
    """Retrying cannot help (the platform rejected the post)."""

    message: str


@dataclass(frozen=True)
class Manual:
    """Hand the delivery to a person; ``outcome_unknown``: check before reposting."""

    reason: str
    outcome_unknown: bool


Step = Retry | Reconcile | WaitUntil | WaitForPlatform | NextLayer | Fail | Manual


def count(previous: int, failure: Failure, *, progressed: bool = False) -> int:
    """Failed tries in a row without progress after ``failure`` (``previous``
    before it): a try that got new bytes acknowledged starts the count over."""
    if progressed:
        return 0
    return previous + 1 if failure.error_class in COUNTED else previous


def decide(failure: Failure, at: Situation, limits: Limits) -> Step:
    """The next step after ``failure`` (DESIGN §4's table, docs/delivery.md)."""
    cls = failure.error_class
    if cls in (ErrorClass.NETWORK, ErrorClass.PLATFORM):
        out_of_time = at.layer_elapsed >= limits.layer_time_limit
        if at.failures >= limits.tries_per_layer or out_of_time:
            if at.uploaded:  # never another layer: it would upload the video again
                return _wait_for_platform(failure, at, limits)
            if out_of_time:
                return NextLayer(
                    f"layer {at.layer} kept failing for {at.layer_elapsed:.0f} s: {failure.message}"
                )
            return NextLayer(f"{at.failures} tries failed without progress: {failure.message}")
        delay = min(limits.base_delay * 2 ** max(at.failures - 1, 0), limits.max_delay)
        return Retry(delay, inline=delay <= limits.inline_max)
    if cls is ErrorClass.UNKNOWN_OUTCOME:
        return _unknown_outcome(failure, at, limits)
    if cls is ErrorClass.RATE_LIMIT:
        return _rate_limited(failure, at)
    if cls is ErrorClass.AUTH:
        # the plugin's authorized request already refreshed once: a person must sign in
        return NextLayer(f"auth: {failure.message}", AlertKind.CREDENTIALS)
    if cls is ErrorClass.VALIDATION:
        return Fail(f"rejected by {at.platform}: {failure.message}")
    if cls is ErrorClass.CHALLENGE:
        return NextLayer(f"challenge: {failure.message}", AlertKind.CHALLENGE)
    if cls is ErrorClass.UNSUPPORTED:
        return NextLayer(f"unsupported: {failure.message}")
    return NextLayer(failure.message)  # an untyped plugin error: never lose the delivery


def _unknown_outcome(failure: Failure, at: Situation, limits: Limits) -> Step:
    unknown = Manual(f"{UNKNOWN_PREFIX} ({failure.message})", outcome_unknown=True)
    exhausted = at.failures >= limits.tries_per_layer
    if failure.uncheckable:
        return unknown  # waiting for the platform would never tell either
    if at.uploaded and (at.stage is Stage.RECONCILE or exhausted):
        return _wait_for_platform(failure, at, limits)  # e.g. "still processing"
    if at.stage is Stage.RECONCILE or at.layer.kind is LayerKind.BROWSER:
        return unknown  # nobody can tell (a browser cannot even ask): never repeat blindly
    if exhausted:
        return unknown
    return Reconcile()


def _wait_for_platform(failure: Failure, at: Situation, limits: Limits) -> Step:
    """The platform has the video: check again later; a person only after the limit."""
    if at.waiting >= limits.give_up_after:
        return Manual(
            f"{at.platform} has not confirmed the uploaded video after "
            f"{at.waiting / 60:.0f} min: {failure.message}",
            outcome_unknown=False,
        )
    return WaitForPlatform(
        limits.check_every, f"waiting for {at.platform} to confirm the uploaded video"
    )


def _rate_limited(failure: Failure, at: Situation) -> WaitUntil:
    until = failure.reset_at or at.now + timedelta(seconds=failure.retry_after or 60.0)
    until = max(until, at.now + timedelta(seconds=1))
    return WaitUntil(until, f"{failure.quota or at.platform} until {until:%H:%M:%S} UTC")

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
from pellacia.errors import ErrorClass, PlatformError, RateLimited

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

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        if isinstance(exc, RateLimited):
            return cls(exc.error_class, str(exc), exc.retry_after, exc.reset_at, exc.quota)
        if isinstance(exc, PlatformError):
            return cls(exc.error_class, str(exc))
        return cls(None, f"plugin error {type(exc).__name__}: {exc}")

    @property
    def label(self) -> str:
        """The error class as stored in the audit trail."""
        return self.error_class.value if self.error_class is not None else "plugin"


@dataclass(frozen=True)
class Situation:
    """Where the delivery stands when the try failed. ``failures``: tries of this
    layer that used up its budget, this one included (see :func:`count`)."""

    platform: str
    layer: Layer
    stage: Stage
    failures: int
    now: datetime


@dataclass(frozen=True)
class Limits:
    """The settings the policy needs."""

    tries_per_layer: int = 5
    base_delay: float = 1.0
    max_delay: float = 16.0
    inline_max: float = INLINE_RETRY_MAX

    @classmethod
    def of(cls, retry: RetrySettings, inline_max: float = INLINE_RETRY_MAX) -> Limits:
        return cls(retry.tries_per_layer, retry.base_delay, retry.max_delay, inline_max)


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
    """Rate limited: block the account and park the delivery until ``at``; not a try."""

    at: datetime
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


Step = Retry | Reconcile | WaitUntil | NextLayer | Fail | Manual


def count(previous: int, failure: Failure) -> int:
    """The layer's used-up tries after ``failure`` (``previous`` before it)."""
    return previous + 1 if failure.error_class in COUNTED else previous


def decide(failure: Failure, at: Situation, limits: Limits) -> Step:
    """The next step after ``failure`` (DESIGN §4's table, docs/delivery.md)."""
    cls = failure.error_class
    if cls in (ErrorClass.NETWORK, ErrorClass.PLATFORM):
        if at.failures >= limits.tries_per_layer:
            return NextLayer(f"{at.failures} tries failed: {failure.message}")
        delay = min(limits.base_delay * 2 ** (at.failures - 1), limits.max_delay)
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
    if at.stage is Stage.RECONCILE or at.layer.kind is LayerKind.BROWSER:
        return unknown  # nobody can tell (a browser cannot even ask): never repeat blindly
    if at.failures >= limits.tries_per_layer:
        return unknown
    return Reconcile()


def _rate_limited(failure: Failure, at: Situation) -> WaitUntil:
    until = failure.reset_at or at.now + timedelta(seconds=failure.retry_after or 60.0)
    until = max(until, at.now + timedelta(seconds=1))
    return WaitUntil(
        until, f"rate-limit: {failure.quota or at.platform} until {until:%H:%M:%S} UTC"
    )

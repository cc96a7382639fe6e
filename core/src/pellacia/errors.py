"""Typed errors that cross the plugin boundary.

Plugins translate their platform's failures into these classes; SDK and HTTP
library exceptions never leak past a plugin. The delivery engine decides what
to do from the class alone (see ``ErrorClass``), so every error a plugin raises
must be one of these. Messages never contain tokens or other secrets.
"""

from __future__ import annotations

import enum
from datetime import datetime


class ErrorClass(enum.StrEnum):
    """How the engine reacts to a failure (DESIGN §4)."""

    NETWORK = "network"  # retry with backoff, then the next layer
    PLATFORM = "platform"  # 5xx and friends: retry with backoff, then the next layer
    AUTH = "auth"  # refresh once, then alert the operator
    RATE_LIMIT = "rate-limit"  # wait until the announced reset
    VALIDATION = "validation"  # fail at once with the message
    CHALLENGE = "challenge"  # ban-risk / captcha: stop this layer, alert
    UNKNOWN_OUTCOME = "unknown-outcome"  # may have gone out: reconcile, never repeat blindly
    UNSUPPORTED = "unsupported"  # the plugin cannot do this (yet): next layer


class PellaciaError(Exception):
    """Base class of every error pellacia-dist raises on purpose."""


class ConfigError(PellaciaError):
    """Configuration is missing or invalid; the message says what to change."""


class PlatformError(PellaciaError):
    """A failure talking to a platform, classified for the engine."""

    error_class: ErrorClass = ErrorClass.PLATFORM

    def __init__(self, message: str, *, platform: str | None = None) -> None:
        super().__init__(message)
        self.platform = platform

    @property
    def retryable(self) -> bool:
        return self.error_class in (ErrorClass.NETWORK, ErrorClass.PLATFORM)


class Transient(PlatformError):
    """Network trouble or a platform-side 5xx: worth retrying later."""

    def __init__(self, message: str, *, platform: str | None = None, network: bool = False) -> None:
        super().__init__(message, platform=platform)
        self.error_class = ErrorClass.NETWORK if network else ErrorClass.PLATFORM


class AuthExpired(PlatformError):
    """The platform refused the credentials (expired, revoked, missing scope)."""

    error_class = ErrorClass.AUTH


class RateLimited(PlatformError):
    """The platform (or our own budget) says: not before ``reset_at``.

    ``retry_after`` is in seconds from when the error was raised; ``reset_at``
    is the absolute time when the platform announced one. ``quota`` names the
    budget (e.g. ``"youtube:daily-units"``) so ``queue status`` can explain waits.
    """

    error_class = ErrorClass.RATE_LIMIT

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
        quota: str | None = None,
    ) -> None:
        super().__init__(message, platform=platform)
        self.retry_after = retry_after
        self.reset_at = reset_at
        self.quota = quota


class Rejected(PlatformError):
    """The request is invalid and will never succeed as is (bad media, bad metadata)."""

    error_class = ErrorClass.VALIDATION


class Challenge(PlatformError):
    """The platform asks for a human (captcha, checkpoint) or signals ban risk."""

    error_class = ErrorClass.CHALLENGE


class OutcomeUnknown(PlatformError):
    """A non-idempotent call was sent but its result was not seen.

    The engine must reconcile before it repeats anything. ``checkable=False``
    (raised by a reconcile): the plugin can never tell, however long it waits
    (the account lacks the permission to read its posts): a person checks now.
    """

    error_class = ErrorClass.UNKNOWN_OUTCOME

    def __init__(
        self, message: str, *, platform: str | None = None, checkable: bool = True
    ) -> None:
        super().__init__(message, platform=platform)
        self.checkable = checkable


class Unsupported(PlatformError):
    """The plugin does not implement this operation; never reported as success."""

    error_class = ErrorClass.UNSUPPORTED


class MediaError(PellaciaError):
    """A file is not a readable video (missing, truncated, not a video)."""

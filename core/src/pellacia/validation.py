"""Run every registered validator for a post on each platform (before anything is sent).

Validators come from plugins (core registers the media-rules one). Each is
called on its own with its own error handling: a validator that crashes is
reported as a problem with the post's check, never silently skipped and never
allowed to stop the others. ``validate`` and ``upload`` share this service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pellacia.contract import MediaInfo, Platform, PublishRequest, RuleViolation
from pellacia.errors import ConfigError

if TYPE_CHECKING:
    from pellacia.plugins import Registry

__all__ = [
    "INSTALL_HINT",
    "preview_request",
    "resolve_platforms",
    "run_validators",
    "validate_for_platforms",
]

INSTALL_HINT = (
    "no platform plugin is installed: pip install pellacia-dist-youtube "
    "(or -tiktok, -meta, -twitter, -linkedin)"
)

#: rule id of the violation reported when a validator itself fails
VALIDATOR_ERROR = "validator_error"


def resolve_platforms(registry: Registry, spec: str | Iterable[str] | None) -> list[str]:
    """Platform names from ``"all"``, ``"youtube,tiktok"`` or a list.

    Raises ``ConfigError`` naming the installed platforms for an unknown one,
    or saying how to install one when none is.
    """
    installed = sorted(registry.platforms)
    if not installed:
        raise ConfigError(INSTALL_HINT)
    if spec is None:
        return installed
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [part.strip().lower() for part in parts if part.strip()]
    if not names or names == ["all"]:
        return installed
    unknown = [name for name in names if name not in registry.platforms]
    if unknown:
        raise ConfigError(
            f"unknown platform{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(installed: {', '.join(installed)}; or use 'all')"
        )
    return list(dict.fromkeys(names))  # keep the order asked for, drop repeats


def preview_request(
    platform: str,
    media: MediaInfo,
    *,
    title: str,
    description: str = "",
    hashtags: Sequence[str] = (),
    account: str = "-",
    options: Mapping[str, Any] | None = None,
) -> PublishRequest:
    """A ``PublishRequest`` for validators before any delivery exists
    (placeholder delivery id and idempotency key)."""
    return PublishRequest(
        delivery_id="validate",
        idempotency_key=f"validate:{platform}",
        platform=platform,
        account=account,
        video=media,
        title=title,
        description=description,
        hashtags=tuple(hashtags),
        options=dict(options or {}),
    )


def run_validators(
    registry: Registry, request: PublishRequest, platform: Platform
) -> list[RuleViolation]:
    """Every violation every registered validator finds for ``request`` on
    ``platform``; a validator that raises becomes a ``validator_error`` violation."""
    found: list[RuleViolation] = []
    for validator in registry.validators:
        name = getattr(validator, "name", type(validator).__name__)
        try:
            result = list(validator.validate(request, platform))
        except Exception as exc:  # isolate each validator
            found.append(
                RuleViolation(
                    rule=VALIDATOR_ERROR,
                    message=f"validator {name!r} failed: {type(exc).__name__}: {exc}",
                    platform=platform.name,
                )
            )
            continue
        for violation in result:
            if violation.platform is None:
                violation = dataclasses.replace(violation, platform=platform.name)
            found.append(violation)
    return found


def validate_for_platforms(
    registry: Registry,
    media: MediaInfo,
    *,
    title: str,
    description: str = "",
    platforms: str | Iterable[str] | None = None,
    hashtags: Sequence[str] = (),
) -> dict[str, list[RuleViolation]]:
    """Platform name -> violations (empty list: the platform accepts the post).

    ``platforms`` is ``"all"``/None, ``"youtube,tiktok"`` or a list of names;
    raises ``ConfigError`` for an unknown one.
    """
    results: dict[str, list[RuleViolation]] = {}
    for name in resolve_platforms(registry, platforms):
        platform = registry.platforms[name]
        request = preview_request(
            name, media, title=title, description=description, hashtags=hashtags
        )
        results[name] = run_validators(registry, request, platform)
    return results

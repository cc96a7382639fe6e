"""pellacia-dist hooks of the linkedin plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    from pellacia.contract import Platform

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Platform], None], settings: Mapping[str, Any]) -> None:
    """Register LinkedIn; ``settings["daily_post_cap"]`` sets the daily posting budget."""
    from pellacia_linkedin.platform import DAILY_POST_CAP, LinkedInPlatform

    register(LinkedInPlatform(daily_post_cap=int(settings.get("daily_post_cap", DAILY_POST_CAP))))

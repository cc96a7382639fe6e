"""pellacia-dist hooks of the TikTok plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    from pellacia.contract import Platform

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Platform], None], settings: Mapping[str, Any]) -> None:
    from pellacia_tiktok.platform import TikTokPlatform

    platform = TikTokPlatform()
    platform.configure(settings)  # daily_post_cap
    register(platform)

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


@hookimpl
def register_browser_uploaders(register: Callable[[Any], None]) -> None:
    """TikTok Studio's page script, when the ``browser`` extra is installed."""
    from importlib.util import find_spec

    if find_spec("pellacia_browser") is None:
        return  # without pellacia-dist-browser the browser layers say what to install
    from pellacia_tiktok.browser import TikTokPageScript

    register(TikTokPageScript())

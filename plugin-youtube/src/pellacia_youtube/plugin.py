"""pellacia-dist hooks of the YouTube plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Any], None], settings: Mapping[str, Any]) -> None:
    from pellacia_youtube.platform import DAILY_UNITS, INSERT_COST, YouTubePlatform

    register(
        YouTubePlatform(
            insert_cost=int(settings.get("insert_cost", INSERT_COST)),
            daily_units=int(settings.get("daily_units", DAILY_UNITS)),
        )
    )


@hookimpl
def register_browser_uploaders(register: Callable[[Any], None]) -> None:
    """YouTube Studio's page script, when the ``browser`` extra is installed."""
    from importlib.util import find_spec

    if find_spec("pellacia_browser") is None:
        return  # without pellacia-dist-browser the browser layers say what to install
    from pellacia_youtube.browser import YouTubePageScript

    register(YouTubePageScript())

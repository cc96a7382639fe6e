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

"""pellacia-dist hooks of the auth-kinds test plugin (hookimpls only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    from pellacia_testkinds.platforms import PLATFORMS

    for platform in PLATFORMS:
        register(platform)

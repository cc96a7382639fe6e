"""pellacia-dist hooks of the twitter plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    from pellacia.contract import Platform

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    from pellacia_twitter.platform import TwitterPlatform

    register(TwitterPlatform())

"""Hooks of the PeerTube plugin: hookimpls only, imports stay light."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    from pellacia.contract import Platform

#: the plugin contract this module was written for; core refuses a mismatch
PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    from pellacia_peertube.platform import PeerTubePlatform

    register(PeerTubePlatform())

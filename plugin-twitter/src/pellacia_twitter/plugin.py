"""pellacia-dist hooks of the X plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    from pellacia_twitter.platform import shared_platform

    register(shared_platform())


@hookimpl
def register_validators(register: Callable[[Any], None]) -> None:
    from pellacia_twitter.text import XTextValidator

    register(XTextValidator())


@hookimpl
def configure(settings: Mapping[str, Any]) -> None:
    from pellacia_twitter.platform import shared_platform

    shared_platform().configure(settings)

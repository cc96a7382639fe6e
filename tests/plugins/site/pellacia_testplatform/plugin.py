"""pellacia-dist hooks of the test platform plugin (hookimpls only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    from pellacia_testplatform.platform import TestPlatform

    register(TestPlatform())


@hookimpl
def register_browser_uploaders(register: Callable[[Any], None]) -> None:
    from pellacia_testplatform.platform import TestWebUploader

    register(TestWebUploader())

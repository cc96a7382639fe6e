"""pellacia-dist hooks of the meta plugin (hookimpls only; imports stay light).

One plugin, two platforms: Instagram and Facebook share the Graph API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    from pellacia.contract import Platform

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Platform], None]) -> None:
    from pellacia_meta.facebook import FacebookPlatform
    from pellacia_meta.instagram import InstagramPlatform

    register(InstagramPlatform())
    register(FacebookPlatform())


@hookimpl
def register_browser_uploaders(register: Callable[[Any], None]) -> None:
    """Instagram's and Facebook's page scripts, when the ``browser`` extra is installed."""
    from importlib.util import find_spec

    if find_spec("pellacia_browser") is None:
        return  # without pellacia-dist-browser the browser layers say what to install
    from pellacia_meta.browser import FacebookPageScript, InstagramPageScript

    register(InstagramPageScript())
    register(FacebookPageScript())

"""pellacia-dist hooks of the X plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    from pellacia.contract import Platform, Validator

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register: Callable[[Platform], None], settings: Mapping[str, Any]) -> None:
    from pellacia_twitter.platform import TwitterPlatform

    register(TwitterPlatform(settings))  # the budgets: daily_post_cap, monthly_spend_cap, prices


@hookimpl
def register_validators(register: Callable[[Validator], None]) -> None:
    from pellacia_twitter.text import XTextValidator

    register(XTextValidator())


@hookimpl
def register_browser_uploaders(register: Callable[[Any], None]) -> None:
    """X's web composer page script, when the ``browser`` extra is installed."""
    from importlib.util import find_spec

    if find_spec("pellacia_browser") is None:
        return  # without pellacia-dist-browser the browser layers say what to install
    from pellacia_twitter.browser import XPageScript

    register(XPageScript())

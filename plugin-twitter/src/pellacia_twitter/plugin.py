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

"""THE plugin contract: the hooks a pellacia-dist plugin may implement.

Every hook is synchronous, called once at start-up with keyword arguments, and
does no I/O: it registers objects whose async methods do the work later (see
``pellacia.contract``). A plugin implements any subset of these hooks with
``@pellacia.hookspecs.hookimpl`` in its ``plugin.py`` and names that module in
its ``pellacia_dist`` entry point. Declare ``PLUGIN_API_VERSION = 1`` in that
module: core refuses a plugin written for another contract version.

Core calls each plugin's implementation separately, so one plugin that raises
is reported and skipped without stopping the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from pellacia.contract import (
        AlertSink,
        BrowserUploader,
        MigrationSource,
        Platform,
        Route,
        Validator,
    )

PROJECT = "pellacia_dist"  # also the entry-point group

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_platforms(register: Callable[[Platform], None]) -> None:
    """Register the platforms this plugin publishes to.

    Called once when plugins load. Call ``register(platform)`` for each object
    implementing ``pellacia.contract.Platform``; a plugin may register several
    (plugin-meta registers Instagram and Facebook). Platform names must be
    unique across plugins: a second registration of a name is refused and
    reported against the later plugin.
    """


@hookspec
def register_routes(register: Callable[[Route], None]) -> None:
    """Register fallback routes (how requests and browsers reach a platform).

    ``register(route)`` for each ``pellacia.contract.Route``. Core registers
    ``direct``; the VPN plugin registers one route per configured VPN or
    proxy. The fallback chain's ``+vpn`` layers use the non-direct routes.
    """


@hookspec
def register_browser_uploaders(register: Callable[[BrowserUploader], None]) -> None:
    """Register browser-automation uploaders, one per platform they handle.

    Used by the chain's ``browser`` layers when the official API failed.
    """


@hookspec
def register_alert_sinks(register: Callable[[AlertSink], None]) -> None:
    """Register alert sinks (Telegram, ...). Core always has a log sink.

    Core calls every sink itself, each with its own error handling and time
    limit, so a failing sink never silences the others.
    """


@hookspec
def register_validators(register: Callable[[Validator], None]) -> None:
    """Register validators run on every post before anything is sent.

    Core's defaults check the platform's media rules and metadata lengths.
    Each validator runs in isolation; a crashing validator is reported as a
    problem, not ignored.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands or groups to the ``pellacia-dist`` CLI.

    Keep imports of heavy dependencies inside the command functions so that
    ``pellacia-dist --help`` stays fast with every plugin installed.
    """


@hookspec
def register_migrations(register: Callable[[MigrationSource], None]) -> None:
    """Register SQL migrations for tables the plugin owns.

    Tables must start with the plugin's ``owner`` prefix. Plugins never run
    SQL themselves at runtime otherwise: core applies these files in order,
    under an advisory lock, once each.
    """


@hookspec(historic=True)
def configure(settings: Mapping[str, Any]) -> None:
    """Receive the plugin's own configuration section.

    Historic: a plugin registered late still receives it. ``settings`` is the
    ``[plugins.<entry point name>]`` table of the config (empty when absent).
    """


@hookspec
def register_fakes(register: Callable[[str, str], None]) -> None:
    """Register sandbox fakes of the platforms this plugin publishes to.

    Called by the sandbox only (``pellacia-dist sandbox up`` and the
    conformance kit's ``sandbox`` fixture), never when core loads plugins.
    ``register(platform, "module:Class")`` names the platform (its fake is
    served under ``/<platform>/``, and ``PlatformContext.endpoint`` points
    there) and the ``pellacia_sandbox.fakes.base.FakePlatform`` subclass
    serving it. The class is imported when the sandbox starts, so the plugin
    itself never needs the sandbox installed; a fake that fails to import or
    start is reported by the sandbox (``sandbox status``) and skipped. A
    platform the sandbox already fakes keeps the sandbox's fake.
    """

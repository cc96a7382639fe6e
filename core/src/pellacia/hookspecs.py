"""THE plugin contract: the hooks a pellacia-dist plugin may implement.

Every hook is synchronous, called once at start-up with keyword arguments, and
does no I/O: it registers objects whose async methods do the work later (see
``pellacia.contract``). A plugin implements any subset of these hooks with
``@pellacia.hookspecs.hookimpl`` in its ``plugin.py`` and names that module in
its ``pellacia_dist`` entry point. Declare ``PLUGIN_API_VERSION = 1`` in that
module: core refuses a plugin written for another contract version.

How core calls them (the pluggy way):

- through pluggy, one plugin at a time, so one plugin that raises is reported
  and skipped without stopping the others;
- an implementation declares only the arguments it uses: pluggy passes it
  those and nothing else. That is how the contract grows: a hook gains an
  argument, and plugins written before it keep working unchanged;
- an implementation whose name matches no hook here (a misspelling) fails its
  plugin with a clear reason in ``pellacia-dist plugins list``.

Every registration hook core calls when plugins load receives ``settings``:
the plugin's own ``[plugins.<entry point name>]`` config table (empty when
absent). It is the only way settings reach a plugin: never keep them in
module globals. (``register_fakes`` is the sandbox's, called without it.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from pellacia.cli.context import CommandContext
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
def register_platforms(register: Callable[[Platform], None], settings: Mapping[str, Any]) -> None:
    """Register the platforms this plugin publishes to.

    Called once when plugins load. Call ``register(platform)`` for each object
    implementing ``pellacia.contract.Platform``; a plugin may register several
    (plugin-meta registers Instagram and Facebook). Platform names must be
    unique across plugins: a second registration of a name is refused and
    reported against the later plugin.

    ``settings``: the plugin's config table (an optional argument, like every
    ``settings`` below: leave it out when unused). The platform also gets its
    table at run time through ``PlatformContext.settings``.
    """


@hookspec
def register_routes(register: Callable[[Route], None], settings: Mapping[str, Any]) -> None:
    """Register fallback routes (how requests and browsers reach a platform).

    ``register(route)`` for each ``pellacia.contract.Route``. Core registers
    ``direct``; the VPN plugin registers one route per table under
    ``settings["routes"]``. The fallback chain's ``+vpn`` layers use the
    non-direct routes. Raise ``ConfigError`` for a mistake in ``settings``:
    the plugin is reported as failed with that reason.
    """


@hookspec
def register_browser_uploaders(
    register: Callable[[BrowserUploader], None], settings: Mapping[str, Any]
) -> None:
    """Register browser-automation uploaders, one per platform they handle.

    Used by the chain's ``browser`` layers when the official API failed.
    ``settings`` is the plugin's config table (optional argument).
    """


@hookspec
def register_alert_sinks(
    register: Callable[[AlertSink], None], settings: Mapping[str, Any]
) -> None:
    """Register alert sinks (Telegram, ...). Core always has a log sink.

    Core calls every sink itself, each with its own error handling and time
    limit, so a failing sink never silences the others. Register nothing when
    ``settings`` (optional argument) does not configure the sink.
    """


@hookspec
def register_validators(register: Callable[[Validator], None], settings: Mapping[str, Any]) -> None:
    """Register validators run on every post before anything is sent.

    Core's defaults check the platform's media rules and metadata lengths.
    Each validator runs in isolation; a crashing validator is reported as a
    problem, not ignored. ``settings`` is the plugin's config table (optional).
    """


@hookspec
def register_commands(cli: click.Group, context: CommandContext) -> None:
    """Add commands or groups to the ``pellacia-dist`` CLI.

    ``context`` (optional argument) is what the commands get from core: the
    plugin's ``settings`` table, the loaded ``config``, the ``sandbox_url``
    and ``client_session()`` (the one HTTP session factory). Read it inside
    the command functions: the config is loaded only when a command runs.
    Keep imports of heavy dependencies inside the command functions so that
    ``pellacia-dist --help`` stays fast with every plugin installed.
    """


@hookspec
def register_migrations(
    register: Callable[[MigrationSource], None], settings: Mapping[str, Any]
) -> None:
    """Register SQL migrations for tables the plugin owns.

    Tables must start with the plugin's ``owner`` prefix. Plugins never run
    SQL themselves at runtime otherwise: core applies these files in order,
    under an advisory lock, once each. ``settings`` is optional.
    """


@hookspec
def configure(settings: Mapping[str, Any]) -> None:
    """Receive the plugin's own configuration section (kept for older plugins).

    Called once per plugin, before its registration hooks, with its
    ``[plugins.<entry point name>]`` table (empty when absent). Raise
    ``ConfigError`` to fail the plugin with a reason. New plugins take
    ``settings`` in the registration hooks instead and keep no state here.
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

"""What every command shares: settings, plugins, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import aiohttp
    from rich.console import Console

    from pellacia.config import Settings
    from pellacia.plugins import Registry


@dataclass
class AppContext:
    """Per-invocation state, built by the root group; loaded lazily."""

    config_file: Path | None = None
    sandbox_url: str | None = None
    log_json: bool = False
    log_level: str | None = None
    #: used when neither --log-level nor the config sets one (the worker says "info")
    default_log_level: str = "warning"
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from pellacia.config import load_settings
            from pellacia.log import configure_logging

            overrides: dict[str, Any] = {}
            if self.sandbox_url:
                overrides["sandbox_url"] = self.sandbox_url
            if self.log_json:
                overrides["log_json"] = True
            if self.log_level:
                overrides["log_level"] = self.log_level
            self._settings = load_settings(self.config_file, **overrides)
            configure_logging(
                self._settings.log_level or self.default_log_level, self._settings.log_json
            )
        return self._settings

    @property
    def registry(self) -> Registry:
        from pellacia.plugins import get_registry

        return get_registry(self.settings.plugins)


pass_app = click.make_pass_decorator(AppContext, ensure=True)


@dataclass
class CommandContext:
    """What a plugin's CLI commands get from core (``register_commands(cli, context)``).

    Everything is read when asked, inside a running command: by then the root
    group has parsed ``--config`` and ``--sandbox``, so ``settings`` is the
    table of the config the user chose. Outside a ``pellacia-dist`` command
    (a test invoking the group alone) the default config is loaded.
    """

    #: the plugin's entry-point name: its table is ``[plugins.<plugin>]``
    plugin: str
    _fallback: AppContext | None = field(default=None, init=False, repr=False)

    def _app(self) -> AppContext:
        ctx = click.get_current_context(silent=True)
        app = ctx.find_object(AppContext) if ctx is not None else None
        if app is None:
            if self._fallback is None:
                self._fallback = AppContext()
            app = self._fallback
        return app

    @property
    def config(self) -> Settings:
        """The loaded config (all of it; prefer ``settings`` for your own table)."""
        return self._app().settings

    @property
    def settings(self) -> Mapping[str, Any]:
        """This plugin's ``[plugins.<name>]`` table (empty when absent)."""
        return self.config.plugins.get(self.plugin, {})

    @property
    def sandbox_url(self) -> str | None:
        """The sandbox to talk to (``--sandbox``, ``PELLACIA_SANDBOX_URL`` or the
        config), or None for the real platforms."""
        app = self._app()
        return app.sandbox_url or app.settings.sandbox_url

    def client_session(self, **options: Any) -> aiohttp.ClientSession:
        """A new HTTP session from core's one factory (``pellacia.http.client_session``:
        same timeouts and user agent; ``proxy=`` for a route). Close it when done."""
        from pellacia.http import client_session

        return client_session(**options)


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (for ``--json``)."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def fail(message: str, code: int = 1) -> None:
    """Print a clear error on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

"""What every command shares: settings, plugins, output helpers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
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

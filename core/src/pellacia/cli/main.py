"""Root command group. Sub-commands load lazily so ``--help`` stays fast."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from pellacia.cli.context import AppContext

#: built-in commands: name -> "module:attribute" (imported only when used)
BUILTIN_COMMANDS: dict[str, str] = {
    "plugins": "pellacia.cli.plugins_cmd:plugins",
    "config": "pellacia.cli.config_cmd:config",
    "db": "pellacia.cli.db_cmd:db",
    "auth": "pellacia.cli.auth_cmd:auth",
    "validate": "pellacia.cli.validate_cmd:validate",
    "upload": "pellacia.cli.delivery_cmd:upload",
    "schedule": "pellacia.cli.delivery_cmd:schedule",
    "queue": "pellacia.cli.queue_cmd:queue",
    "manual": "pellacia.cli.manual_cmd:manual",
    "worker": "pellacia.cli.worker_cmd:worker",
    "analytics": "pellacia.cli.analytics_cmd:analytics",
    "serve": "pellacia.cli.serve_cmd:serve",
    "api-key": "pellacia.cli.api_key_cmd:api_key",
    "webhook": "pellacia.cli.webhook_cmd:webhook",
    "watch": "pellacia.cli.watch_cmd:watch",
    "account": "pellacia.cli.account_cmd:account",
    "test": "pellacia.cli.test_cmd:test",
    "dashboard": "pellacia.cli.dashboard_cmd:dashboard",
    "vault": "pellacia.cli.vault_cmd:vault",
}
#: built-in groups plugins add sub-commands to (in ``cli.commands`` before plugins load)
PLUGIN_EXTENDED_GROUPS = ("test",)


class LazyGroup(click.Group):
    """Built-in commands import on first use; plugins add theirs through a hook."""

    _plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        from pellacia.plugins import install_commands, load_plugins

        for name in PLUGIN_EXTENDED_GROUPS:
            group = self._import(name)
            if group is not None:
                self.add_command(group, name)

        # modules only: building every platform object is not needed for commands
        install_commands(load_plugins(register_objects=False), self)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; our own refusals that a command did not catch become a
        one-line ``error: ...`` and exit status 2, never a traceback."""
        from pellacia.delivery.errors import BadInput, NotFound
        from pellacia.errors import ConfigError

        try:
            return super().invoke(ctx)
        except (BadInput, NotFound, ConfigError) as exc:
            from pellacia.cli.context import fail

            fail(str(exc), 2)

    def load_plugin_commands(self) -> None:
        """Let plugins add their commands (once); groups call it before a lookup."""
        self._load_plugin_commands()

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        names = set(super().list_commands(ctx))
        names.update(name for name in BUILTIN_COMMANDS if self._importable(name))
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in BUILTIN_COMMANDS:
            return self._import(name)
        command = super().get_command(ctx, name)
        if command is None:
            self._load_plugin_commands()
            command = super().get_command(ctx, name)
        return command

    @staticmethod
    def _importable(name: str) -> bool:
        module_name = BUILTIN_COMMANDS[name].partition(":")[0]
        return importlib.util.find_spec(module_name) is not None

    @staticmethod
    def _import(name: str) -> click.Command | None:
        module_name, _, attr = BUILTIN_COMMANDS[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command


def _print_version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from pellacia import __version__
    from pellacia.plugins import load_plugins

    click.echo(f"pellacia-dist {__version__}")
    for info in load_plugins(register_objects=False).plugins:
        if info.name == "core":
            continue
        state = "" if info.error is None else "  (failed to load)"
        click.echo(f"  {info.distribution or info.name} {info.version or '?'}{state}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="PELLACIA_CONFIG",
    help="TOML config file (default: config.toml in the user config directory).",
)
@click.option(
    "--sandbox",
    "sandbox_url",
    metavar="URL",
    help="Talk to a pellacia-dist sandbox at URL instead of the real platforms.",
)
@click.option("--log-json", is_flag=True, help="Log JSON lines to stderr (for machines).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log verbosity (default from config: info).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show core and plugin versions and exit.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_file: Path | None,
    sandbox_url: str | None,
    log_json: bool,
    log_level: str | None,
) -> None:
    """pellacia-dist publishes finished news videos on YouTube, TikTok, Instagram,
    Facebook, X and LinkedIn: on schedule, spaced so accounts stay safe, breaking
    news first, never twice and never lost.

    \b
    Quick start:
      pellacia-dist plugins list          what is installed
      pellacia-dist validate clip.mp4     will each platform accept it?
      pellacia-dist upload --platforms all --file clip.mp4 --wait

    Shell completion: eval "$(_PELLACIA_DIST_COMPLETE=bash_source pellacia-dist)"
    """
    ctx.obj = AppContext(
        config_file=config_file,
        sandbox_url=sandbox_url,
        log_json=log_json,
        log_level=log_level,
    )


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    from pellacia.atomic import disk_full_message, is_disk_full

    try:
        return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="pellacia-dist")
    except Exception as exc:
        # one line, not a traceback: a full disk (naming the folder; what was being
        # written is left whole) or a database that cannot be reached
        if is_disk_full(exc):
            click.echo(f"error: {disk_full_message(exc)}", err=True)
            sys.exit(1)
        from pellacia.store.pool import is_unavailable

        if is_unavailable(exc):
            click.echo(f"error: the database is unavailable: {exc}", err=True)
            sys.exit(1)
        raise

"""pellacia-dist hooks of the browser plugin (hookimpls only; imports stay light).

It provides the launcher, the ``PageScriptUploader`` base class, the
``browser`` commands (check, login, status) and ``test browser``. Page
scripts live with their platform plugins (the ``browser`` extra of each) and
register there; this plugin only hands them ``[plugins.browser]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    import click
    from pellacia.cli.context import CommandContext

PLUGIN_API_VERSION = 1


@hookimpl
def register_commands(cli: click.Group, context: CommandContext) -> None:
    import click

    from pellacia_browser.cli import browser_commands
    from pellacia_browser.session_cli import add_session_commands, test_browser_command

    browser = browser_commands(context)
    add_session_commands(browser, context)
    cli.add_command(browser)
    # core's ``test`` group (the self-checks): ``test browser`` joins it
    group = cli.commands.get("test")
    if isinstance(group, click.Group):
        group.add_command(test_browser_command(context))


@hookimpl
def register_browser_uploaders(
    register: Callable[[Any], None], settings: Mapping[str, Any]
) -> None:
    """No uploader of its own: remembers ``[plugins.browser]`` for the page scripts."""
    from pellacia_browser.launcher import BrowserSettings
    from pellacia_browser.uploader import CONFIGURED

    CONFIGURED["browser"] = BrowserSettings.from_section(settings)

"""pellacia-dist hooks of the browser plugin (hookimpls only; imports stay light).

It provides the launcher, the ``PageScriptUploader`` base class and the
``browser check`` command. It registers no browser uploader yet: a platform
gets one only once its page script exists, so the chain's ``browser`` layers
are skipped (and ``config check`` says so) rather than faking an upload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pellacia.hookspecs import hookimpl

if TYPE_CHECKING:
    import click
    from pellacia.cli.context import CommandContext

PLUGIN_API_VERSION = 1


@hookimpl
def register_commands(cli: click.Group, context: CommandContext) -> None:
    from pellacia_browser.cli import browser_commands

    cli.add_command(browser_commands(context))

"""A plugin written before the hooks gained ``settings`` and ``context``.

It declares only the arguments the hooks had then (``register``, ``cli``)
and takes its settings the old way, through ``configure``. Core must keep
it working: the contract grows by optional arguments only.
"""

from pellacia.contract import RouteHandle
from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1

_section = {}  # the old way; new plugins take ``settings`` in each hook


class OldRoute:
    kind = "direct"

    def __init__(self, name):
        self.name = name

    def open(self):
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def opened():
            yield RouteHandle(name=self.name)

        return opened()


class OldSink:
    def __init__(self, name):
        self.name = name

    async def send(self, alert):
        pass


@hookimpl
def configure(settings):
    global _section
    _section = dict(settings)


@hookimpl
def register_routes(register):
    register(OldRoute(f"old:{_section.get('route', 'unset')}"))


@hookimpl
def register_alert_sinks(register):
    register(OldSink("old-sink"))


@hookimpl
def register_commands(cli):
    import click

    @cli.command("old-probe")
    def probe():
        click.echo("old-style command works")

"""A deliberately faulty plugin for the loader tests (duplicate)."""

from pellacia.hookspecs import hookimpl
from pellacia_youtube.platform import YouTubePlatform

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register):
    register(YouTubePlatform())

"""A deliberately faulty plugin for the loader tests (bad_register)."""

from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register):
    raise RuntimeError("could not read my settings")

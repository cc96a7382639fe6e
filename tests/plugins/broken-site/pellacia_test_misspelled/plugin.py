"""A deliberately faulty plugin for the loader tests (misspelled): its hook
name matches no hookspec, so without check_pending it would silently never run."""

from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


@hookimpl
def register_platfroms(register):
    raise AssertionError("never called: no such hook")

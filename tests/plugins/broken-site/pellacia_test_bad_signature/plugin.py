"""A deliberately faulty plugin for the loader tests (bad_signature): it asks
for an argument the hook does not offer."""

from pellacia.hookspecs import hookimpl

PLUGIN_API_VERSION = 1


@hookimpl
def register_platforms(register, credentials):
    raise AssertionError("never called: the hook has no 'credentials'")

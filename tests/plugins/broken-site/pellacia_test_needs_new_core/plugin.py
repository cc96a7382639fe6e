"""A deliberately faulty plugin for the loader tests (needs_new_core)."""

PLUGIN_API_VERSION = 1

"""A deliberately faulty plugin for the loader tests (old_api)."""

PLUGIN_API_VERSION = 0

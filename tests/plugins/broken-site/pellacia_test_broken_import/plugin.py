"""A deliberately faulty plugin for the loader tests (broken_import)."""

raise ImportError("this plugin needs a module that is not installed: nonexistent_sdk")

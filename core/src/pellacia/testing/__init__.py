"""Test helpers for pellacia-dist and its plugins (shipped as a pytest plugin).

``pytest`` loads ``pellacia.testing.pytest_plugin`` automatically through the
``pytest11`` entry point when core is installed.
"""

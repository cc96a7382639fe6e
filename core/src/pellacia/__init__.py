"""pellacia-dist: publish finished news videos everywhere, on time, exactly once."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pellacia-dist")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

#: Major version of the plugin contract (hookspecs + contract types). A plugin
#: declares the version it was written for as ``PLUGIN_API_VERSION`` in the
#: module its entry point names; a mismatch is refused with a clear reason.
PLUGIN_API_VERSION = 1

__all__ = ["PLUGIN_API_VERSION", "__version__"]

"""pellacia-dist hooks of the meta plugin (hookimpls only; imports stay light)."""

from __future__ import annotations

PLUGIN_API_VERSION = 1

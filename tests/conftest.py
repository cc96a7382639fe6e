"""Fixtures of the cross-package tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Import the test platform's fixtures without leaving its folder on sys.path:
# only the `testplatform` fixture makes the plugin discoverable, for its test.
_SITE = str(Path(__file__).resolve().parent / "plugins" / "site")
sys.path.insert(0, _SITE)
try:
    from pellacia_testplatform.fixtures import _testplatform_server, testplatform
finally:
    sys.path.remove(_SITE)

# The VPN test world's fixtures (`world`, `fake_url`); test modules import the
# rest of `vpn_world` by name, found in sys.modules (pytest's importlib mode
# never puts this folder on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    from vpn_world import fake_url, world
finally:
    sys.path.pop(0)

__all__ = ["_testplatform_server", "fake_url", "testplatform", "world"]

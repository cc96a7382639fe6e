"""Fixtures of the core's tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Import the test platform's fixtures without leaving its folder on sys.path:
# only the `testplatform` fixture makes the plugin discoverable, for its test.
_SITE = str(Path(__file__).resolve().parents[2] / "tests" / "plugins" / "site")
sys.path.insert(0, _SITE)
try:
    from pellacia_testplatform.fixtures import _testplatform_server, testplatform
finally:
    sys.path.remove(_SITE)

__all__ = ["_testplatform_server", "testplatform"]

"""The test platform's fixtures, for the end-to-end alert test (as in core's tests)."""

from __future__ import annotations

import sys
from pathlib import Path

_SITE = str(Path(__file__).resolve().parents[3] / "tests" / "plugins" / "site")
sys.path.insert(0, _SITE)
try:
    from pellacia_testplatform.fixtures import _testplatform_server, testplatform
finally:
    sys.path.remove(_SITE)

__all__ = ["_testplatform_server", "testplatform"]

"""Fixtures of core's tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "plugins" / "site"))

from pellacia_testplatform.fixtures import _testplatform_server, testplatform

__all__ = ["_testplatform_server", "testplatform"]

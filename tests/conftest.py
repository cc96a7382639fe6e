"""Fixtures of the cross-package tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins" / "site"))

from pellacia_testplatform.fixtures import _testplatform_server, testplatform

__all__ = ["_testplatform_server", "testplatform"]

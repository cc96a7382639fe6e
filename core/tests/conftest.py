"""Fixtures of the core's tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pellacia.testing.videos import make_video

# Import the test platform's fixtures without leaving its folder on sys.path:
# only the `testplatform` fixture makes the plugin discoverable, for its test.
_SITE = str(Path(__file__).resolve().parents[2] / "tests" / "plugins" / "site")
sys.path.insert(0, _SITE)
try:
    from pellacia_testplatform.fixtures import _testplatform_server, testplatform
finally:
    sys.path.remove(_SITE)

__all__ = ["_testplatform_server", "testplatform", "video"]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-second real clip, made once per test module (a module may override it)."""
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=1.0)

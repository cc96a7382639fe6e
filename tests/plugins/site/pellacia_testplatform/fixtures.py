"""pytest fixtures for the test platform (imported by the repo's conftest files).

``activate()`` makes the plugin discoverable through its entry point without
installing it: this folder's parent goes on ``sys.path`` (and ``PYTHONPATH``
for subprocesses) and the plugin registry is reset.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from pellacia_testplatform.fake import FakeTestPlatform

SITE = Path(__file__).resolve().parent.parent


def activate() -> None:
    """Put the test platform on the plugin path (idempotent)."""
    site = str(SITE)
    if site not in sys.path:
        sys.path.insert(0, site)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if site not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([site, *parts])
    importlib.invalidate_caches()
    from pellacia.plugins import reset_registry

    reset_registry()


def deactivate() -> None:
    """Take the test platform off the plugin path again (so other tests see
    only the installed distributions)."""
    site = str(SITE)
    while site in sys.path:
        sys.path.remove(site)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != site]
    if parts:
        os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    else:
        os.environ.pop("PYTHONPATH", None)
    importlib.invalidate_caches()
    from pellacia.plugins import reset_registry

    reset_registry()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _testplatform_server() -> AsyncIterator[FakeTestPlatform]:
    fake = FakeTestPlatform()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def testplatform(_testplatform_server: FakeTestPlatform) -> AsyncIterator[FakeTestPlatform]:
    """The fake test platform, reset, with the plugin discoverable.

    Point settings at it with ``plugins={"testplatform": {"base_url": fake.base_url}}``
    or ``sandbox_url=fake.url``.
    """
    activate()
    _testplatform_server.reset()
    try:
        yield _testplatform_server
    finally:
        _testplatform_server.reset()
        deactivate()


def settings_for(fake: FakeTestPlatform, data_dir: Path, **overrides: Any) -> Any:
    """``Settings`` that reach the fake with static tokens; the chain is api → manual
    unless ``chains`` is given."""
    from pellacia.config import Settings

    plugin = {
        "base_url": fake.base_url,
        "access_token": "tp-token-static",
        "refresh_token": "tp-refresh",
        "chunk_size": 64 * 1024,
        "timeout": 5.0,
        **overrides.pop("plugin", {}),
    }
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "plugins": {"testplatform": plugin},
        "chains": {"testplatform": ["api", "manual"]},
        "retry": {"tries_per_layer": 3, "base_delay": 1.0, "max_delay": 16.0},
        "database_url": None,
    }
    values.update(overrides)
    return Settings(**values)

"""The tunnel tests' world: real VPN servers in namespaces the tests create."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pellacia_vpn.testing import world as w


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[w.World]:
    """Built once per session (~0.3 s), removed at the end, idempotently."""
    missing = w.requirements_missing()
    if missing:
        pytest.skip(missing)
    found = w.World(tmp_path_factory.mktemp("world"))
    found.build()
    try:
        yield found
    finally:
        found.close()

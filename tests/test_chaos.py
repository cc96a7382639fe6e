"""The chaos run, short: deliveries to all six sandbox platforms while workers
are SIGKILLed, a tenth of the requests fail (every fault kind), tokens expire,
PostgreSQL restarts and the sandbox goes down and comes back mid-run. Nothing
is lost or doubled, the database agrees with every platform, and each manual
entry says why (``bench/chaos.py`` runs the same machinery at 1,000+)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pellacia.testing.chaos import PLATFORMS, ChaosOptions, run_chaos


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # under the system temp dir, world-traversable: the embedded cluster's
    # service user reaches its data directory in here
    tmp = Path(tempfile.mkdtemp(prefix="pellacia-chaos-"))
    tmp.chmod(0o755)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
async def test_six_platforms_survive_kills_faults_and_restarts(run_dir: Path) -> None:
    options = ChaosOptions(
        deliveries=60,
        accounts=2,
        workers=3,
        concurrency=3,
        size=256 * 1024,
        kill_every=6.0,
        min_kills=3,
        lease=3.0,
        expire_every=10.0,
        check_every=5.0,
        quick_throttles=True,
        outage_seconds=2.0,
        retry_base_delay=0.5,
        retry_max_delay=4.0,
        max_minutes=3.0,
    )
    lines: list[str] = []
    result = await run_chaos(options, run_dir, log=lines.append)
    report = "\n".join([*lines, result.summary()])
    assert result.deliveries == 60, report
    assert result.lost == [], report
    assert result.duplicates == [], report
    assert result.published_absent == [], report
    assert result.present_not_published == [], report
    assert result.manual_without_reason == [], report
    assert result.kills >= 3, report
    assert result.db_restarts == 1, report
    assert result.sandbox_restarts == 1, report
    assert all(result.faulted[p] for p in PLATFORMS), report
    assert result.ok, report

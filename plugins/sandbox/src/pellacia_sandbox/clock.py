"""The sandbox's clock: real time plus an offset the control API can advance.

Every fake reads time from it (token expiry, processing delays, rate-limit
windows), so a test can jump an hour ahead with ``POST /_control/clock/advance``
instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Follows the real clock, shifted by ``offset`` seconds (only ever moved forward)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        """Aware UTC datetime of the sandbox."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def time(self) -> float:
        """Unix timestamp (seconds) of the sandbox."""
        return time.time() + self.offset

    def monotonic(self) -> float:
        """Monotonic seconds, moved by ``advance`` too."""
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` into the future (negative values are refused)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset += seconds

    async def sleep(self, seconds: float) -> None:
        """Real sleep (the fakes never need to sleep on sandbox time)."""
        await asyncio.sleep(max(0.0, seconds))

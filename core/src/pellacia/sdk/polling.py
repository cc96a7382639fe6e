"""Waits between a platform's processing/status polls: soon at first, then backing off.

A short clip is often ready within a second of its last byte, a long one takes
minutes. Polling at a fixed interval makes the short one wait a whole interval
for nothing; polling fast all along wastes calls (and status endpoints have
their own limits: TikTok allows 30 a minute). So the first poll comes
``first`` seconds after the upload, and each wait doubles up to ``ceiling``,
the plugin's configured interval.
"""

from __future__ import annotations

from collections.abc import Iterator

#: the first wait after the upload (s): one round trip's worth, not a poll interval's
FIRST_POLL_S = 0.25


def poll_delays(ceiling: float, first: float = FIRST_POLL_S) -> Iterator[float]:
    """``first``, ``2 * first``, ... up to ``ceiling`` seconds, then ``ceiling`` forever.

    A ``ceiling`` at or below ``first`` (tests set it to 0) gives ``ceiling``
    every time.
    """
    ceiling = max(0.0, ceiling)
    delay = min(first, ceiling)
    while True:
        yield delay
        delay = min(delay * 2, ceiling)

"""``Content-Range`` as upload endpoints read it, and the ``Range`` they answer with.

One strict reading for every fake: ASCII digits only (``\\d`` and ``int`` would
take other scripts' digits and ``1_000``), no spaces inside, a first byte not
after the last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTENT_RANGE = re.compile(r"bytes (?:([0-9]+)-([0-9]+)|\*)/([0-9]+|\*)")


@dataclass(frozen=True)
class ContentRange:
    """``bytes FIRST-LAST/TOTAL``; ``first``/``last`` are None for ``bytes */TOTAL``
    (a status query) and ``total`` is None for ``/*`` (size not known)."""

    first: int | None
    last: int | None
    total: int | None

    @property
    def query(self) -> bool:
        """``bytes */…``: where does the server stand?"""
        return self.first is None

    @property
    def length(self) -> int:
        """Bytes the range covers (0 for a status query)."""
        return 0 if self.first is None or self.last is None else self.last - self.first + 1


def parse_content_range(header: str) -> ContentRange | None:
    """The range of ``header``, or None when it is malformed."""
    match = _CONTENT_RANGE.fullmatch(header)
    if match is None:
        return None
    first, last, total = match.groups()
    if first is None:
        return ContentRange(None, None, None if total == "*" else int(total))
    if total == "*" or int(first) > int(last):
        return None  # a chunk always says the file's size here; an empty range is no range
    return ContentRange(int(first), int(last), int(total))


def stored_range(stored: int) -> str | None:
    """The ``Range`` header of a server holding ``stored`` bytes (None: nothing yet)."""
    return f"bytes=0-{stored - 1}" if stored > 0 else None

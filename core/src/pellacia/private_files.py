"""Folders only their owner may enter, whatever the umask; files written where
they are, never through a link someone planted in their place.

The data directory holds the vault key, manual packages (videos not yet
published), uploads and screenshots of signed-in pages: each folder we create
there is 0700. ``mkdir(mode=...)`` alone is not enough: its mode passes through
the umask and applies to the last folder only, so a missing data directory
made by ``mkdir(parents=True)`` under umask 000 would be world-writable.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents, each 0700; folders that already
    existed keep their mode (a data directory under /srv is the owner's choice)."""
    missing = []
    for part in (path, *path.parents):
        if part.exists():
            break
        missing.append(part)
    for part in reversed(missing):
        try:
            part.mkdir(mode=0o700)
        except FileExistsError:  # another process made it just now
            continue
        os.chmod(part, 0o700)  # the umask may have taken bits off
    return path


def write_text_here(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``path`` as a new file, replacing a link found there instead of
    writing through it (a folder others can write to, like an intake folder or
    a shared export target, could hold a link to a file of ours)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)

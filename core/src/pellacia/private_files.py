"""Folders only their owner may enter, whatever the umask.

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

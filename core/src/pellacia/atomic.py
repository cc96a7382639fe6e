"""Files written whole or not at all, and a full disk said plainly.

A folder such as a manual package is built beside its final place and renamed
into it only once complete (:func:`build_dir`): a full disk or a crash leaves
the previous version or nothing, never half a package. :class:`DiskFull` is
the ``OSError`` that names the folder that ran out of room.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

#: errno values that mean "no room to write" (a full file system, a quota)
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFull(OSError):
    """No space left on the file system of ``directory``."""

    def __init__(self, directory: Path) -> None:
        super().__init__(errno.ENOSPC, "no space left on device", str(directory))
        self.directory = directory

    def __str__(self) -> str:
        return f"no space left on device in {self.directory}"


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says the disk is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def build_dir(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``target`` to fill; on success it replaces
    ``target`` (whatever was there goes), on any failure it is removed and
    ``target`` is left as it was. A full disk is raised as :class:`DiskFull`."""
    tag = secrets.token_hex(4)
    building = target.with_name(f".{target.name}.{tag}.new")
    old = target.with_name(f".{target.name}.{tag}.old")
    try:
        building.mkdir(parents=True)
        yield building
        if target.exists():
            os.rename(target, old)
        os.rename(building, target)
    except BaseException as exc:
        shutil.rmtree(building, ignore_errors=True)
        if old.exists() and not target.exists():
            os.rename(old, target)
        if isinstance(exc, OSError) and is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise DiskFull(target.parent) from exc
        raise
    shutil.rmtree(old, ignore_errors=True)

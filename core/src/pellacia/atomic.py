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

from pellacia.private_files import private_dir

#: errno values that mean "no room to write" (a full file system, a quota)
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
#: PostgreSQL's SQLSTATE for "disk full" (its own data directory)
_PG_DISK_FULL = "53100"


class DiskFull(OSError):
    """No space left on the file system of ``directory``."""

    def __init__(self, directory: Path) -> None:
        super().__init__(errno.ENOSPC, "no space left on device", str(directory))
        self.directory = directory

    def __str__(self) -> str:
        return f"no space left on device in {self.directory}"


def _full_one(exc: BaseException | None) -> BaseException | None:
    """``exc`` or the first error it was raised from that says a disk is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return exc
        if getattr(exc, "sqlstate", None) == _PG_DISK_FULL:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says a disk is full: ours
    (``ENOSPC``, a quota) or PostgreSQL's (SQLSTATE 53100)."""
    return _full_one(exc) is not None


def disk_full_message(exc: BaseException) -> str:
    """One line for a person: which folder has no room left."""
    found = _full_one(exc)
    if isinstance(found, DiskFull):
        return str(found)
    if isinstance(found, OSError):
        return str(DiskFull(Path(found.filename).parent)) if found.filename else str(found)
    first = str(found).splitlines()[0] if found is not None else ""
    return f"no space left on device in PostgreSQL's data directory ({first})"


@contextlib.contextmanager
def build_dir(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``target`` to fill; on success it replaces
    ``target`` (whatever was there goes), on any failure it is removed and
    ``target`` is left as it was. A full disk is raised as :class:`DiskFull`."""
    tag = secrets.token_hex(4)
    building = target.with_name(f".{target.name}.{tag}.new")
    old = target.with_name(f".{target.name}.{tag}.old")
    try:
        private_dir(building)  # 0700, like every folder of the data directory
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

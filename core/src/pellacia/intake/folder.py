"""One watched folder: find complete items, submit each once, quarantine bad ones."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.contract import Alert
from pellacia.delivery.errors import BadInput
from pellacia.intake.item import ItemProblems, parse
from pellacia.log import get_logger
from pellacia.private_files import write_text_here
from pellacia.store import intake as ledger

if TYPE_CHECKING:
    import asyncpg

    from pellacia.alerts import AlertDispatcher
    from pellacia.clock import Clock
    from pellacia.config import Settings
    from pellacia.plugins import Registry

log = get_logger("pellacia.intake")
ACCEPTED, REJECTED = "accepted", "rejected"


@dataclass
class _Watch:
    """What a scan saw of a video last time, to tell when it stopped changing."""

    stamp: tuple[int, int]  # size, mtime_ns
    since: datetime


@dataclass
class ScanResult:
    submitted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


class FolderIntake:
    """Submits ``name.mp4`` + ``name.json`` pairs of ``folder`` as posts, once each.

    An item is complete when its JSON is newer than its video (the JSON came last),
    or, when the JSON came first, once the video has not changed for
    ``settle_seconds``. The ledger row commits with the post, so a crash
    anywhere leaves the item either submitted or still to submit.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: Registry,
        settings: Settings,
        folder: Path,
        clock: Clock,
        *,
        alerts: AlertDispatcher | None = None,
    ) -> None:
        self.pool, self.registry, self.settings, self.clock = pool, registry, settings, clock
        self.folder = folder.expanduser().resolve()
        self.alerts = alerts
        self._watching: dict[str, _Watch] = {}

    async def scan(self) -> ScanResult:
        """Look at the folder once and handle every complete item."""
        result = ScanResult()
        pairs = await asyncio.to_thread(self._pairs)
        for name, video, meta in pairs:
            if not await asyncio.to_thread(self._complete, name, video, meta):
                result.waiting.append(name)
                continue
            outcome = await self._handle(name, video, meta)
            if outcome == "submitted":
                result.submitted.append(name)
            elif outcome == "rejected":
                result.rejected.append(name)
        return result

    def _pairs(self) -> list[tuple[str, Path, Path]]:
        if not self.folder.is_dir():
            return []
        found = []
        for meta in sorted(self.folder.glob("*.json")):
            video = meta.with_suffix(".mp4")
            if video.is_file() and not meta.name.startswith("."):
                found.append((meta.stem, video, meta))
        return found

    def _complete(self, name: str, video: Path, meta: Path) -> bool:
        v, m = video.stat(), meta.stat()
        if m.st_mtime_ns >= v.st_mtime_ns:
            self._watching.pop(name, None)
            return True  # the JSON came last: the producer says the video is done
        stamp, now = (v.st_size, v.st_mtime_ns), self.clock.now()
        seen = self._watching.get(name)
        if seen is None or seen.stamp != stamp:
            self._watching[name] = _Watch(stamp, now)
            return self.settings.intake.settle_seconds == 0
        return (now - seen.since).total_seconds() >= self.settings.intake.settle_seconds

    async def _handle(self, name: str, video: Path, meta: Path) -> str:
        outside = await asyncio.to_thread(self._outside, video, meta)
        if outside is None:
            sha = await asyncio.to_thread(_sha256, video, meta)
        else:  # never read what lies outside: name the item by where its links lead
            targets = "\0".join(str(p.resolve()) for p in (video, meta))
            sha = hashlib.sha256(targets.encode()).hexdigest()
        key = (str(self.folder), name, sha)
        async with self.pool.acquire() as conn:
            done = await ledger.state(conn, *key)
            if done is None:
                await ledger.seen(conn, *key)
        if done == "submitted":
            await asyncio.to_thread(self._tidy, name, video, meta, ACCEPTED)
            return "already"
        if done == "rejected":
            await asyncio.to_thread(self._tidy, name, video, meta, REJECTED)
            return "already"
        if outside is not None:  # rejected before anything is staged from it
            await self._reject(key, video, meta, outside)
            return "rejected"
        # the post names the video where it will stay: accepted/ when items move there
        staged = await asyncio.to_thread(self._stage, video)
        try:
            await self._submit(key, staged, meta)
        except (ItemProblems, BadInput) as exc:
            await asyncio.to_thread(self._unstage, staged, video)
            await self._reject(key, video, meta, str(exc))
            return "rejected"
        except BaseException:  # e.g. the database is away: the item waits where it is
            await asyncio.to_thread(self._unstage, staged, video)
            raise
        await asyncio.to_thread(self._tidy, name, video, meta, ACCEPTED)
        self._watching.pop(name, None)
        return "submitted"

    def _outside(self, *paths: Path) -> str | None:
        """Why an item is refused when a file of it is a link leading out of the
        folder (whoever may drop files here must not get another file of this
        machine published), else None."""
        for path in paths:
            if not path.resolve().is_relative_to(self.folder):
                return (
                    f"{path.name} is a link to a file outside the intake folder; "
                    "put the file itself in the folder"
                )
        return None

    async def _submit(self, key: tuple[str, str, str], video: Path, meta: Path) -> None:
        from pellacia.delivery.service import create_post

        item = parse(await asyncio.to_thread(meta.read_bytes))

        async def record(conn: Any, post_id: Any) -> None:
            if not await ledger.submitted(conn, *key, post_id):
                raise _AlreadySubmitted

        try:
            created = await create_post(
                self.pool,
                self.registry,
                self.settings,
                file=video,
                platforms=item.platforms,
                title=item.title or key[1],
                description=item.description,
                hashtags=item.hashtags,
                priority=item.priority,
                scheduled_at=item.at,
                timezone=item.timezone,
                overrides=item.options,
                fold=item.fold,
                clock=self.clock,
                in_transaction=record,
            )
        except _AlreadySubmitted:
            return  # another watcher of this folder was first
        log.info("intake item submitted", item=key[1], post=str(created.id))

    async def _reject(self, key: tuple[str, str, str], video: Path, meta: Path, why: str) -> None:
        async with self.pool.acquire() as conn:
            await ledger.rejected(conn, *key, why)
            alert = Alert(
                level="warning",
                title=f"intake item {key[1]} rejected",
                body=f"{self.folder / REJECTED / key[1]}.error.txt:\n{why}",
            )
            from pellacia.alerts.dispatch import record_alert

            await record_alert(conn, alert)
        await asyncio.to_thread(self._tidy, key[1], video, meta, REJECTED, why)
        if self.alerts is not None:
            await self.alerts.send(alert)
        log.warning("intake item rejected", item=key[1], error=why)

    def _stage(self, video: Path) -> Path:
        """The video's path for its post: a hard link in ``accepted/`` (the item
        is moved there once submitted), else where it is."""
        target = self.folder / ACCEPTED
        if not self.settings.intake.move_accepted or target.is_symlink():
            return video  # stays where it is (_tidy moves nothing through a link either)
        target.mkdir(exist_ok=True)
        staged = target / video.name
        staged.unlink(missing_ok=True)  # left by a run that stopped half-way
        try:
            staged.hardlink_to(video)
        except OSError:  # links not allowed here
            shutil.copy2(video, staged)
        return staged

    @staticmethod
    def _unstage(staged: Path, video: Path) -> None:
        if staged != video:
            staged.unlink(missing_ok=True)

    def _tidy(self, name: str, video: Path, meta: Path, where: str, why: str = "") -> None:
        """Move an item out of the way: rejected ones always, accepted ones if configured."""
        if where == ACCEPTED and not self.settings.intake.move_accepted:
            return
        target = self.folder / where
        if target.is_symlink():  # a link planted to send our writes elsewhere
            log.error("intake folder link refused", folder=str(target), item=name)
            return
        target.mkdir(exist_ok=True)
        if why:
            problems = why.replace("\n  ", "\n").splitlines()
            text = f"{name} was not submitted:\n" + "".join(f"- {p}\n" for p in problems if p)
            write_text_here(target / f"{name}.error.txt", text)
        for path in (video, meta):
            dest = target / path.name
            if _same_file(dest, path):
                path.unlink()  # staged there already (rename would do nothing: same file)
            elif path.exists():
                shutil.move(str(path), str(dest))


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are links to one file (links not followed)."""
    try:
        return os.path.samestat(a.lstat(), b.lstat())
    except FileNotFoundError:
        return False


class _AlreadySubmitted(Exception):
    pass

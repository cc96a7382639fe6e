"""The manual queue: the last layer of every chain.

A delivery lands here when every automatic layer failed, or when nobody can
tell whether a publish went out. It gets an export package a person can act
on in minutes: the video, the metadata, step-by-step instructions for the
platform, the error history, and any screenshots the browser layer left. The
person posts it and runs ``pellacia-dist manual resolve --id … --post-url …``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellacia.atomic import DiskFull, build_dir, is_disk_full
from pellacia.delivery.errors import BadInput, NotFound
from pellacia.store import deliveries as delivery_store

if TYPE_CHECKING:
    import asyncpg

    from pellacia.config import Settings

#: where each platform takes a manual upload, and what to watch for
PLATFORM_STEPS: dict[str, tuple[str, list[str]]] = {
    "youtube": (
        "https://studio.youtube.com",
        [
            "Open YouTube Studio with the channel's account and click Create → Upload videos.",
            "Select the video file from this folder.",
            "Paste the title and the description (with the hashtags) below.",
            "Choose the visibility shown below, then Publish.",
        ],
    ),
    "tiktok": (
        "https://www.tiktok.com/tiktokstudio/upload",
        [
            "Open TikTok Studio → Upload with the account below.",
            "Select the video file from this folder.",
            "Paste the caption (description and hashtags) below.",
            "Set who can watch as shown below, then Post.",
        ],
    ),
    "instagram": (
        "https://www.instagram.com/",
        [
            "Open Instagram with the account below and choose Create → Reel.",
            "Select the video file from this folder.",
            "Paste the caption (description and hashtags) below, then Share.",
        ],
    ),
    "facebook": (
        "https://business.facebook.com/latest/reels_composer",
        [
            "Open Meta Business Suite for the Page below → Create reel.",
            "Select the video file from this folder.",
            "Paste the title and the caption below, then Publish.",
        ],
    ),
    "twitter": (
        "https://x.com/compose/post",
        [
            "Open X with the account below and start a new post.",
            "Attach the video file from this folder.",
            "Paste the text (title, description, hashtags) below, then Post.",
        ],
    ),
    "linkedin": (
        "https://www.linkedin.com/feed/",
        [
            "Open LinkedIn with the member or company page below → Start a post → Video.",
            "Select the video file from this folder.",
            "Paste the commentary (description and hashtags) below, then Post.",
        ],
    ),
}

UNKNOWN_WARNING = (
    "OUTCOME UNKNOWN — CHECK BEFORE REPOSTING. An automatic publish call was sent "
    "but its answer was lost, and the platform could not confirm whether the post "
    "exists. Look for it on the account first (search for the title below, posted "
    "around the time of the last attempt). If it is there, do NOT post again: run "
    "the resolve command with its URL."
)


ALREADY_UPLOADED = (
    "ALREADY UPLOADED — CHECK AND PUBLISH IT, DO NOT UPLOAD IT AGAIN. The automatic "
    "upload completed: the platform has this video as `{remote_id}`. Only publishing "
    "it (or confirming it was published) did not finish. Find it on the account, "
    "publish it there if it is not out yet, then run the resolve command with its URL."
)

#: the steps when the video is already on the platform
CHECK_STEPS = [
    "Open the platform's studio / content page with the account below.",
    "Find the video `{remote_id}` (the title below), uploaded by pellacia-dist.",
    "If it is not published yet, set the privacy shown below and publish it.",
    "Do not upload the video file again: that would post it twice.",
]

#: What each platform's plugin asks for when the post has no privacy option:
#: (option keys, plugin setting, what the platform then gets).
PRIVACY_DEFAULTS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    # unaudited API projects may only upload private videos: the plugin's default
    "youtube": (("privacy",), "privacy_status", "private"),
    "tiktok": (
        ("privacy_level",),
        None,
        "PUBLIC_TO_EVERYONE if the account allows it, else SELF_ONLY",
    ),
}


def privacy_of(
    platform: str, options: Mapping[str, Any], plugin_settings: Mapping[str, Any]
) -> str:
    """The privacy the automatic upload would have used on ``platform``."""
    keys, setting, default = PRIVACY_DEFAULTS.get(
        platform, (("privacy", "privacy_level"), None, "the platform's default")
    )
    for key in keys:
        if options.get(key):
            return str(options[key])
    if setting and plugin_settings.get(setting):
        return str(plugin_settings[setting])
    return default


@dataclass(frozen=True)
class ManualItem:
    """A delivery waiting for a person."""

    delivery_id: uuid.UUID
    post_id: uuid.UUID
    platform: str
    account: str
    title: str
    outcome_unknown: bool
    last_error: str | None
    package: str | None
    since: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery_id": str(self.delivery_id),
            "post_id": str(self.post_id),
            "platform": self.platform,
            "account": self.account,
            "title": self.title,
            "outcome_unknown": self.outcome_unknown,
            "last_error": self.last_error,
            "package": self.package,
            "since": self.since.isoformat(),
        }


def package_dir(data_dir: Path, delivery_id: uuid.UUID) -> Path:
    return data_dir / "manual" / str(delivery_id)


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.is_symlink():
        dst.unlink()  # never copy through a link planted in the package
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


_OTHER_PLATFORM = (
    "the platform's web upload page",
    [
        "Sign in to the platform with the account below.",
        "Upload the video file from this folder.",
        "Paste the title, description and hashtags below, then publish.",
    ],
)


def _head(meta: Mapping[str, Any], outcome_unknown: bool) -> tuple[list[str], list[str], str]:
    """(title and warnings, steps, where to go) of the instructions."""
    url, steps = PLATFORM_STEPS.get(str(meta["platform"]), _OTHER_PLATFORM)
    remote_id = meta.get("remote_id")
    if remote_id:  # the platform has the video: never send a person to upload it again
        lines = [f"# Check and publish: {meta['title']}", ""]
        lines += [f"> **{ALREADY_UPLOADED.format(remote_id=remote_id)}**", ""]
        steps = [step.format(remote_id=remote_id) for step in CHECK_STEPS]
    else:
        lines = [f"# Post by hand: {meta['title']}", ""]
    if outcome_unknown:
        lines += [f"> **{UNKNOWN_WARNING}**", ""]
    return lines, steps, url


def _block(title: str, text: str) -> list[str]:
    return [f"## {title}", "", "```", text, "```", ""]


def _instructions(
    meta: Mapping[str, Any], video_name: str, outcome_unknown: bool, reason: str
) -> str:
    lines, steps, url = _head(meta, outcome_unknown)
    caption = meta["description"]
    if meta["hashtags"]:
        caption = f"{caption}\n\n{' '.join(meta['hashtags'])}".strip()
    lines += [
        f"- Platform: **{meta['platform']}**, account **{meta['account']}**",
        f"- Why it is here: {reason}",
        f"- Where to go: {url}",
        f"- Video file: `{video_name}` ({meta['size']} bytes, sha256 `{meta['sha256']}`)",
        f"- Privacy: {meta['privacy']}",
        "",
        "## Steps",
        "",
    ]
    lines += [f"{i}. {step}" for i, step in enumerate(steps, 1)]
    lines += ["", *_block("Title", str(meta["title"]))]
    lines += _block("Caption / description", caption or "(none)")
    lines += _block("Hashtags", " ".join(meta["hashtags"]) or "(none)")
    lines += [
        "## When it is posted",
        "",
        "Tell pellacia-dist, so it is never posted again and its analytics are collected:",
        "",
        "```",
        f"pellacia-dist manual resolve --id {meta['delivery_id']} --post-url <URL of the post>",
        "```",
        "",
        "`errors.json` lists every automatic attempt and why it failed.",
    ]
    return "\n".join(lines) + "\n"


def write_package(
    target: Path,
    *,
    delivery: Mapping[str, Any],
    post: Mapping[str, Any],
    attempts: Sequence[Mapping[str, Any]],
    reason: str,
    outcome_unknown: bool,
    screenshots_from: Path | None = None,
    options: Mapping[str, Any] | None = None,
    plugin_settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write (or refresh) the export package folder; returns it.

    ``options``: what the automatic upload would have sent (default: the post's
    overrides for the platform); ``plugin_settings``: the plugin's section, for
    the privacy it would have chosen. When the delivery's receipt names an
    uploaded video, the package says to check and publish that one instead.

    The package appears whole or not at all: it is built beside ``target``
    and renamed into place (a full disk raises :class:`~pellacia.atomic.DiskFull`
    and leaves no half package).
    """
    from pellacia.private_files import private_dir

    if target.is_symlink():
        raise BadInput(f"{target} is a link: refusing to write a package through it")
    private_dir(target.parent)
    with build_dir(target) as building:
        _fill_package(
            building,
            delivery=delivery,
            post=post,
            attempts=attempts,
            reason=reason,
            outcome_unknown=outcome_unknown,
            screenshots_from=screenshots_from,
            options=options,
            plugin_settings=plugin_settings,
        )
    return target


def _fill_package(
    target: Path,
    *,
    delivery: Mapping[str, Any],
    post: Mapping[str, Any],
    attempts: Sequence[Mapping[str, Any]],
    reason: str,
    outcome_unknown: bool,
    screenshots_from: Path | None,
    options: Mapping[str, Any] | None,
    plugin_settings: Mapping[str, Any] | None,
) -> None:
    from pellacia.private_files import write_text_here

    video = Path(post["video_path"])
    video_name = f"video{video.suffix.lower() or '.mp4'}"
    if video.exists():
        _link_or_copy(video, target / video_name)
    meta = _metadata(delivery, post, options, plugin_settings or {}, video, video_name)
    meta.update(outcome_unknown=outcome_unknown, reason=reason)
    write_text_here(target / "metadata.json", json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    write_text_here(
        target / "errors.json",
        json.dumps([dict(a) for a in attempts], indent=2, default=str, ensure_ascii=False) + "\n",
    )
    write_text_here(
        target / "INSTRUCTIONS.md", _instructions(meta, video_name, outcome_unknown, reason)
    )
    if screenshots_from is not None and screenshots_from.is_dir():
        shots = target / "screenshots"
        for item in sorted(screenshots_from.iterdir()):
            if item.is_file():
                shots.mkdir(exist_ok=True)
                _link_or_copy(item, shots / item.name)


def _metadata(
    delivery: Mapping[str, Any],
    post: Mapping[str, Any],
    options: Mapping[str, Any] | None,
    plugin_settings: Mapping[str, Any],
    video: Path,
    video_name: str,
) -> dict[str, Any]:
    """``metadata.json`` of the package (see :func:`write_package`)."""
    platform = str(delivery["platform"])
    if options is None:
        options = (post.get("overrides") or {}).get(platform, {})
    receipt = delivery.get("receipt") or {}
    return {
        "delivery_id": str(delivery["id"]),
        "post_id": str(post["id"]),
        "platform": platform,
        "account": delivery["account"],
        "title": post["title"],
        "description": post["description"],
        "hashtags": list(post["hashtags"]),
        "options": dict(options),
        "privacy": privacy_of(platform, options, plugin_settings),
        "remote_id": receipt.get("remote_id"),
        "priority": post["priority"],
        "scheduled_at": post["scheduled_at"].isoformat() if post.get("scheduled_at") else None,
        "timezone": post.get("timezone"),
        "sha256": post["video_sha256"],
        "size": post["video_size"],
        "video_file": video_name,
        "original_path": str(video),
        "idempotency_key": delivery["idempotency_key"],
    }


def zip_package(folder: Path, dest: Path | None = None) -> Path:
    """A .zip of the package folder (next to it unless ``dest``), whole or not at all.

    Built under a temporary name, then renamed over the final one: a full disk
    leaves no partial archive, and a link planted at the final name is replaced,
    never written through."""
    where = dest or folder.parent
    partial = where / f".{folder.name}.{uuid.uuid4().hex[:8]}.partial"
    final = where / f"{folder.name}.zip"
    try:
        made = shutil.make_archive(str(partial), "zip", root_dir=folder)
        os.replace(made, final)
    except BaseException as exc:
        Path(f"{partial}.zip").unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFull(where) from exc
        raise
    return final


async def list_manual(pool: asyncpg.Pool) -> list[ManualItem]:
    async with pool.acquire() as conn:
        rows = await delivery_store.in_state(conn, "manual")
    return [
        ManualItem(
            delivery_id=r["id"],
            post_id=r["post_id"],
            platform=r["platform"],
            account=r["account"],
            title=r["title"],
            outcome_unknown=r["outcome_unknown"],
            last_error=r["last_error"],
            package=r["manual_package"],
            since=r["updated_at"],
        )
        for r in rows
    ]


async def export(
    pool: asyncpg.Pool,
    settings: Settings,
    delivery_id: uuid.UUID,
    *,
    to: Path | None = None,
    as_zip: bool = False,
) -> Path:
    """(Re)build the package of a manual delivery, optionally into ``to`` and zipped."""
    import asyncio

    from pellacia.store import posts as post_store

    async with pool.acquire() as conn:
        delivery = await delivery_store.get(conn, delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id}")
        if delivery["state"] != "manual":
            raise BadInput(
                f"delivery {delivery_id} is {delivery['state']}, not waiting in the manual queue"
            )
        post = await post_store.get(conn, delivery["post_id"])
        tries = await delivery_store.attempts(conn, delivery_id)
    assert post is not None
    data_dir = settings.data_dir
    platform, account = delivery["platform"], delivery["account"]
    options = {
        **settings.account(platform, account).options,
        **(post.get("overrides") or {}).get(platform, {}),
    }
    folder = (to / str(delivery_id)) if to else package_dir(data_dir, delivery_id)
    await asyncio.to_thread(
        write_package,
        folder,
        delivery=delivery,
        post=post,
        attempts=tries,
        reason=delivery["last_error"] or "every automatic layer failed",
        outcome_unknown=delivery["outcome_unknown"],
        screenshots_from=data_dir / "artifacts" / str(delivery_id),
        options=options,
        plugin_settings=settings.plugins.get(platform, {}),
    )
    if as_zip:
        return await asyncio.to_thread(zip_package, folder, to)
    return folder


_ID_PATTERNS = [
    re.compile(r"youtube\.com/shorts/([\w-]+)"),
    re.compile(r"youtube\.com/watch\?(?:.*&)?v=([\w-]+)"),
    re.compile(r"youtu\.be/([\w-]+)"),
    re.compile(r"tiktok\.com/@[^/]+/video/(\d+)"),
    re.compile(r"instagram\.com/(?:reel|reels|p)/([\w-]+)"),
    re.compile(r"facebook\.com/(?:reel|watch/\?v=|[^/]+/videos/)(\d+)"),
    re.compile(r"(?:x|twitter)\.com/[^/]+/status/(\d+)"),
    re.compile(r"linkedin\.com/feed/update/(urn:li:[\w:]+)"),
]


def remote_id_from_url(url: str) -> str:
    """The platform's post id read from a post URL, else the URL itself."""
    for pattern in _ID_PATTERNS:
        match = pattern.search(url)
        if match:
            return match.group(1)
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail or url


def check_post_url(text: str) -> str:
    """``text`` stripped when it is the http(s) URL of a post (a host, no spaces or
    control characters, storable text); else ``BadInput``."""
    from urllib.parse import urlsplit

    url = text.strip()
    refused = BadInput(f"--post-url must be the http(s) URL of the post, not {text!r}")
    if not url or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise refused
    try:
        url.encode("utf-8")
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except (UnicodeEncodeError, ValueError):
        raise refused from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise refused
    return url


async def resolve(
    pool: asyncpg.Pool, delivery_id: uuid.UUID, *, post_url: str, at: datetime
) -> str:
    """Record that a person published the delivery at ``post_url``; returns the remote id."""
    post_url = check_post_url(post_url)
    remote_id = remote_id_from_url(post_url)
    async with pool.acquire() as conn:
        row = await delivery_store.get(conn, delivery_id)
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        old = await delivery_store.resolve_manual(
            conn, delivery_id, remote_id=remote_id, url=post_url, at=at
        )
    if old is None:
        raise BadInput(
            f"delivery {delivery_id} is {row['state']}: only manual (or failed) deliveries "
            "can be resolved by hand"
        )
    return remote_id

"""``pellacia-dist validate FILE``: will each platform accept this video?

Exit status: 0 every platform accepts, 1 at least one rejects, 2 the file is
unreadable or a platform is unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pellacia.cli.context import AppContext, console, emit_json, fail, json_option, pass_app

if TYPE_CHECKING:
    from pellacia.contract import MediaInfo, RuleViolation


def _media_json(media: MediaInfo) -> dict[str, Any]:
    from pellacia.media import media_json

    return {"path": str(media.path), **media_json(media), "aspect": round(media.aspect, 4)}


def _summary(media: MediaInfo) -> str:
    from pellacia.media import format_duration, format_size

    parts = [
        media.container,
        f"{media.video_codec or 'unknown codec'} {media.width}x{media.height}",
    ]
    if media.fps:
        parts.append(f"{media.fps:g} fps")
    parts.append(f"audio {media.audio_codec}" if media.audio_codec else "no audio")
    parts.append(format_duration(media.duration))
    parts.append(format_size(media.size))
    if media.bitrate:
        parts.append(f"{media.bitrate / 1000:,.0f} kb/s")
    return f"{media.path.name}: " + ", ".join(parts)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--platforms",
    "-p",
    default="all",
    show_default=True,
    metavar="all|NAME[,NAME...]",
    help="Platforms to check against, e.g. youtube,tiktok.",
)
@click.option("--title", default=None, help="Post title (default: the file name without suffix).")
@click.option("--description", default="", help="Post description / caption.")
@json_option
@pass_app
def validate(
    app: AppContext,
    file: Path,
    platforms: str,
    title: str | None,
    description: str,
    as_json: bool,
) -> None:
    """Check FILE against each platform's rules before publishing it.

    Probes the real video (container, duration, size, resolution, codecs, fps)
    and runs every installed validator for each platform. Exit 0 when every
    platform accepts, 1 when any rejects, 2 when FILE is unreadable or a
    platform is unknown.
    """
    from pellacia.errors import ConfigError, MediaError
    from pellacia.media import probe
    from pellacia.validation import validate_for_platforms

    registry = app.registry
    try:
        media = probe(file)
    except MediaError as exc:
        fail(str(exc), code=2)
        return
    try:
        results = validate_for_platforms(
            registry,
            media,
            title=title if title is not None else file.stem,
            description=description,
            platforms=platforms,
        )
    except ConfigError as exc:
        fail(str(exc), code=2)
        return

    rejected = any(results.values())
    if as_json:
        emit_json(
            {
                "file": str(file),
                "media": _media_json(media),
                "platforms": {
                    name: {
                        "ok": not violations,
                        "violations": [{"rule": v.rule, "message": v.message} for v in violations],
                    }
                    for name, violations in results.items()
                },
            }
        )
    else:
        _render(media, results, registry)
    if rejected:
        raise SystemExit(1)


def _render(media: MediaInfo, results: dict[str, list[RuleViolation]], registry: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(Text(_summary(media)))
    table = Table(show_lines=True)
    table.add_column("platform")
    table.add_column("verdict")
    table.add_column("rules broken")
    for name, violations in results.items():
        display = getattr(registry.platforms[name], "display_name", name)
        if violations:
            verdict = Text("rejected", style="red")
            broken = Text("\n".join(f"{v.rule}: {v.message}" for v in violations))
        else:
            verdict = Text("ok", style="green")
            broken = Text("-")
        table.add_row(f"{display} ({name})", verdict, broken)
    out.print(table)

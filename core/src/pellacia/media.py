"""Real media probe, per-platform media rules, and file hashing.

``probe`` reads only a file's headers with PyAV (FFmpeg's demuxers) plus a
small structural check of its top-level boxes/elements, so it is fast even on
multi-GB files and catches truncated uploads before any platform sees them.
PyAV is imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from pellacia.contract import MediaInfo, MediaRules, RuleViolation
from pellacia.errors import MediaError

__all__ = [
    "check_rules",
    "format_duration",
    "format_size",
    "probe",
    "probe_async",
    "sha256_file",
    "sha256_file_async",
]

#: FFmpeg demuxer name -> our short container name (MP4/MOV and Matroska/WebM
#: share a demuxer and are told apart from the file's own header).
_CONTAINERS: dict[str, str] = {
    "avi": "avi",
    "flv": "flv",
    "mpeg": "mpeg",
    "mpegts": "mpegts",
    "ogg": "ogg",
    "asf": "asf",
    "gif": "gif",
    "dv": "dv",
    "m4v": "mp4",
    "h264": "h264",
    "hevc": "hevc",
}

#: decoder / library names -> the codec's canonical short name
_CODECS: dict[str, str] = {
    "libx264": "h264",
    "libopenh264": "h264",
    "h264_cuvid": "h264",
    "avc1": "h264",
    "h265": "hevc",
    "libx265": "hevc",
    "hevc_cuvid": "hevc",
    "libvpx": "vp8",
    "libvpx-vp9": "vp9",
    "libdav1d": "av1",
    "libaom-av1": "av1",
    "libsvtav1": "av1",
    "av1_cuvid": "av1",
    "aac_latm": "aac",
    "aac_fixed": "aac",
    "libfdk_aac": "aac",
    "mp3float": "mp3",
    "mp3": "mp3",
    "libopus": "opus",
    "libvorbis": "vorbis",
}

#: top-level ISO-BMFF (MP4/MOV) box types we accept while walking the file
_MP4_BOXES = frozenset(
    {
        b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid",
        b"moof", b"mfra", b"styp", b"sidx", b"ssix", b"meta", b"pdin", b"prft",
        b"emsg", b"junk", b"PICT",
    }
)  # fmt: skip
_MAX_TOP_LEVEL_BOXES = 100_000
_MAX_MOOV_READ = 64 * 1024**2  # the index of a long video is a few MB
#: largest file whose packets we walk when no header gives the duration
_MAX_DEMUX_FOR_DURATION = 2 * 1024**3
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE = 0x4282
_MKV_SEGMENT = 0x18538067


# ----------------------------------------------------------------------- probe


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read container, duration, size, resolution, codecs, bitrate and fps of a video.

    Reads headers only and never decodes the video; only a live-recorded file
    that declares no duration anywhere (browser WebM) has its packets walked,
    up to 2 GiB. Width and height are the picture as displayed (a 90° display
    rotation swaps them). Raises ``MediaError`` with a
    message naming the file and the problem when it is missing, a directory,
    empty, not a video, has no video stream, or is truncated/corrupt.
    """
    p = Path(path)
    size = _check_file(p)
    layout = _sniff(p, size)

    try:
        # Headers only: FFmpeg's stream probing would otherwise decode the first
        # frames (~10 ms for one 720p frame of detail), which we never need.
        return _open_and_read(p, size, layout, {"skip_frame": "all"})
    except _NeedsDecode:
        return _open_and_read(p, size, layout, {})


class _NeedsDecode(Exception):
    """Probing without decoding left the picture size unknown (rare raw streams)."""


def _open_and_read(p: Path, size: int, layout: _Layout, options: dict[str, str]) -> MediaInfo:
    import av

    try:
        container = av.open(str(p), mode="r", options=options)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if layout.kind in ("mp4", "mov"):
            raise MediaError(
                f"{p.name}: truncated or corrupt {layout.kind.upper()} file (cannot read its index)"
            ) from exc
        raise MediaError(
            f"{p.name}: not a readable video file (the format is not recognised)"
        ) from exc
    with container:
        return _info(p, size, layout, container, retry=bool(options))


async def probe_async(path: str | os.PathLike[str]) -> MediaInfo:
    """``probe`` in a worker thread (for the worker's event loop)."""
    import asyncio

    return await asyncio.to_thread(probe, path)


def _check_file(p: Path) -> int:
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MediaError(f"{p}: no such file") from None
    except OSError as exc:
        raise MediaError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, not a video file")
    if not p.is_file():
        raise MediaError(f"{p}: is not a regular file")
    if st.st_size == 0:
        raise MediaError(f"{p.name}: the file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise MediaError(f"{p}: permission denied")
    return st.st_size


def _info(p: Path, size: int, layout: _Layout, container: Any, *, retry: bool) -> MediaInfo:
    fmt_name: str = container.format.name
    if fmt_name.endswith("_pipe") or fmt_name in ("image2", "webp"):
        image = fmt_name.removesuffix("_pipe")
        raise MediaError(f"{p.name}: is an image ({image}), not a video")

    videos = [
        s
        for s in container.streams.video
        if not (s.disposition & _attached_pic_flag())  # cover art is not the video
    ]
    if not videos:
        has_audio = bool(container.streams.audio)
        what = "audio only" if has_audio else "no streams"
        raise MediaError(f"{p.name}: has no video stream ({what})")
    video = videos[0]
    audio = container.streams.audio[0] if container.streams.audio else None

    duration = _duration(container, video)
    if duration is None and size <= _MAX_DEMUX_FOR_DURATION:
        duration = _duration_from_packets(container, video)
    if duration is None or duration <= 0:
        raise MediaError(
            f"{p.name}: the file does not declare its duration (a live recording?); "
            "remux it first, e.g. ffmpeg -i IN -c copy OUT"
        )
    width = int(video.codec_context.width or video.width or 0)
    height = int(video.codec_context.height or video.height or 0)
    if (width <= 0 or height <= 0) and retry:
        raise _NeedsDecode
    if width <= 0 or height <= 0:
        raise MediaError(f"{p.name}: cannot read the video's dimensions (corrupt header?)")
    if layout.rotation in (90, 270):  # platforms judge the picture as displayed
        width, height = height, width
    if layout.kind in ("mp4", "mov"):
        _check_sample_table(p, size, layout.kind, container)

    bitrate = int(container.bit_rate) if container.bit_rate else None
    if not bitrate:
        bitrate = int(size * 8 / duration)

    return MediaInfo(
        path=p,
        size=size,
        container=_container_name(fmt_name, layout),
        duration=duration,
        width=width,
        height=height,
        video_codec=_codec_name(video),
        audio_codec=_codec_name(audio) if audio is not None else None,
        bitrate=bitrate,
        fps=_fps(video),
    )


def _attached_pic_flag() -> int:
    import av

    return int(av.stream.Disposition.attached_pic)


def _duration(container: Any, video: Any) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return None


def _duration_from_packets(container: Any, video: Any) -> float | None:
    """Last resort for files written live (browser MediaRecorder WebM, streams):
    no duration in any header, so walk the packets (read, never decoded)."""
    import av

    first: float | None = None
    last = 0.0
    try:
        for packet in container.demux(video):
            if packet.pts is None or packet.time_base is None:
                continue
            start = float(packet.pts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            first = start if first is None else min(first, start)
            last = max(last, end)
    except av.error.FFmpegError:
        return None  # corrupt tail: say "no duration" rather than guess
    return last - first if first is not None else None


def _fps(video: Any) -> float | None:
    for rate in (video.average_rate, video.guessed_rate, video.base_rate):
        if isinstance(rate, Fraction) and rate > 0:
            return round(float(rate), 3)
    return None


def _codec_name(stream: Any) -> str | None:
    try:
        name = str(stream.codec_context.codec.name)
    except Exception:  # an unknown codec has no decoder: fall back to the context
        name = str(getattr(stream.codec_context, "name", "") or "")
    if not name:
        return None
    return _CODECS.get(name, name)


def _check_sample_table(p: Path, size: int, kind: str, container: Any) -> None:
    """The index says where every sample lives: all of them must be in the file
    (catches a cut ``mdat`` whose header claims "to the end of the file")."""
    end = 0
    for stream in container.streams:
        entries = stream.index_entries
        if len(entries):
            last = entries[-1]
            end = max(end, int(last.pos) + int(last.size))
    if end > size:
        raise MediaError(
            f"{p.name}: truncated {kind.upper()} file: its index points at media data up "
            f"to byte {end:,} but the file ends at {size:,} bytes "
            f"({format_size(end - size)} missing)"
        )


def _container_name(fmt_name: str, layout: _Layout) -> str:
    if fmt_name.startswith("mov,mp4"):
        return layout.kind if layout.kind in ("mp4", "mov") else "mp4"
    if fmt_name.startswith("matroska"):
        return "webm" if layout.doctype == "webm" else "matroska"
    first = fmt_name.split(",")[0]
    return _CONTAINERS.get(first, first)


# ------------------------------------------------------ structural checks


@dataclass(frozen=True)
class _Layout:
    """What the structural check learnt from the file's own header."""

    kind: str | None = None  # "mp4", "mov", "matroska", "avi"; None: other formats
    doctype: str | None = None  # Matroska DocType: "webm" or "matroska"
    rotation: int = 0  # MP4/MOV display rotation of the video track, degrees


def _sniff(p: Path, size: int) -> _Layout:
    """Identify MP4/MOV, Matroska/WebM and AVI from their headers and check that
    the data they declare is all there (raises ``MediaError`` when it is not)."""
    with p.open("rb") as f:
        head = f.read(64)
        if len(head) >= 8 and head[4:8] in _MP4_BOXES:
            return _walk_mp4(p, f, size)
        if head.startswith(_EBML_MAGIC):
            return _Layout("matroska", doctype=_check_ebml(p, f, size))
        if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
            _walk_riff(p, f, size)
            return _Layout("avi")
    return _Layout()


def _walk_mp4(p: Path, f: Any, size: int) -> _Layout:
    """Walk the top-level boxes: every declared box must fit in the file and the
    index (``moov``) must be present, else the file is truncated."""
    kind = "mov"  # QuickTime files may have no ftyp at all
    moov: tuple[int, int] | None = None  # (payload offset, payload size)
    offset = 0
    boxes = 0
    while offset < size:
        if boxes >= _MAX_TOP_LEVEL_BOXES:  # absurd layout: leave the rest to FFmpeg
            break
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            raise MediaError(
                f"{p.name}: truncated MP4/MOV file (a box header is cut at byte {offset:,})"
            )
        box_size = int.from_bytes(header[0:4], "big")
        box_type = header[4:8]
        header_len = 8
        if box_size == 1:
            if len(header) < 16:
                raise MediaError(f"{p.name}: truncated MP4/MOV file (box header cut)")
            box_size = int.from_bytes(header[8:16], "big")
            header_len = 16
        elif box_size == 0:  # extends to the end of the file
            box_size = size - offset
        if box_size < header_len:
            raise MediaError(
                f"{p.name}: corrupt MP4/MOV file (invalid box size at byte {offset:,})"
            )
        if boxes == 0 and box_type == b"ftyp":
            f.seek(offset + header_len)
            major = f.read(4)
            kind = "mov" if major == b"qt  " else "mp4"
        name = box_type.decode("latin-1", "replace")
        if offset + box_size > size:
            raise MediaError(
                f"{p.name}: truncated {kind.upper()} file: box '{name}' declares "
                f"{format_size(box_size)} at byte {offset:,} but the file ends at "
                f"{size:,} bytes ({format_size(offset + box_size - size)} missing)"
            )
        if box_type == b"moov" and moov is None:
            moov = (offset + header_len, box_size - header_len)
        offset += box_size
        boxes += 1
    if moov is None and boxes < _MAX_TOP_LEVEL_BOXES:
        raise MediaError(
            f"{p.name}: truncated or unfinished {kind.upper()} file: its index "
            "('moov' box) is missing"
        )
    rotation = 0
    if moov is not None and moov[1] <= _MAX_MOOV_READ:
        f.seek(moov[0])
        rotation = _video_rotation(f.read(moov[1]))
    return _Layout(kind, rotation=rotation)


def _child_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each box directly inside ``data``; stops at a broken one."""
    pos = 0
    while pos + 8 <= len(data):
        box_size = int.from_bytes(data[pos : pos + 4], "big")
        header_len = 8
        if box_size == 1 and pos + 16 <= len(data):
            box_size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            header_len = 16
        elif box_size == 0:
            box_size = len(data) - pos
        if box_size < header_len or pos + box_size > len(data):
            return
        yield data[pos + 4 : pos + 8], data[pos + header_len : pos + box_size]
        pos += box_size


def _video_rotation(moov: bytes) -> int:
    """Rotation (0, 90, 180, 270) from the display matrix of the first track whose
    header has a picture size: phones store portrait video as landscape + 90°."""
    for box_type, trak in _child_boxes(moov):
        if box_type != b"trak":
            continue
        for child_type, tkhd in _child_boxes(trak):
            if child_type != b"tkhd" or len(tkhd) < 84:
                continue
            # matrix after version/flags, times, ids and reserved fields (v1: 64-bit times)
            at = 52 if tkhd[0] == 1 else 40
            if len(tkhd) < at + 44:
                continue
            a, b = (int.from_bytes(tkhd[at + i : at + i + 4], "big", signed=True) for i in (0, 4))
            width = int.from_bytes(tkhd[at + 36 : at + 40], "big")
            height = int.from_bytes(tkhd[at + 40 : at + 44], "big")
            if not (width and height):
                continue  # an audio track
            degrees = round(math.degrees(math.atan2(b, a))) % 360
            return min(
                (0, 90, 180, 270), key=lambda d: min(abs(d - degrees), 360 - abs(d - degrees))
            )
    return 0


def _walk_riff(p: Path, f: Any, size: int) -> None:
    """AVI: every RIFF chunk (``AVI `` then OpenDML ``AVIX``) must fit in the file."""
    offset = 0
    while offset + 8 <= size:
        f.seek(offset)
        header = f.read(8)
        if header[:4] != b"RIFF":
            break  # trailing junk after the last RIFF chunk: FFmpeg ignores it too
        chunk = 8 + int.from_bytes(header[4:8], "little")
        if offset + chunk > size:
            raise MediaError(
                f"{p.name}: truncated AVI file: a RIFF chunk declares {format_size(chunk)} "
                f"at byte {offset:,} but the file ends at {size:,} bytes "
                f"({format_size(offset + chunk - size)} missing)"
            )
        offset += chunk + (chunk & 1)


def _read_vint(f: Any, *, keep_marker: bool) -> tuple[int, int] | None:
    """One EBML variable-length integer: (value, length) or None at EOF/invalid."""
    first = f.read(1)
    if not first:
        return None
    b0 = first[0]
    length = 1
    mask = 0x80
    while length <= 8 and not b0 & mask:
        mask >>= 1
        length += 1
    if length > 8:
        return None
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = b0 if keep_marker else b0 & (mask - 1)
    for byte in rest:
        value = (value << 8) | byte
    return value, length


def _check_ebml(p: Path, f: Any, size: int) -> str | None:
    """Read the EBML header's DocType and check the Segment fits in the file."""
    f.seek(4)
    header_size = _read_vint(f, keep_marker=False)
    if header_size is None:
        raise MediaError(f"{p.name}: truncated or corrupt Matroska/WebM header")
    body_start = f.tell()
    body_end = body_start + header_size[0]
    doctype: str | None = None
    while f.tell() < body_end:
        element = _read_vint(f, keep_marker=True)
        length = _read_vint(f, keep_marker=False)
        if element is None or length is None:
            raise MediaError(f"{p.name}: truncated or corrupt Matroska/WebM header")
        data = f.read(length[0])
        if element[0] == _EBML_DOCTYPE:
            doctype = data.rstrip(b"\x00").decode("ascii", "replace")
    f.seek(body_end)
    segment = _read_vint(f, keep_marker=True)
    seg_size = _read_vint(f, keep_marker=False)
    if segment is None or seg_size is None or segment[0] != _MKV_SEGMENT:
        raise MediaError(f"{p.name}: truncated or corrupt Matroska/WebM file (no segment)")
    unknown = (1 << (7 * seg_size[1])) - 1  # all ones: size unknown (live stream)
    if seg_size[0] != unknown:
        end = f.tell() + seg_size[0]
        if end > size:
            kind = "WebM" if doctype == "webm" else "Matroska"
            raise MediaError(
                f"{p.name}: truncated {kind} file: its segment declares "
                f"{format_size(end)} but the file has {format_size(size)} "
                f"({format_size(end - size)} missing)"
            )
    return doctype


# ------------------------------------------------------------------- rules


def format_duration(seconds: float) -> str:
    """``12m30s``, ``1h02m03s``, ``4.5s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = round(seconds, 1)
    hours, rem = divmod(total, 3600)
    minutes, secs = divmod(rem, 60)
    sec_txt = f"{int(secs):02d}" if secs == int(secs) else f"{secs:04.1f}"
    if hours:
        return f"{int(hours)}h{int(minutes):02d}m{sec_txt}s"
    return f"{int(minutes)}m{sec_txt}s"


def format_size(n: int | float) -> str:
    """Bytes in binary units: ``512 B``, ``3.2 MiB``, ``4.0 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _num(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}".rstrip("0").rstrip(".")


def _pair(fmt: Any, value: float, limit: float, exact: Any) -> tuple[str, str]:
    """Format a value and its limit so they never read as equal when they differ."""
    a, b = fmt(value), fmt(limit)
    if a == b:
        a, b = exact(value), exact(limit)
    return a, b


def _exact_seconds(x: float) -> str:
    return f"{x:.3f}s"


def _exact_bytes(n: float) -> str:
    return f"{int(n):,} bytes"


def _aspect_label(aspect: float) -> str:
    frac = Fraction(aspect).limit_denominator(32)
    exact = math.isclose(float(frac), aspect, rel_tol=1e-3)
    return f"{frac.numerator}:{frac.denominator} ({aspect:.3f})" if exact else f"{aspect:.3f}"


def check_rules(
    rules: MediaRules,
    media: MediaInfo,
    *,
    title: str = "",
    description: str = "",
    platform: str | None = None,
    display_name: str | None = None,
) -> list[RuleViolation]:
    """Every rule of ``rules`` that ``media`` (with this title and description)
    breaks: one ``RuleViolation`` per rule, with a stable id and an exact message."""
    who = display_name or platform or "the platform"
    out: list[RuleViolation] = []

    def bad(rule: str, message: str) -> None:
        out.append(RuleViolation(rule=rule, message=message, platform=platform))

    def accepted(values: Iterable[str]) -> str:
        return ", ".join(sorted(values))

    if rules.containers and media.container not in rules.containers:
        bad(
            "container",
            f"container {media.container} is not accepted by {who} "
            f"(accepted: {accepted(rules.containers)})",
        )
    if rules.video_codecs and media.video_codec not in rules.video_codecs:
        bad(
            "video_codec",
            f"video codec {media.video_codec or 'unknown'} is not accepted by {who} "
            f"(accepted: {accepted(rules.video_codecs)})",
        )
    if rules.min_bytes is not None and media.size < rules.min_bytes:
        a, b = _pair(format_size, media.size, rules.min_bytes, _exact_bytes)
        bad("min_bytes", f"file size {a} is below {who}'s minimum of {b}")
    if rules.max_bytes is not None and media.size > rules.max_bytes:
        a, b = _pair(format_size, media.size, rules.max_bytes, _exact_bytes)
        bad("max_bytes", f"file size {a} exceeds {who}'s maximum of {b}")
    if rules.min_duration is not None and media.duration < rules.min_duration:
        a, b = _pair(format_duration, media.duration, rules.min_duration, _exact_seconds)
        bad("min_duration", f"duration {a} is below {who}'s minimum of {b}")
    if rules.max_duration is not None and media.duration > rules.max_duration:
        a, b = _pair(format_duration, media.duration, rules.max_duration, _exact_seconds)
        bad("max_duration", f"duration {a} exceeds {who}'s maximum of {b}")
    short, long_ = min(media.width, media.height), max(media.width, media.height)
    dims = f"{media.width}x{media.height}"
    if rules.min_side is not None and short < rules.min_side:
        bad(
            "min_side",
            f"smallest side {short} px ({dims}) is below {who}'s minimum of {rules.min_side} px",
        )
    if rules.max_side is not None and long_ > rules.max_side:
        bad(
            "max_side",
            f"largest side {long_} px ({dims}) exceeds {who}'s maximum of {rules.max_side} px",
        )
    if rules.min_aspect is not None and media.aspect < rules.min_aspect:
        bad(
            "min_aspect",
            f"aspect ratio {_aspect_label(media.aspect)} of {dims} is below {who}'s "
            f"minimum of {_aspect_label(rules.min_aspect)}",
        )
    if rules.max_aspect is not None and media.aspect > rules.max_aspect:
        bad(
            "max_aspect",
            f"aspect ratio {_aspect_label(media.aspect)} of {dims} exceeds {who}'s "
            f"maximum of {_aspect_label(rules.max_aspect)}",
        )
    # fps unknown (some streams do not declare it): nothing to check against
    if rules.min_fps is not None and media.fps is not None and media.fps < rules.min_fps:
        bad("min_fps", f"{_num(media.fps)} fps is below {who}'s minimum of {_num(rules.min_fps)}")
    if rules.max_fps is not None and media.fps is not None and media.fps > rules.max_fps:
        bad("max_fps", f"{_num(media.fps)} fps exceeds {who}'s maximum of {_num(rules.max_fps)}")
    if rules.max_title_chars is not None and len(title) > rules.max_title_chars:
        bad(
            "max_title_chars",
            f"title has {len(title)} characters; {who} allows at most {rules.max_title_chars}",
        )
    if rules.max_description_chars is not None and len(description) > rules.max_description_chars:
        bad(
            "max_description_chars",
            f"description has {len(description)} characters; {who} allows at most "
            f"{rules.max_description_chars}",
        )
    return out


# ------------------------------------------------------------------ hashing


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1024 * 1024) -> str:
    """Hex SHA-256 of a file, read in ``chunk_size`` pieces (constant memory)."""
    digest = hashlib.sha256()
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    try:
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                digest.update(view[:n])
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MediaError(f"{path}: is a directory, not a file") from None
    return digest.hexdigest()


async def sha256_file_async(path: str | os.PathLike[str], chunk_size: int = 1024 * 1024) -> str:
    """``sha256_file`` in a worker thread, so the event loop keeps running."""
    import asyncio  # here, not at module level: the CLI imports this module

    return await asyncio.to_thread(sha256_file, path, chunk_size)


def media_json(info: MediaInfo) -> dict[str, Any]:
    """What the probe found, as stored with a post (``posts.media``)."""
    return {
        "size": info.size,
        "container": info.container,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "bitrate": info.bitrate,
        "fps": info.fps,
    }

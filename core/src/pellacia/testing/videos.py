"""Small real videos for tests, generated on the fly with PyAV.

Tests never ship binary fixtures: they call ``make_video`` (a 1 s 320x240 H.264
MP4 takes a few hundredths of a second) and, for the failure paths,
``make_truncated`` and ``make_not_video``.

Codecs: PyAV's wheels bundle libx264 (H.264), libx265 (HEVC), libvpx (VP8/VP9),
SVT-AV1 and the native MPEG-4 Part 2 and AAC encoders. ``codec="h264"`` falls
back to ``mpeg4`` only on an FFmpeg build without any H.264 encoder.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from pellacia.contract import MediaInfo

__all__ = ["make_large", "make_not_video", "make_truncated", "make_video"]

#: codec asked for -> encoders to try, in order
_ENCODERS: dict[str, tuple[str, ...]] = {
    "h264": ("libx264", "libopenh264", "h264"),
    "hevc": ("libx265", "hevc"),
    "vp8": ("libvpx",),
    "vp9": ("libvpx-vp9",),
    "av1": ("libsvtav1", "libaom-av1"),
    "mpeg4": ("mpeg4",),
}

#: file suffix -> FFmpeg muxer
_MUXERS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".webm": "webm",
    ".mkv": "matroska",
    ".avi": "avi",
}

#: encoder -> options that keep generation fast and deterministic enough
_FAST_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"preset": "ultrafast", "tune": "zerolatency"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=error"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
    "libsvtav1": {"preset": "12"},
    "libaom-av1": {"cpu-used": "8", "usage": "realtime"},
}


def _encoder(codec: str) -> str:
    import av

    candidates = _ENCODERS.get(codec, (codec,))
    for name in candidates:
        if name in av.codecs_available:
            try:
                av.codec.Codec(name, "w")
            except Exception:
                continue
            return name
    if codec == "h264" and "mpeg4" in av.codecs_available:
        return "mpeg4"  # documented fallback for FFmpeg builds without H.264
    raise RuntimeError(f"no encoder for {codec!r} in this PyAV build (tried {candidates})")


def make_video(
    path: str | os.PathLike[str],
    *,
    seconds: float = 1.0,
    width: int = 320,
    height: int = 240,
    fps: float = 25,
    codec: str = "h264",
    container: str | None = None,
    audio: bool = False,
    faststart: bool = False,
    bitrate: int | None = None,
    noise: bool = False,
    rotation: int = 0,
    live: bool = False,
) -> Path:
    """Write a real video of ``seconds`` at ``width``x``height`` and ``fps``.

    ``container`` is an FFmpeg muxer name ("mp4", "mov", "webm", "matroska");
    by default it follows the suffix. ``faststart`` puts the MP4/MOV index
    before the media data. ``audio`` adds an AAC (MP4/MOV) or Opus (WebM)
    track of silence. ``noise`` fills frames with pseudo-random pixels so the
    encoder cannot compress them (large files, fast: ~17 MB per second at 720p).
    ``rotation`` (degrees) stores a display rotation, as phones do for portrait
    video: a 1920x1080 picture with ``rotation=90`` is shown as 1080x1920.
    ``live`` writes WebM/Matroska as a browser's MediaRecorder does: no
    duration, no index, segment of unknown size.
    Returns the path.
    """
    import av

    out = Path(path)
    muxer = container or _MUXERS.get(out.suffix.lower())
    if muxer is None:
        raise ValueError(f"cannot tell the container from {out.name!r}: pass container=")
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise ValueError(
            f"width and height must be positive and even (4:2:0), not {width}x{height}"
        )
    encoder = _encoder(codec)
    options: dict[str, str] = {"movflags": "+faststart"} if faststart else {}
    if live:
        options["live"] = "1"
    rate = Fraction(fps).limit_denominator(1001)
    frames = max(1, round(seconds * rate))
    with av.open(str(out), mode="w", format=muxer, options=options) as dst:
        stream: Any = dst.add_stream(encoder, rate=rate)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        stream.options = dict(_FAST_OPTIONS.get(encoder, {}))
        if bitrate:  # average bitrate instead of constant quality
            stream.bit_rate = bitrate
        sound: Any = _add_audio(dst, muxer) if audio else None

        noise_bytes = os.urandom(width * height * 2) if noise else b""
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane_no, plane in enumerate(frame.planes):
                n = plane.buffer_size
                if noise:
                    start = (i * 7919 + plane_no * 104729) % (len(noise_bytes) - n)
                    plane.update(noise_bytes[start : start + n])
                else:  # a flat colour that changes every frame
                    plane.update(bytes([(i * 9 + plane_no * 80) % 256]) * n)
            frame.pts = i
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
        if sound is not None:
            _write_silence(dst, sound, float(frames / rate))
    return out


def _add_audio(dst: Any, muxer: str) -> Any:
    encoder = "libopus" if muxer == "webm" else "aac"
    sound = dst.add_stream(encoder, rate=48000)
    sound.layout = "stereo"
    return sound


def _write_silence(dst: Any, sound: Any, seconds: float) -> None:
    import av

    rate = 48000
    frame_size = sound.codec_context.frame_size or 1024
    total = int(seconds * rate)
    pts = 0
    while pts < total:
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=frame_size)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        dst.mux(sound.encode(frame))
        pts += frame_size
    dst.mux(sound.encode(None))


def make_truncated(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    fraction: float = 0.6,
    *,
    size: int | None = None,
) -> Path:
    """Copy the first ``fraction`` of ``src`` (or its first ``size`` bytes) to ``dst``:
    a download or copy cut short."""
    source = Path(src)
    keep = size if size is not None else int(source.stat().st_size * fraction)
    out = Path(dst)
    with source.open("rb") as reader, out.open("wb") as writer:
        while keep > 0:
            chunk = reader.read(min(keep, 1024 * 1024))
            if not chunk:
                break
            writer.write(chunk)
            keep -= len(chunk)
    return out


def make_not_video(path: str | os.PathLike[str], kind: str = "text") -> Path:
    """A file that is not a video: ``kind`` "text" (prose with a .mp4 suffix if
    you like), "jpeg" (a real JPEG image) or "random" (random bytes)."""
    out = Path(path)
    if kind == "text":
        out.write_text("This is a script for the evening news, not a video.\n" * 20)
    elif kind == "random":
        out.write_bytes(os.urandom(64 * 1024))
    elif kind == "jpeg":
        import av

        with av.open(str(out), mode="w", format="image2") as dst:
            stream: Any = dst.add_stream("mjpeg", rate=1)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
            frame = av.VideoFrame(64, 48, "yuvj420p")
            for plane in frame.planes:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = 0
            dst.mux(stream.encode(frame))
            dst.mux(stream.encode(None))
    else:
        raise ValueError(f"unknown kind {kind!r} (text, jpeg, random)")
    return out


def make_large(src: str | os.PathLike[str], dst: str | os.PathLike[str], size: int) -> Path:
    """Copy the MP4/MOV ``src`` to ``dst`` padded to ``size`` bytes with a trailing
    ``free`` box, written as a sparse file: a valid multi-GB video that takes
    almost no disk space or time (for size limits and header-only probing)."""
    data = Path(src).read_bytes()
    if data[4:8] not in (b"ftyp", b"moov", b"wide", b"free", b"mdat"):
        raise ValueError(f"{Path(src).name} is not an MP4/MOV file")
    padding = size - len(data)
    if padding < 16:
        raise ValueError(f"size must exceed {len(data) + 16} bytes")
    out = Path(dst)
    with out.open("wb") as f:
        f.write(data)
        # 64-bit box: size field 1, then the real size after the type
        f.write((1).to_bytes(4, "big") + b"free" + padding.to_bytes(8, "big"))
        f.truncate(size)  # the rest is a hole: nothing is written
    return out


def media_info(**overrides: object) -> MediaInfo:
    """A ``MediaInfo`` as the probe would report it (vertical 1080x1920 H.264,
    30 s, 20 MB), for rule tests that need no file; ``overrides`` replace fields."""
    fields: dict[str, object] = {
        "path": Path("clip.mp4"),
        "size": 20_000_000,
        "container": "mp4",
        "duration": 30.0,
        "width": 1080,
        "height": 1920,
        "video_codec": "h264",
        "audio_codec": "aac",
        "bitrate": 5_000_000,
        "fps": 30.0,
    }
    fields.update(overrides)
    return MediaInfo(**fields)  # type: ignore[arg-type]

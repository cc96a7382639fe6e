"""The media probe on real generated videos, the rule checker, and file hashing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pellacia.contract import MediaInfo, MediaRules
from pellacia.errors import MediaError
from pellacia.media import (
    check_rules,
    format_duration,
    format_size,
    probe,
    probe_async,
    sha256_file,
    sha256_file_async,
)
from pellacia.testing.videos import make_large, make_not_video, make_truncated, make_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small real video of each kind, generated once for the module."""
    d = tmp_path_factory.mktemp("videos")
    return {
        "mp4": make_video(d / "clip.mp4", seconds=1.0),
        "mp4_fast": make_video(d / "fast.mp4", seconds=1.0, faststart=True),
        "mov": make_video(d / "clip.mov", seconds=1.0),
        "webm": make_video(d / "clip.webm", seconds=1.0, codec="vp9", audio=True),
        "mkv": make_video(d / "clip.mkv", seconds=1.0),
        "vertical": make_video(d / "vertical.mp4", seconds=2.0, width=720, height=1280, fps=30),
        "audio": make_video(d / "talk.mp4", seconds=1.0, audio=True),
        "ntsc": make_video(d / "ntsc.mp4", seconds=1.0, fps=30000 / 1001),
        "hevc": make_video(d / "hevc.mp4", seconds=1.0, codec="hevc"),
        "avi": make_video(d / "clip.avi", seconds=1.0, codec="mpeg4"),
    }


# ------------------------------------------------------------------- probe


def test_probe_mp4(videos: dict[str, Path]) -> None:
    info = probe(videos["mp4"])
    assert info.container == "mp4"
    assert info.video_codec == "h264"
    assert info.audio_codec is None
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.fps == pytest.approx(25.0)
    assert info.size == videos["mp4"].stat().st_size
    assert info.bitrate is not None and info.bitrate > 0
    assert info.path == videos["mp4"]


def test_probe_tells_mov_from_mp4_by_brand(videos: dict[str, Path]) -> None:
    assert probe(videos["mov"]).container == "mov"
    assert probe(videos["mp4_fast"]).container == "mp4"
    # the suffix does not decide: a QuickTime file named .mp4 is still a mov
    renamed = videos["mov"].with_name("really-quicktime.mp4")
    renamed.write_bytes(videos["mov"].read_bytes())
    assert probe(renamed).container == "mov"


def test_probe_webm_vp9_with_opus(videos: dict[str, Path]) -> None:
    info = probe(videos["webm"])
    assert info.container == "webm"
    assert info.video_codec == "vp9"
    assert info.audio_codec == "opus"
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.fps == pytest.approx(25.0)


def test_probe_matroska_is_not_webm(videos: dict[str, Path]) -> None:
    info = probe(videos["mkv"])
    assert info.container == "matroska"
    assert info.video_codec == "h264"


def test_probe_avi_mpeg4(videos: dict[str, Path]) -> None:
    info = probe(videos["avi"])
    assert (info.container, info.video_codec) == ("avi", "mpeg4")
    assert info.duration == pytest.approx(1.0, abs=0.05)


async def test_probe_async(videos: dict[str, Path]) -> None:
    assert await probe_async(videos["mp4"]) == probe(videos["mp4"])


def test_probe_vertical_9_16(videos: dict[str, Path]) -> None:
    info = probe(videos["vertical"])
    assert (info.width, info.height) == (720, 1280)
    assert info.aspect == pytest.approx(9 / 16)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.fps == pytest.approx(30.0)


def test_probe_audio_codec_and_fractional_fps(videos: dict[str, Path]) -> None:
    assert probe(videos["audio"]).audio_codec == "aac"
    assert probe(videos["ntsc"]).fps == pytest.approx(29.97, abs=0.001)
    assert probe(videos["hevc"]).video_codec == "hevc"


def test_probe_live_recorded_webm_without_duration(tmp_path: Path) -> None:
    """Browser MediaRecorder output: unknown segment size, no duration header."""
    import av

    path = make_video(tmp_path / "recorded.webm", seconds=2.0, codec="vp8", live=True)
    with av.open(str(path)) as container:  # the premise: no header has it
        assert container.duration is None
    info = probe(path)
    assert (info.container, info.video_codec) == ("webm", "vp8")
    assert info.duration == pytest.approx(2.0, abs=0.05)


def test_probe_reports_the_displayed_size_of_a_rotated_video(tmp_path: Path) -> None:
    """A phone's portrait clip: stored 1280x720 with a 90° display matrix."""
    for container in ("mp4", "mov"):
        path = make_video(tmp_path / f"phone.{container}", width=1280, height=720, rotation=90)
        info = probe(path)
        assert (info.width, info.height) == (720, 1280)
        assert info.aspect == pytest.approx(9 / 16)
    upside_down = probe(make_video(tmp_path / "flipped.mp4", width=1280, height=720, rotation=180))
    assert (upside_down.width, upside_down.height) == (1280, 720)


def test_probe_multi_gigabyte_file(videos: dict[str, Path], tmp_path: Path) -> None:
    """6 GiB (sparse): 64-bit box sizes, and only headers are read."""
    huge = make_large(videos["mp4_fast"], tmp_path / "huge.mp4", 6 * 1024**3)
    info = probe(huge)
    assert info.size == 6 * 1024**3
    assert (info.container, info.width, info.duration) == ("mp4", 320, pytest.approx(1.0))
    found = check_rules(MediaRules(max_bytes=4 * 1024**3), info, display_name="TikTok")
    assert [v.message for v in found] == ["file size 6.0 GiB exceeds TikTok's maximum of 4.0 GiB"]
    cut = make_truncated(
        huge, tmp_path / "huge-cut.mp4", size=videos["mp4_fast"].stat().st_size + 4096
    )
    with pytest.raises(MediaError, match=r"box 'free' declares 6.0 GiB .* \(6.0 GiB missing\)"):
        probe(cut)


# ---------------------------------------------------------- broken files


def test_truncated_mp4_with_index_at_end(videos: dict[str, Path], tmp_path: Path) -> None:
    """The common case: FFmpeg writes the index (moov) last, so a cut file has none."""
    cut = make_truncated(videos["mp4"], tmp_path / "cut.mp4", 0.6)
    with pytest.raises(MediaError, match=r"cut\.mp4: truncated MP4 file: box 'mdat'"):
        probe(cut)


def test_truncated_faststart_mp4_that_ffmpeg_still_opens(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    """Index first: the demuxer opens the cut file happily; the declared size gives it away."""
    import av

    cut = make_truncated(videos["mp4_fast"], tmp_path / "cut-fast.mp4", 0.6)
    with av.open(str(cut)) as container:  # the premise: headers alone look fine
        assert container.streams.video[0].width == 320
    with pytest.raises(MediaError, match=r"truncated MP4 file: box 'mdat'.*missing"):
        probe(cut)


def test_mp4_with_moov_cut(videos: dict[str, Path], tmp_path: Path) -> None:
    size = videos["mp4"].stat().st_size
    cut = make_truncated(videos["mp4"], tmp_path / "moov-cut.mp4", size=size - 40)
    with pytest.raises(MediaError, match=r"truncated MP4 file: box 'moov'"):
        probe(cut)


def test_mp4_with_moov_missing(videos: dict[str, Path], tmp_path: Path) -> None:
    data = videos["mp4"].read_bytes()
    moov_at = data.rfind(b"moov") - 4  # cut exactly where the index starts
    cut = make_truncated(videos["mp4"], tmp_path / "no-moov.mp4", size=moov_at)
    with pytest.raises(MediaError, match=r"index \('moov' box\) is missing"):
        probe(cut)


def test_truncated_mdat_that_claims_to_run_to_the_end(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    """An 'mdat' of size 0 ("up to the end of the file") fits whatever the length;
    the index's sample positions still tell that media data is missing."""
    data = bytearray(videos["mp4_fast"].read_bytes())
    mdat_at = data.find(b"mdat") - 4
    data[mdat_at : mdat_at + 4] = (0).to_bytes(4, "big")
    whole = tmp_path / "open-ended.mp4"
    whole.write_bytes(bytes(data))
    assert probe(whole).duration == pytest.approx(1.0)  # intact: still fine
    cut = make_truncated(whole, tmp_path / "open-ended-cut.mp4", 0.7)
    with pytest.raises(MediaError, match=r"index points at media data up to byte .* missing"):
        probe(cut)


def test_truncated_mov_webm_avi(videos: dict[str, Path], tmp_path: Path) -> None:
    mov = make_truncated(videos["mov"], tmp_path / "cut.mov", 0.5)
    with pytest.raises(MediaError, match="truncated MOV file"):
        probe(mov)
    webm = make_truncated(videos["webm"], tmp_path / "cut.webm", 0.6)
    with pytest.raises(MediaError, match="truncated WebM file"):
        probe(webm)
    avi = make_truncated(videos["avi"], tmp_path / "cut.avi", 0.6)
    with pytest.raises(MediaError, match="truncated AVI file"):
        probe(avi)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", r"notes\.mp4: not a readable video file"),
        ("random", r"notes\.mp4: not a readable video file"),
        ("jpeg", r"notes\.mp4: is an image \(jpeg\), not a video"),
    ],
)
def test_not_a_video(tmp_path: Path, kind: str, message: str) -> None:
    path = make_not_video(tmp_path / "notes.mp4", kind)
    with pytest.raises(MediaError, match=message):
        probe(path)


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    import av

    path = tmp_path / "voice.m4a"
    with av.open(str(path), mode="w", format="mp4") as dst:
        stream = dst.add_stream("aac", rate=48000)
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 48000
        frame.pts = 0
        dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    with pytest.raises(MediaError, match=r"voice\.m4a: has no video stream \(audio only\)"):
        probe(path)


def test_missing_empty_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "nowhere.mp4")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaError, match=r"empty\.mp4: the file is empty \(0 bytes\)"):
        probe(empty)
    with pytest.raises(MediaError, match="is a directory"):
        probe(tmp_path)


# ------------------------------------------------------------------- rules


def _media(**changes: object) -> MediaInfo:
    base: dict[str, object] = {
        "path": Path("clip.mp4"),
        "size": 10 * 1024**2,
        "container": "mp4",
        "duration": 30.0,
        "width": 1080,
        "height": 1920,
        "video_codec": "h264",
        "audio_codec": "aac",
        "bitrate": 2_000_000,
        "fps": 30.0,
    }
    base.update(changes)
    return MediaInfo(**base)  # type: ignore[arg-type]


def _check(rules: MediaRules, media: MediaInfo, **kw: str) -> dict[str, str]:
    found = check_rules(rules, media, platform="tiktok", display_name="TikTok", **kw)
    assert all(v.platform == "tiktok" for v in found)
    return {v.rule: v.message for v in found}


def test_rules_all_pass() -> None:
    rules = MediaRules(
        containers=frozenset({"mp4"}),
        video_codecs=frozenset({"h264"}),
        min_bytes=1024,
        max_bytes=4 * 1024**3,
        min_duration=3,
        max_duration=600,
        min_side=360,
        max_side=4096,
        min_aspect=0.5,
        max_aspect=2.0,
        min_fps=23,
        max_fps=60,
        max_title_chars=100,
        max_description_chars=2200,
    )
    assert _check(rules, _media(), title="Short", description="fine") == {}


def test_rule_container_and_codec() -> None:
    rules = MediaRules(containers=frozenset({"mp4"}), video_codecs=frozenset({"h264", "hevc"}))
    found = _check(rules, _media(container="webm", video_codec="vp9"))
    assert found == {
        "container": "container webm is not accepted by TikTok (accepted: mp4)",
        "video_codec": "video codec vp9 is not accepted by TikTok (accepted: h264, hevc)",
    }


def test_rule_duration() -> None:
    rules = MediaRules(min_duration=3, max_duration=600)
    assert _check(rules, _media(duration=750.0)) == {
        "max_duration": "duration 12m30s exceeds TikTok's maximum of 10m00s"
    }
    assert _check(rules, _media(duration=1.5)) == {
        "min_duration": "duration 1.5s is below TikTok's minimum of 3.0s"
    }
    # just over the limit never reads as "10m00s exceeds 10m00s"
    message = _check(rules, _media(duration=600.02))["max_duration"]
    assert message == "duration 600.020s exceeds TikTok's maximum of 600.000s"
    message = _check(MediaRules(max_bytes=1024**3), _media(size=1024**3 + 10))["max_bytes"]
    assert (
        message == "file size 1,073,741,834 bytes exceeds TikTok's maximum of 1,073,741,824 bytes"
    )


def test_rule_size() -> None:
    rules = MediaRules(min_bytes=1024**2, max_bytes=4 * 1024**3)
    assert _check(rules, _media(size=int(5.5 * 1024**3))) == {
        "max_bytes": "file size 5.5 GiB exceeds TikTok's maximum of 4.0 GiB"
    }
    assert _check(rules, _media(size=300 * 1024)) == {
        "min_bytes": "file size 300.0 KiB is below TikTok's minimum of 1.0 MiB"
    }


def test_rule_sides() -> None:
    rules = MediaRules(min_side=360, max_side=4096)
    assert _check(rules, _media(width=320, height=240)) == {
        "min_side": "smallest side 240 px (320x240) is below TikTok's minimum of 360 px"
    }
    assert _check(rules, _media(width=5120, height=2880)) == {
        "max_side": "largest side 5120 px (5120x2880) exceeds TikTok's maximum of 4096 px"
    }


def test_rule_aspect() -> None:
    rules = MediaRules(min_aspect=9 / 16, max_aspect=1.0)
    assert _check(rules, _media(width=1920, height=1080)) == {
        "max_aspect": "aspect ratio 16:9 (1.778) of 1920x1080 exceeds TikTok's maximum of "
        "1:1 (1.000)"
    }
    assert _check(rules, _media(width=400, height=1200)) == {
        "min_aspect": "aspect ratio 1:3 (0.333) of 400x1200 is below TikTok's minimum of "
        "9:16 (0.562)"
    }


def test_rule_fps() -> None:
    rules = MediaRules(min_fps=23, max_fps=60)
    assert _check(rules, _media(fps=15.0)) == {"min_fps": "15 fps is below TikTok's minimum of 23"}
    assert _check(rules, _media(fps=119.88)) == {
        "max_fps": "119.88 fps exceeds TikTok's maximum of 60"
    }
    assert _check(rules, _media(fps=None)) == {}  # unknown rate: nothing to compare


def test_rule_text_lengths() -> None:
    rules = MediaRules(max_title_chars=100, max_description_chars=2200)
    found = _check(rules, _media(), title="t" * 101, description="d" * 2201)
    assert found == {
        "max_title_chars": "title has 101 characters; TikTok allows at most 100",
        "max_description_chars": "description has 2201 characters; TikTok allows at most 2200",
    }


def test_rules_of_real_file_one_violation_per_rule(videos: dict[str, Path]) -> None:
    rules = MediaRules(containers=frozenset({"mp4"}), min_side=360, min_duration=3, min_fps=30)
    found = check_rules(rules, probe(videos["mov"]), platform="x", display_name="X")
    assert [v.rule for v in found] == ["container", "min_duration", "min_side", "min_fps"]


def test_formatters() -> None:
    assert format_duration(3725) == "1h02m05s"
    assert format_duration(59.94) == "59.9s"
    assert format_duration(90.5) == "1m30.5s"
    assert format_size(512) == "512 B"
    assert format_size(3 * 1024**2 + 200 * 1024) == "3.2 MiB"
    assert format_size(300 * 1024**3) == "300.0 GiB"


# ----------------------------------------------------------------- hashing


async def test_sha256_streams_in_chunks(videos: dict[str, Path], tmp_path: Path) -> None:
    path = videos["vertical"]
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(path, chunk_size=4096) == expected  # many chunks, same digest
    assert await sha256_file_async(path, chunk_size=1000) == expected
    with pytest.raises(MediaError, match="no such file"):
        sha256_file(tmp_path / "gone.mp4")

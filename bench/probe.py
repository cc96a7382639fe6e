"""Media probe speed: header-only probe vs reading the whole file.

Generates real videos (small ones and one of about --mb megabytes, index at the
end and at the front), then prints the median time of ``pellacia.media.probe``
beside two baselines measured in the same run on the same files:
``sha256`` (read every byte, as an upload does) and ``demux`` (walk every
packet with PyAV without decoding, what a naive probe does). The 6 GiB file is
a small video padded with a sparse trailing box: real size, almost no disk.

    .venv/bin/python bench/probe.py [--mb 50] [--runs 7]
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pellacia.media import probe, sha256_file
from pellacia.testing.videos import make_large, make_video


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _demux_all(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.demux())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50, help="size of the large file (approx.)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # noise at 1280x720 compresses to about 17 MB per second of video
        big_seconds = max(1.0, args.mb / 17.4)
        files = {
            "320x240 1s mp4": make_video(d / "small.mp4"),
            "320x240 1s webm/vp9": make_video(d / "small.webm", codec="vp9"),
            "720x1280 10s mp4": make_video(d / "vertical.mp4", seconds=10, width=720, height=1280),
            f"~{args.mb}MB mp4 (moov last)": make_video(
                d / "big.mp4", seconds=big_seconds, width=1280, height=720, noise=True
            ),
            f"~{args.mb}MB mp4 (faststart)": make_video(
                d / "big-fast.mp4",
                seconds=big_seconds,
                width=1280,
                height=720,
                noise=True,
                faststart=True,
            ),
        }
        files["6 GiB mp4 (sparse padding)"] = make_large(
            make_video(d / "fast-small.mp4", faststart=True),
            d / "huge.mp4",
            6 * 1024**3,
        )
        probe(files["320x240 1s mp4"])  # load PyAV once, outside the timings
        print(f"{'file':32} {'size':>12} {'probe ms':>9} {'sha256 ms':>10} {'demux ms':>9}")
        for label, path in files.items():
            size_mb = path.stat().st_size / 1e6
            t_probe = _median_ms(lambda p=path: probe(p), args.runs)
            slow_runs = 1 if size_mb > 1000 else max(1, args.runs // 2)
            t_hash = _median_ms(lambda p=path: sha256_file(p), slow_runs)
            t_demux = _median_ms(lambda p=path: _demux_all(p), slow_runs)
            print(f"{label:32} {size_mb:10.2f}MB {t_probe:9.2f} {t_hash:10.2f} {t_demux:9.2f}")


if __name__ == "__main__":
    main()

"""CLI start-up time: `pellacia-dist --help` and friends next to a bare Python start.

Prints median and p90 wall time over N runs of each command, in the same run so
the machine's noise hits both alike. Goal: --help within ~150 ms of bare Python
with every plugin installed (plugins' heavy imports stay lazy).

    .venv/bin/python bench/cli_start.py [--runs 15]
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = str(Path(sys.executable).with_name("pellacia-dist"))
COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "python -c 'import click' (baseline)": [sys.executable, "-c", "import click"],
    "pellacia-dist --help": [CLI, "--help"],
    "pellacia-dist --version": [CLI, "--version"],
    "pellacia-dist plugins list --json": [CLI, "plugins", "list", "--json"],
}


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):  # interleaved: noise spreads evenly over the commands
        for name, argv in COMMANDS.items():
            samples[name].append(timed(argv))
    base = statistics.median(samples["python -c pass (baseline)"])
    print(f"{'command':<40} {'median ms':>10} {'p90 ms':>8} {'over python':>12}")
    for name, values in samples.items():
        values.sort()
        median = statistics.median(values)
        p90 = values[int(0.9 * (len(values) - 1))]
        print(
            f"{name:<40} {median * 1000:>10.0f} {p90 * 1000:>8.0f} {(median - base) * 1000:>+11.0f}"
        )


if __name__ == "__main__":
    main()

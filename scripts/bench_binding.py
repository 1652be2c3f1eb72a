#!/usr/bin/env python3
"""The Python binding's overhead: `dropkit.Dropout(0.5).forward(x)` called from Python against
the Rust `Dropout::forward` on the same array, timed in Rust with no Python in the loop
(`dropkit._dropkit._time_core_forward`), in one run of one process.

Both sides do the same work: one Philox draw, the same kernel, an output allocated by the
core; the Python side adds the call, the argument checks, the GIL release and the numpy
wrapper around the output. Rounds alternate the two sides so that drift (frequency, other
load) hits both alike; the medians over all calls are compared.

Run with `make bench-python` (or `.venv/bin/python scripts/bench_binding.py` once the package is
installed). Options: --size, --rounds, --calls.
"""

import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np

import dropkit
from dropkit._dropkit import _time_core_forward


def python_times(layer, x, calls):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        y = layer.forward(x)
        t1 = time.perf_counter()
        del y  # freed outside the timed region, as the Rust side drops its output
        times.append(t1 - t0)
    return times


def measure(size, rounds, calls):
    x = np.random.RandomState(0).standard_normal(size).astype(np.float32)
    layer = dropkit.Dropout(0.5, seed=0)
    python_times(layer, x, 2)  # warm up both paths (pages, pool, caches)
    _time_core_forward(x, 0.5, 2)
    rust, py = [], []
    for _ in range(rounds):
        rust += _time_core_forward(x, 0.5, calls)
        py += python_times(layer, x, calls)
    return statistics.median(rust), statistics.median(py)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1 << 20, help="elements (default 2**20)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20, help="calls per side per round")
    args = ap.parse_args()

    print(f"date: {datetime.date.today().isoformat()}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
          f"{platform.release()}; Python {platform.python_version()}, numpy {np.__version__}, "
          f"dropkit {dropkit.__version__}, dropkit threads {dropkit.num_threads()}")
    print(f"Dropout(0.5).forward on float32 arrays, {args.rounds} rounds x {args.calls} calls "
          "per side, medians")
    print(f"{'elements':>10} {'Rust call':>12} {'Python call':>12} {'ratio':>7} {'overhead':>10}")
    rows = [args.size, 1024] if args.size != 1024 else [1024]
    ratio_main = None
    for size in rows:
        rust, py = measure(size, args.rounds, args.calls)
        ratio = py / rust
        if size == args.size:
            ratio_main = ratio
        print(f"{size:>10} {rust * 1e6:>10.1f}us {py * 1e6:>10.1f}us {ratio:>6.3f}x "
              f"{(py - rust) * 1e6:>8.1f}us")
    verdict = "within" if ratio_main <= 1.3 else "OVER"
    print(f"{args.size} elements: Python / Rust = {ratio_main:.3f}x ({verdict} the 1.3x target)")


if __name__ == "__main__":
    main()

"""dropkit.torch's modules against their PyTorch counterparts on the CPU (`make bench-torch`).

For each module: forward + backward (and forward alone) on 16M elements (2**24) of float32 and
of bfloat16, in one run; the median of --repeats timed calls after one warm-up call, and the
speedup (PyTorch's median / dropkit's). The counterparts:

    Dropout(0.5)              torch.nn.Dropout(0.5)
    Dropout1d/2d/3d(0.5)      torch.nn.Dropout1d/2d/3d(0.5)
    AlphaDropout(0.5)         torch.nn.AlphaDropout(0.5)
    FeatureAlphaDropout(0.5)  torch.nn.FeatureAlphaDropout(0.5)
    GaussianNoise(s)          x + s * torch.randn_like(x)
    GaussianDropout(r)        x * (1 + s * torch.randn_like(x)), s = sqrt(r / (1 - r))

Each call: a forward of the module in training mode on a leaf tensor that requires grad, then
backward with a fixed gradient (x.grad cleared before each call). Threads: PyTorch's default
(torch.get_num_threads()) and dropkit's default (dropkit.num_threads()), printed.

    python scripts/bench_torch.py [--repeats 7] [--markdown]
"""

import argparse
import math
import os
import platform
import statistics
import sys
import time

import torch

import dropkit
import dropkit.torch as dkt

N = 1 << 24
P = 0.5
STDDEV = 0.5
RATE = 0.2


class Additive(torch.nn.Module):
    """PyTorch's GaussianNoise: x + s * randn_like(x)."""

    def __init__(self, stddev):
        super().__init__()
        self.stddev = stddev

    def forward(self, x):
        return x + self.stddev * torch.randn_like(x)


class Multiplicative(torch.nn.Module):
    """PyTorch's GaussianDropout: x * (1 + s * randn_like(x))."""

    def __init__(self, rate):
        super().__init__()
        self.stddev = math.sqrt(rate / (1 - rate))

    def forward(self, x):
        return x * (1 + self.stddev * torch.randn_like(x))


# (name, shape of 2**24 elements, dropkit module, PyTorch module, what the PyTorch one is)
CASES = [
    ("Dropout", (N,), lambda: dkt.Dropout(P, seed=1), lambda: torch.nn.Dropout(P),
     "nn.Dropout"),
    ("Dropout1d", (64, 1024, 256), lambda: dkt.Dropout1d(P, seed=1),
     lambda: torch.nn.Dropout1d(P), "nn.Dropout1d"),
    ("Dropout2d", (64, 64, 64, 64), lambda: dkt.Dropout2d(P, seed=1),
     lambda: torch.nn.Dropout2d(P), "nn.Dropout2d"),
    ("Dropout3d", (16, 64, 16, 16, 64), lambda: dkt.Dropout3d(P, seed=1),
     lambda: torch.nn.Dropout3d(P), "nn.Dropout3d"),
    ("AlphaDropout", (N,), lambda: dkt.AlphaDropout(P, seed=1),
     lambda: torch.nn.AlphaDropout(P), "nn.AlphaDropout"),
    ("FeatureAlphaDropout", (64, 64, 64, 64), lambda: dkt.FeatureAlphaDropout(P, seed=1),
     lambda: torch.nn.FeatureAlphaDropout(P), "nn.FeatureAlphaDropout"),
    ("GaussianNoise", (N,), lambda: dkt.GaussianNoise(STDDEV, seed=1),
     lambda: Additive(STDDEV), f"x + {STDDEV}*randn_like(x)"),
    ("GaussianDropout", (N,), lambda: dkt.GaussianDropout(RATE, seed=1),
     lambda: Multiplicative(RATE), "x * (1 + s*randn_like(x))"),
]


def median_seconds(module, x, grad, repeats, backward):
    """The median of ``repeats`` timed calls after one untimed warm-up."""
    times = []
    for i in range(repeats + 1):
        x.grad = None
        t0 = time.perf_counter()
        if backward:
            module(x).backward(grad)
        else:
            with torch.no_grad():
                module(x)
        elapsed = time.perf_counter() - t0
        if i > 0:
            times.append(elapsed)
    return statistics.median(times)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    print(f"{cpu_name()}, {os.cpu_count()} CPUs; torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, dropkit {dropkit.__version__} with "
          f"{dropkit.num_threads()} threads; {N} elements, median of {args.repeats}")
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for name, shape, ours, theirs, peer in CASES:
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(shape, generator=gen).to(dtype).requires_grad_()
            grad = torch.randn(shape, generator=gen).to(dtype)
            row = {"module": name, "dtype": str(dtype).replace("torch.", ""), "peer": peer}
            for label, backward in (("fwd+bwd", True), ("fwd", False)):
                mine = median_seconds(ours().train(), x, grad, args.repeats, backward)
                peer_s = median_seconds(theirs().train(), x, grad, args.repeats, backward)
                row[label] = (mine, peer_s)
            rows.append(row)
            fb, f = row["fwd+bwd"], row["fwd"]
            print(f"{name:>20} {row['dtype']:>8}  fwd+bwd {fb[0] * 1e3:8.1f} ms vs "
                  f"{fb[1] * 1e3:8.1f} ms ({fb[1] / fb[0]:5.1f}x)   fwd {f[0] * 1e3:8.1f} ms vs "
                  f"{f[1] * 1e3:8.1f} ms ({f[1] / f[0]:5.1f}x)   [{peer}]", flush=True)

    if args.markdown:
        print()
        print("| module | dtype | PyTorch counterpart | fwd+bwd dropkit (ms) | fwd+bwd PyTorch (ms) "
              "| speedup | fwd dropkit (ms) | fwd PyTorch (ms) | speedup |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            fb, f = r["fwd+bwd"], r["fwd"]
            print(f"| {r['module']} | {r['dtype']} | `{r['peer']}` | {fb[0] * 1e3:.1f} | "
                  f"{fb[1] * 1e3:.1f} | {fb[1] / fb[0]:.1f}x | {f[0] * 1e3:.1f} | "
                  f"{f[1] * 1e3:.1f} | {f[1] / f[0]:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

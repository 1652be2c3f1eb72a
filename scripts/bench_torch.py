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

    python scripts/bench_torch.py [--repeats 7] [--markdown] [--device cuda] [--transformer]

With ``--device cuda`` the same rows run on CUDA tensors (timed with the device synchronized
around each call); ``--transformer`` adds the peak CUDA memory
(``torch.cuda.max_memory_allocated``) of one training step of a transformer block's MLP with
dropkit's dropout against PyTorch's. ``scripts/gpu-check.sh`` runs both on a GPU machine.
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


def sync(device):
    """Waits for the device's queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(module, x, grad, repeats, backward):
    """The median of ``repeats`` timed calls after one untimed warm-up."""
    times = []
    for i in range(repeats + 1):
        x.grad = None
        sync(x.device)
        t0 = time.perf_counter()
        if backward:
            module(x).backward(grad)
        else:
            with torch.no_grad():
                module(x)
        sync(x.device)
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


def transformer_peak_bytes(dropout, device, dtype):
    """Peak CUDA memory of one training step (forward and backward) of a transformer block's
    MLP half (LayerNorm, Linear 1024 -> 4096, GELU, dropout, Linear 4096 -> 1024, dropout,
    residual) on 16 x 512 tokens, with ``dropout(p)`` making each dropout layer."""
    torch.manual_seed(0)
    d = 1024
    norm = torch.nn.LayerNorm(d)
    up, down = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)
    block = torch.nn.ModuleList([norm, up, down]).to(device=device, dtype=dtype)
    drop1, drop2 = dropout(0.1).to(device), dropout(0.1).to(device)
    x = torch.randn(16, 512, d, device=device, dtype=dtype, requires_grad=True)
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    h = drop1(torch.nn.functional.gelu(up(norm(x))))
    y = x + drop2(down(h))
    y.float().square().mean().backward()
    sync(device)
    del block
    return torch.cuda.max_memory_allocated(device) - base


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--transformer", action="store_true",
                        help="also the peak memory of a transformer block's step (CUDA)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: PyTorch sees no CUDA device")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(f"{where}, {os.cpu_count()} CPUs; torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, dropkit {dropkit.__version__} with "
          f"{dropkit.num_threads()} threads; {N} elements, median of {args.repeats}")
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for name, shape, ours, theirs, peer in CASES:
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(shape, generator=gen).to(device, dtype).requires_grad_()
            grad = torch.randn(shape, generator=gen).to(device, dtype)
            row = {"module": name, "dtype": str(dtype).replace("torch.", ""), "peer": peer}
            for label, backward in (("fwd+bwd", True), ("fwd", False)):
                mine = median_seconds(ours().to(device).train(), x, grad, args.repeats,
                                      backward)
                peer_s = median_seconds(theirs().to(device).train(), x, grad, args.repeats,
                                        backward)
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
    if args.transformer:
        if device.type != "cuda":
            print("transformer block peak memory: skipped (needs --device cuda)")
            return 0
        for dtype in (torch.float32, torch.bfloat16):
            for label, make in (("dropkit.torch.Dropout", lambda p: dkt.Dropout(p, seed=1)),
                                ("torch.nn.Dropout", torch.nn.Dropout)):
                peak = transformer_peak_bytes(make, device, dtype)
                print(f"transformer MLP step, {str(dtype).replace('torch.', '')}, {label}: "
                      f"peak {peak / 2**20:.1f} MiB above the inputs", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

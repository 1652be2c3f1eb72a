"""PyTorch CPU peers of dropkit's layers, timed like dropkit's benchmark (median of 11 after
one warm-up, GB/s of bytes read + written), printed next to dropkit's JSON lines read from
standard input (from `cargo bench -p dropkit --bench throughput -- --json`), in one run.

Each side's ratio is to its own plain copy into a reused buffer of the same size and
threads, measured in the same run (dropkit's "copy forward_into" row; torch's
`dst.copy_(src)`), for every op, allocating or not."""

import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

REPEATS = 11


def timed(f):
    f()
    out = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def torch_rows(dtype, elements, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.rand(elements, dtype=dtype) + 0.5
    dst = torch.empty_like(x)
    g = torch.ones_like(x)
    moved = 2 * elements * x.element_size()
    copy = timed(lambda: dst.copy_(x))
    xg = x.clone().requires_grad_(True)
    y = F.dropout(xg, 0.3, training=True)
    rows = {
        "copy": copy,
        "F.dropout": timed(lambda: F.dropout(x, 0.3, training=True)),
        "F.dropout backward": timed(lambda: torch.autograd.grad(y, xg, g, retain_graph=True)),
        "F.dropout inplace": timed(lambda: F.dropout(dst, 0.3, training=True, inplace=True)),
        "x + 0.2*randn_like(x)": timed(lambda: x + 0.2 * torch.randn_like(x)),
    }
    x4 = x.reshape(8, 8, elements // 64 // 64, 64)
    rows["F.dropout2d"] = timed(lambda: F.dropout2d(x4, 0.3, training=True))
    return {k: (v, moved / v / 1e9, copy / v) for k, v in rows.items()}


def main():
    ours = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; median of {REPEATS}; ratio = own copy time / op time")
    print(f"{'op':<34} {'dtype':<7} {'MiB':>5} {'thr':>3} {'GB/s':>7} {'ratio':>6}")
    keys = sorted({(r["dtype"], r["elements"], r["threads"]) for r in ours})
    for dtype, elements, threads in keys:
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        mib = elements * (4 if dtype == "float32" else 8) >> 20
        same = [r for r in ours if (r["dtype"], r["elements"], r["threads"]) == (dtype, elements, threads)]
        copy = next(r["gbps"] for r in same if r["layer"] == "copy" and r["op"] == "forward_into")
        for r in same:
            if r["layer"] in ("copy", "Dropout", "GaussianNoise", "SpatialDropout2D"):
                name = f"dropkit {r['layer']} {r['op']}"
                print(f"{name:<34} {dtype:<7} {mib:>5} {threads:>3} {r['gbps']:>7.2f} {r['gbps'] / copy:>6.3f}")
        for name, (_, gbps, ratio) in torch_rows(tdtype, elements, threads).items():
            print(f"{'torch ' + name:<34} {dtype:<7} {mib:>5} {threads:>3} {gbps:>7.2f} {ratio:>6.3f}")


if __name__ == "__main__":
    main()

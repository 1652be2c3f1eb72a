#!/usr/bin/env python3
"""PyTorch's peers of dropkit's GPU benchmark, timed the same way, and the final table.

Times on 2^28 float32 elements (1 GiB), with torch.cuda.Event, median of 30 runs after 3
warm-ups: a device copy, F.dropout, its backward (aten.native_dropout_backward),
F.dropout(inplace=True), x + s * randn_like(x), x * (1 + s * randn_like(x)) and F.dropout2d
on (64, 256, 128, 128). With --dropkit TSV (written by `gpu_bench --tsv`) it prints both
side by side, each with its ratio to its own copy, dropkit's speedup, and the targets of the
issue (H100): Dropout forward >= 0.95 of copy and >= 1.15x F.dropout, Gaussian layers >= 0.85
of copy, in place >= 2x PyTorch's.

Usage: gpu_peers.py [--dropkit TSV] [--tsv OUT] [--markdown OUT] [--log2 N] [--runs R]
"""

import argparse
import datetime
import statistics
import sys

# dropkit row key -> (PyTorch row key, the PyTorch expression shown)
PEERS = {
    "copy": ("copy", "y.copy_(x)"),
    "dropout_fwd_bits": ("dropout", "F.dropout(x, 0.5)"),
    "dropout_fwd_nomask": ("dropout", "F.dropout(x, 0.5)"),
    "dropout_bwd_bits": ("dropout_bwd", "native_dropout_backward(g, mask, 2)"),
    "dropout_bwd_nomask": ("dropout_bwd", "native_dropout_backward(g, mask, 2)"),
    "dropout_inplace_bits": ("dropout_inplace", "F.dropout(x, 0.5, inplace=True)"),
    "dropout_inplace_nomask": ("dropout_inplace", "F.dropout(x, 0.5, inplace=True)"),
    "dropout_eval_noscale": ("mul", "torch.mul(x, 0.7, out=y)"),
    "gaussian_noise": ("gaussian_noise", "x + 0.2 * randn_like(x)"),
    "gaussian_dropout": ("gaussian_dropout", "x * (1 + randn_like(x))"),
    "spatial2d": ("dropout2d", "F.dropout2d(x4, 0.5)"),
}


def measure(log2, runs):
    import torch
    import torch.nn.functional as F

    dev = torch.device("cuda")
    n = 1 << log2
    torch.manual_seed(0)
    x = torch.randn(n, device=dev)
    g = torch.randn(n, device=dev)
    y = torch.empty_like(x)
    _, mask = torch.ops.aten.native_dropout(x, 0.5, True)
    hw = 1 << ((log2 - 14) // 2)
    x4 = x.view(64, 256, hw, n // (64 * 256 * hw)) if log2 >= 22 else None

    def time(fn):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        ms = []
        for _ in range(runs):
            start.record()
            fn()
            end.record()
            end.synchronize()
            ms.append(start.elapsed_time(end))
        return statistics.median(ms)

    data = 8.0 * n
    rows = {
        "copy": time(lambda: y.copy_(x)),
        "dropout": time(lambda: F.dropout(x, 0.5, True)),
        "dropout_bwd": time(lambda: torch.ops.aten.native_dropout_backward(g, mask, 2.0)),
        "dropout_inplace": time(lambda: F.dropout(y, 0.5, True, inplace=True)),
        "mul": time(lambda: torch.mul(x, 0.7, out=y)),
        "gaussian_noise": time(lambda: x + 0.2 * torch.randn_like(x)),
        "gaussian_dropout": time(lambda: x * (1.0 + 1.0 * torch.randn_like(x))),
    }
    if x4 is not None:
        rows["dropout2d"] = time(lambda: F.dropout2d(x4, 0.5, True))
    name = torch.cuda.get_device_name(0)
    return name, torch.__version__, {k: (ms, data) for k, ms in rows.items()}


def read_tsv(path):
    rows = {}
    with open(path) as f:
        next(f)
        for line in f:
            key, what, ms, nbytes, _gbps, _ratio = line.rstrip("\n").split("\t")
            rows[key] = (what, float(ms), float(nbytes))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dropkit", help="gpu_bench --tsv output to print beside PyTorch's")
    ap.add_argument("--tsv", help="write PyTorch's rows here")
    ap.add_argument("--markdown", help="write the final table here (for the README)")
    ap.add_argument("--log2", type=int, default=28)
    ap.add_argument("--runs", type=int, default=30)
    a = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"gpu_peers: PyTorch is not installed: {e}", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("gpu_peers: torch.cuda.is_available() is False", file=sys.stderr)
        return 2

    name, version, torch_rows = measure(a.log2, a.runs)
    t_copy_gbps = torch_rows["copy"][1] / torch_rows["copy"][0] / 1e6
    print(f"PyTorch {version} on {name}, n = 2^{a.log2} float32, median of {a.runs} runs")
    for key, (ms, nbytes) in torch_rows.items():
        gbps = nbytes / ms / 1e6
        print(f"  {key:<18} {ms:9.4f} ms {gbps:9.1f} GB/s {gbps / t_copy_gbps:7.3f} x copy")
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("key\tms\tbytes\tgbps\tratio\n")
            for key, (ms, nbytes) in torch_rows.items():
                gbps = nbytes / ms / 1e6
                f.write(f"{key}\t{ms:.6f}\t{nbytes:.0f}\t{gbps:.3f}\t{gbps / t_copy_gbps:.4f}\n")
    if not a.dropkit:
        return 0

    dk = read_tsv(a.dropkit)
    d_copy_gbps = dk["copy"][2] / dk["copy"][1] / 1e6
    date = datetime.date.today().isoformat()
    head = (
        f"GPU benchmark, {name}, {date}: 2^{a.log2} float32 elements, median of {a.runs} "
        f"CUDA-event timings; GB/s counts bytes read + written (+ the 1-bit mask); "
        f"'vs copy' is GB/s over the same framework's device copy; speedup = PyTorch ms / dropkit ms."
    )
    lines = [
        "| operation | dropkit ms | dropkit GB/s | dropkit vs copy | PyTorch | PyTorch ms | PyTorch vs copy | speedup |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    ratio = {}
    for key, (what, ms, nbytes) in dk.items():
        gbps = nbytes / ms / 1e6
        ratio[key] = gbps / d_copy_gbps
        peer_key, peer_expr = PEERS.get(key, (None, "-"))
        if peer_key in torch_rows:
            t_ms, t_bytes = torch_rows[peer_key]
            t_ratio = t_bytes / t_ms / 1e6 / t_copy_gbps
            peer = f"`{peer_expr}` | {t_ms:.4f} | {t_ratio:.3f} | {t_ms / ms:.2f}x"
            ratio[key + "/torch"] = t_ms / ms
        else:
            peer = "- | - | - | -"
        lines.append(f"| {what} | {ms:.4f} | {gbps:.0f} | {ratio[key]:.3f} | {peer} |")

    def check(label, ok):
        return f"- [{'PASS' if ok else 'FAIL'}] {label}"

    def at_least(key, bound):
        return key in ratio and ratio[key] >= bound

    targets = [
        check("Dropout forward (1-bit mask) >= 0.95 of copy", at_least("dropout_fwd_bits", 0.95)),
        check("Dropout forward (no mask) >= 0.95 of copy", at_least("dropout_fwd_nomask", 0.95)),
        check(
            "Dropout forward >= 1.15x F.dropout",
            at_least("dropout_fwd_bits/torch", 1.15) and at_least("dropout_fwd_nomask/torch", 1.15),
        ),
        check("GaussianNoise >= 0.85 of copy", at_least("gaussian_noise", 0.85)),
        check("GaussianDropout >= 0.85 of copy", at_least("gaussian_dropout", 0.85)),
        check(
            "in place >= 2x F.dropout(inplace=True)",
            at_least("dropout_inplace_bits/torch", 2.0)
            or at_least("dropout_inplace_nomask/torch", 2.0),
        ),
    ]
    table = "\n".join([head, "", *lines, "", "Targets (H100):", *targets])
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table + "\n")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

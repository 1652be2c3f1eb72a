"""Data-parallel training with dropkit.torch layers on per-rank streams (`make ddp`).

Two processes (torch.multiprocessing.spawn) train one small MLP on scikit-learn's bundled
digits data (load_digits: no download) with DistributedDataParallel over the gloo backend, on
this machine's CPUs. Each rank trains on its own shard, and each of its dropout layers draws
from a stream of its own: the layer's seed is dropkit.rank_seed(seed, stream), with stream =
layer * world_size + rank. rank_seed is one to one in its second argument for a fixed seed, so
no two (layer, rank) pairs share a Philox key, and no two ranks ever draw the same mask.

The script trains twice from the same seed and exits nonzero unless the two runs give the
same loss, bit for bit, on every rank at every epoch, and unless each rank's first dropout mask
is the one its rank seed gives (checked against dropkit.torch.functional at draw 0) and the
ranks' masks differ. It prints the loss per epoch per rank.

    python examples/python/ddp_train.py [--epochs 6] [--world-size 2] [--seed 2024]
"""

import argparse
import json
import os
import socket
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.datasets import load_digits
from torch.nn.parallel import DistributedDataParallel

import dropkit
import dropkit.torch as dkt
from dropkit.torch import functional as dkf

BATCH = 32  # per rank
P_DROP = 0.3


def data():
    """Digits scaled to [0, 1]; a fixed split: every 5th sample held out."""
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    test = torch.arange(len(y)) % 5 == 0
    return x[~test], y[~test], x[test], y[test]


def model(seed, rank, world_size):
    """The MLP; dropout layer k of rank r draws from rank_seed(seed, k * world_size + r)."""
    def stream(layer):
        return stream_seed(seed, layer, rank, world_size)

    torch.manual_seed(seed)  # the same initial weights on every rank
    return torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        dkt.Dropout(P_DROP, seed=stream(0)),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        dkt.Dropout(P_DROP, seed=stream(1)),
        torch.nn.Linear(128, 10),
    )


def worker(rank, world_size, port, seed, epochs, out_dir):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dropkit.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        x_train, y_train, x_test, y_test = data()
        net = model(seed, rank, world_size)
        first_dropout = net[2]
        first_mask = {}

        def record(module, inputs, output):
            # The layer's first training forward (its draw 0): its input and output.
            if not first_mask:
                first_mask["input"] = inputs[0].detach().clone()
                first_mask["output"] = output.detach().clone()

        hook = first_dropout.register_forward_hook(record)
        # DDP copies rank 0's buffers to every rank when it wraps the model and before every
        # forward; a dropkit.torch layer's generator position is its buffer generator_state.
        # keep_rank_streams tells DDP to leave those buffers alone, so each rank keeps the
        # stream rank_seed gave it (the check below fails without it).
        ddp = DistributedDataParallel(dkt.keep_rank_streams(net))
        opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for epoch in range(epochs):
            # The same permutation on every rank (seeded by epoch); rank r takes every
            # world_size-th sample from r, so the shards are disjoint and equal in size.
            order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(
                seed * 1000 + epoch))
            shard = order[rank::world_size][: len(y_train) // world_size]
            ddp.train()
            total, count = 0.0, 0
            for start in range(0, len(shard), BATCH):
                idx = shard[start:start + BATCH]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(ddp(x_train[idx]), y_train[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            losses.append(total / count)
        hook.remove()
        ddp.eval()
        with torch.no_grad():
            accuracy = float((ddp(x_test).argmax(1) == y_test).float().mean())
        # The layer's draw 0 is functional dropout at (its rank seed, draw 0).
        want = dkf.dropout(first_mask["input"], P_DROP, seed=stream_seed(seed, 0, rank,
                                                                        world_size), draw=0)
        mask_ok = bool(torch.equal(want, first_mask["output"]))
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump({"losses": [repr(v) for v in losses], "accuracy": accuracy,
                       "mask_matches_rank_seed": mask_ok}, f)
    finally:
        dist.destroy_process_group()


def stream_seed(seed, layer, rank, world_size):
    """The seed of dropout layer ``layer`` on rank ``rank``: one stream per (layer, rank)."""
    return dropkit.rank_seed(seed, layer * world_size + rank)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(world_size, seed, epochs):
    """One training run; the per-rank results."""
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(worker, args=(world_size, free_port(), seed, epochs, out_dir),
                 nprocs=world_size, join=True)
        results = []
        for rank in range(world_size):
            with open(os.path.join(out_dir, f"rank{rank}.json")) as f:
                results.append(json.load(f))
        return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    if args.epochs < 1 or args.world_size < 1 or args.seed < 0:
        parser.error("--epochs and --world-size must be at least 1, --seed at least 0")

    runs = []
    for attempt in (1, 2):
        results = run(args.world_size, args.seed, args.epochs)
        runs.append(results)
        print(f"run {attempt}: loss per epoch per rank (seed {args.seed}, "
              f"{args.world_size} ranks, gloo)")
        print("epoch " + "".join(f"{f'rank {r}':>14}" for r in range(args.world_size)))
        for epoch in range(args.epochs):
            row = "".join(f"{float(r['losses'][epoch]):14.6f}" for r in results)
            print(f"{epoch + 1:5d} {row}")
        print(f"test accuracy (rank 0): {results[0]['accuracy']:.4f}")

    failures = []
    if [r["losses"] for r in runs[0]] != [r["losses"] for r in runs[1]]:
        failures.append("the two runs gave different losses")
    for rank, result in enumerate(runs[0]):
        if not result["mask_matches_rank_seed"]:
            failures.append(f"rank {rank}'s first mask is not that of rank_seed(seed, {rank})")
    seeds = [stream_seed(args.seed, 0, r, args.world_size) for r in range(args.world_size)]
    ones = torch.ones(BATCH, 128)
    masks = {dkf.dropout(ones, P_DROP, seed=s, draw=0).ne(0).numpy().tobytes() for s in seeds}
    if len(masks) != args.world_size:
        failures.append("two ranks drew the same mask")
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    print(f"OK: both runs gave identical losses on every rank and epoch; each rank's masks "
          f"come from rank_seed({args.seed}, rank) and differ between ranks "
          f"(rank seeds: {', '.join(hex(s) for s in seeds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""torch.nn's dropout against dropkit.torch's, side by side on the digits data
(`make torch-digits`).

One MLP (64-128-128-10, two dropout layers), built twice from the same initial weights: once
with torch.nn.Dropout, once with dropkit.torch.Dropout, trained on the same batches of
scikit-learn's bundled digits (load_digits: no download). Per epoch it prints each variant's
test accuracy, its median time per training step (forward, backward, optimizer step), and the
bytes autograd keeps for backward from the dropout layers: measured with saved-tensor hooks
(torch.autograd.graph.saved_tensors_hooks) around the dropout modules, summing the bytes of
every tensor their ops save. One thread for PyTorch and for dropkit. With --plot PATH it draws the three to a PNG (matplotlib, Agg).

    python examples/python/torch_digits.py [--epochs 15] [--plot target/torch_digits.png]
"""

import argparse
import statistics
import sys
import time

import torch
from sklearn.datasets import load_digits

import dropkit
import dropkit.torch as dkt

BATCH = 64
P_DROP = 0.3
HIDDEN = 128


class SavedBytes(torch.nn.Module):
    """Runs ``inner`` with saved-tensor hooks that add the bytes of each tensor the ops in
    it save for backward to ``self.saved`` (the tensor itself is kept as it is)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.saved = 0

    def forward(self, x):
        def pack(t):
            self.saved += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            return self.inner(x)


def mlp(dropout):
    """The MLP with ``dropout(k)`` as dropout layer k (k = 0, 1), each wrapped to count the
    bytes its ops save."""
    return torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN),
        torch.nn.ReLU(),
        SavedBytes(dropout(0)),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        SavedBytes(dropout(1)),
        torch.nn.Linear(HIDDEN, 10),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", help="write the figure to this PNG")
    args = parser.parse_args()
    if args.epochs < 1 or args.seed < 0:
        parser.error("--epochs must be at least 1 and --seed at least 0")

    # One thread each: the model is tiny, and a second thread only adds its hand-offs (and,
    # on a busy machine, waits for a core) to the step times.
    torch.set_num_threads(1)
    dropkit.set_num_threads(1)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    test = torch.arange(len(y)) % 5 == 0
    x_train, y_train, x_test, y_test = x[~test], y[~test], x[test], y[test]

    variants = {
        "torch.nn.Dropout": lambda k: torch.nn.Dropout(P_DROP),
        "dropkit.torch.Dropout": lambda k: dkt.Dropout(P_DROP, seed=args.seed * 2 + k),
    }
    models, optimizers = {}, {}
    for name, dropout in variants.items():
        torch.manual_seed(args.seed)  # the same initial weights for both
        models[name] = mlp(dropout)
        optimizers[name] = torch.optim.SGD(models[name].parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(args.seed)  # torch.nn.Dropout's masks and the batch order

    history = {name: {"accuracy": [], "step_ms": [], "saved": []} for name in variants}
    print(f"digits: {len(y_train)} training, {len(y_test)} test samples; batch {BATCH}, "
          f"dropout p = {P_DROP}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    header = "".join(f"{name + ' acc':>27}{'ms/step':>9}{'saved B/step':>13}"
                     for name in variants)
    print(f"epoch{header}")
    for epoch in range(args.epochs):
        order = torch.randperm(len(y_train))
        times = {name: [] for name in variants}
        saved = {name: [] for name in variants}
        for i, start in enumerate(range(0, len(order), BATCH)):
            idx = order[start:start + BATCH]
            # Alternate which variant goes first, so neither always finds the caches warm.
            names = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in names:
                model, opt = models[name], optimizers[name]
                model.train()
                layers = [m for m in model if isinstance(m, SavedBytes)]
                for layer in layers:
                    layer.saved = 0
                t0 = time.perf_counter()
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
                loss.backward()
                opt.step()
                times[name].append(time.perf_counter() - t0)
                saved[name].append(sum(layer.saved for layer in layers))
        row = ""
        for name, model in models.items():
            model.eval()
            with torch.no_grad():
                accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
            step_ms = statistics.median(times[name]) * 1e3
            # The bytes of a full batch (the last one of an epoch can be smaller).
            per_step = max(saved[name])
            history[name]["accuracy"].append(accuracy)
            history[name]["step_ms"].append(step_ms)
            history[name]["saved"].append(per_step)
            row += f"{accuracy:27.4f}{step_ms:9.3f}{per_step:13d}"
        print(f"{epoch + 1:5d}{row}")

    elements = 2 * BATCH * HIDDEN
    for name in variants:
        b = history[name]["saved"][-1]
        print(f"{name}: {b} bytes kept for backward by the two dropout layers per step of "
              f"{BATCH} samples ({elements} dropout elements: {b / elements:.3f} B/element)")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        epochs = range(1, args.epochs + 1)
        for name in variants:
            axes[0].plot(epochs, history[name]["accuracy"], marker="o", label=name)
            axes[1].plot(epochs, history[name]["step_ms"], marker="o", label=name)
        axes[0].set(title="test accuracy", xlabel="epoch", ylabel="accuracy")
        axes[1].set(title="median time per training step", xlabel="epoch", ylabel="ms")
        names = list(variants)
        bars = [history[n]["saved"][-1] for n in names]
        axes[2].bar(names, bars, color=["tab:blue", "tab:orange"])
        for i, b in enumerate(bars):
            axes[2].text(i, b, f"{b} B", ha="center", va="bottom")
        axes[2].set(title=f"bytes saved for backward by the dropout ops\n(per step, "
                          f"{elements} elements)", ylabel="bytes")
        for ax in axes[:2]:
            ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

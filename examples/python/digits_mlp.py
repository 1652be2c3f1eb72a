#!/usr/bin/env python3
"""A small multilayer perceptron, written in numpy, trained on scikit-learn's bundled
handwritten digits (8x8 images, 10 classes, 1797 samples; no download), twice from the same
initial weights and the same batch order:

- "plain":   64 -> 512 -> 512 -> 10 with ReLU;
- "dropkit": the same network with dropkit.GaussianNoise on the input pixels and
  dropkit.Dropout after each hidden layer (forward in training, evaluate() for measuring).

Each epoch prints the training loss and the train and test accuracy of both runs, measured
in evaluation mode on the whole train and test sets; the end saves a PNG of the curves.
A small training split (25% by default) makes overfitting easy to see. The numbers are
what this run measured, nothing else: the gap between the two runs depends on the split,
the seed and the epochs (see --help).

Run with `make digits` (it installs scikit-learn and matplotlib into .venv), or
`.venv/bin/python examples/python/digits_mlp.py --plot digits.png`.
"""

import argparse
import time

import numpy as np

import dropkit


class Identity:
    """Stands in for a dropkit layer in the plain network."""

    def forward(self, x):
        return x

    def backward(self, x, grad):
        return grad

    def training(self):
        return self

    def evaluate(self):
        return self


class MLP:
    """Two hidden ReLU layers with a noise layer before each weight matrix."""

    def __init__(self, sizes, noise_layers, rng):
        self.weights = [rng.standard_normal((m, n)).astype(np.float32) * np.sqrt(2.0 / m)
                        for m, n in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(n, dtype=np.float32) for n in sizes[1:]]
        self.noise = noise_layers  # one per weight matrix: input noise, then dropouts
        self.velocity = [np.zeros_like(p) for p in self.weights + self.biases]

    def mode(self, train):
        for layer in self.noise:
            layer.training() if train else layer.evaluate()

    def forward(self, x):
        """Logits, and what backward needs."""
        cache = []
        a = x
        for i, (w, b, noise) in enumerate(zip(self.weights, self.biases, self.noise)):
            d = noise.forward(a)
            h = d @ w + b
            cache.append((a, d, h))
            a = np.maximum(h, 0) if i < len(self.weights) - 1 else h
        return a, cache

    def step(self, x, labels, lr, momentum):
        """One SGD-with-momentum step on softmax cross-entropy; returns the batch loss."""
        logits, cache = self.forward(x)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        n = len(labels)
        loss = -np.log(p[np.arange(n), labels] + 1e-12).mean()
        g = p
        g[np.arange(n), labels] -= 1
        g /= n
        grads_w, grads_b = [], []
        for i in reversed(range(len(self.weights))):
            a, d, h = cache[i]
            if i < len(self.weights) - 1:
                g = g * (h > 0)  # through the ReLU
            grads_w.append(d.T @ g)
            grads_b.append(g.sum(axis=0))
            if i > 0:
                # Through the weights, then the noise layer (dropkit's backward applies the
                # forward's mask); the input's noise layer needs no gradient.
                g = self.noise[i].backward(a, g @ self.weights[i].T)
        grads = grads_w[::-1] + grads_b[::-1]
        for param, grad, vel in zip(self.weights + self.biases, grads, self.velocity):
            vel *= momentum
            vel -= lr * grad
            param += vel
        return float(loss)

    def accuracy(self, x, labels):
        self.mode(train=False)
        logits, _ = self.forward(x)
        self.mode(train=True)
        return float((logits.argmax(axis=1) == labels).mean())


def main():
    ap = argparse.ArgumentParser(description="numpy MLP on sklearn digits, with and without dropkit")
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--train-size", type=float, default=0.25, help="fraction used for training")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--dropout", type=float, default=0.5, help="Dropout p after hidden layers")
    ap.add_argument("--input-noise", type=float, default=0.2,
                    help="GaussianNoise stddev on the pixels (scaled to [0, 1])")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default="digits_mlp.png", help="where to save the PNG")
    args = ap.parse_args()

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, train_size=args.train_size, stratify=digits.target,
        random_state=args.seed)
    print(f"digits: {len(x_train)} training and {len(x_test)} test images; "
          f"MLP 64-{args.hidden}-{args.hidden}-10, {args.epochs} epochs, batch {args.batch}, "
          f"lr {args.lr}, momentum {args.momentum}")
    print(f"dropkit run: GaussianNoise({args.input_noise}) on the input, "
          f"Dropout({args.dropout}) after each hidden layer")

    sizes = [64, args.hidden, args.hidden, 10]
    runs = {
        "plain": [Identity(), Identity(), Identity()],
        "dropkit": [dropkit.GaussianNoise(args.input_noise, seed=args.seed),
                    dropkit.Dropout(args.dropout, seed=args.seed + 1),
                    dropkit.Dropout(args.dropout, seed=args.seed + 2)],
    }
    models = {name: MLP(sizes, layers, np.random.RandomState(args.seed))
              for name, layers in runs.items()}
    history = {name: {"loss": [], "train": [], "test": []} for name in runs}
    order_rng = np.random.RandomState(args.seed + 100)
    seconds = {name: 0.0 for name in runs}

    print(f"{'epoch':>5} | {'plain: loss':>11} {'train':>6} {'test':>6} | "
          f"{'dropkit: loss':>13} {'train':>6} {'test':>6}")
    for epoch in range(1, args.epochs + 1):
        order = order_rng.permutation(len(x_train))  # the same batches for both runs
        row = []
        for name, model in models.items():
            t0 = time.perf_counter()
            losses = [model.step(x_train[idx], y_train[idx], args.lr, args.momentum)
                      for idx in np.array_split(order, max(1, len(order) // args.batch))]
            seconds[name] += time.perf_counter() - t0
            h = history[name]
            h["loss"].append(float(np.mean(losses)))
            h["train"].append(model.accuracy(x_train, y_train))
            h["test"].append(model.accuracy(x_test, y_test))
            row.append((h["loss"][-1], h["train"][-1], h["test"][-1]))
        (pl, ptr, pte), (dl, dtr, dte) = row
        print(f"{epoch:>5} | {pl:>11.4f} {ptr:>6.3f} {pte:>6.3f} | "
              f"{dl:>13.4f} {dtr:>6.3f} {dte:>6.3f}")

    print("\nsummary (accuracy in evaluation mode):")
    for name, h in history.items():
        best = int(np.argmax(h["test"]))
        last = h["test"][-10:]
        print(f"  {name:>8}: final train {h['train'][-1]:.3f}, final test {h['test'][-1]:.3f}, "
              f"mean test over the last {len(last)} epochs {np.mean(last):.3f}, "
              f"best test {h['test'][best]:.3f} (epoch {best + 1}); training took "
              f"{seconds[name]:.1f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, args.epochs + 1)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"plain": "tab:red", "dropkit": "tab:blue"}
    for name, h in history.items():
        ax_acc.plot(epochs, h["train"], "--", color=colors[name], label=f"{name} train")
        ax_acc.plot(epochs, h["test"], "-", color=colors[name], label=f"{name} test")
        ax_loss.plot(epochs, h["loss"], "-", color=colors[name], label=name)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (evaluation mode)",
               title=f"digits, {len(x_train)} training images")
    lo = min(min(h["test"][len(epochs) // 10:]) for h in history.values())
    ax_acc.set_ylim(max(0.0, lo - 0.02), 1.002)
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(loc="lower right")
    ax_loss.set(xlabel="epoch", ylabel="training loss (mean over batches)", yscale="log",
                title="training loss (dropkit: with noise on)")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"plot saved to {args.plot}")


if __name__ == "__main__":
    main()

"""With `set_seed(100, generator="bigdl")`, the Python layers print what the Rust quickstart
(crates/dropkit/examples/quickstart.rs, `make demo`) prints in its BigDL-generator half: the
same steps, the same inputs, and every number equal. The quickstart is run by this test, so
the comparison is with the Rust program as it is now, not with copied numbers."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import dropkit

ROOT = Path(__file__).resolve().parents[3]


def _quickstart_output() -> str:
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        pytest.skip(f"{cargo} is not on PATH: the Rust quickstart cannot be run")
    run = subprocess.run(
        [cargo, "run", "--quiet", "--release", "--example", "quickstart"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return run.stdout


def _parse(section: str) -> list:
    """The tensors a section prints, each flattened in print order, as float lists."""
    tensors, current = [], []
    for line in section.splitlines():
        if line.startswith("[com.intel.analytics.bigdl.tensor.DenseTensor"):
            tensors.append(current)
            current = []
        elif line and re.fullmatch(r"[-+0-9.eE ]+", line):
            current.extend(float(v) for v in line.split())
    return tensors


@pytest.fixture(scope="module")
def rust_sections() -> dict:
    out = _quickstart_output()
    bigdl_half = out.split("##### Philox")[0]
    sections = {}
    for chunk in bigdl_half.split("\n=== ")[1:]:
        title, _, body = chunk.partition("\n")
        sections[title.split(" ")[0]] = _parse(body)
    return sections


def _rand(shape) -> np.ndarray:
    """The quickstart's `input.rand()`: BigDL's uniform word * 2**-32 from an MT19937 stream
    seeded with 1, which is numpy's legacy RandomState(1) stream."""
    n = int(np.prod(shape))
    words = np.frombuffer(np.random.RandomState(1).bytes(4 * n), dtype="<u4")
    return (words.astype(np.float64) * 2.0**-32).reshape(shape)


def _flat(*arrays) -> list:
    return [list(a.ravel()) for a in arrays]


def _assert_same(python: list, rust: list, dtype) -> None:
    assert len(python) == len(rust)
    for p, r in zip(python, rust):
        assert np.array_equal(np.asarray(p, dtype=dtype), np.asarray(r, dtype=dtype))


def test_dropout(rust_sections):
    dropkit.set_seed(100, generator="bigdl")
    module = dropkit.Dropout()
    x = np.arange(1, 9, 1, dtype=np.float32).reshape(2, 4)
    out = module.forward(x)
    grad = module.backward(x, x * np.float32(0.5))
    _assert_same(_flat(out, grad), rust_sections["Dropout"], np.float32)
    assert np.array_equal(out, [[0, 0, 6, 8], [10, 0, 0, 16]])  # as the quickstart prints


@pytest.mark.parametrize("name, cls, arg", [
    ("GaussianDropout(0.5)", dropkit.GaussianDropout, 0.5),
    ("GaussianNoise(0.2)", dropkit.GaussianNoise, 0.2),
])
def test_gaussian_layers(rust_sections, name, cls, arg):
    dropkit.set_seed(100, generator="bigdl")
    layer = cls(arg)
    layer.training()
    inp = np.ones((2, 3), dtype=np.float32)
    output = layer.forward(inp)
    gradin = layer.backward(inp, np.ones((2, 3), dtype=np.float32))
    layer.evaluate()
    output2 = layer.forward(inp)
    _assert_same(_flat(output, gradin, output2), rust_sections[name], np.float32)


@pytest.mark.parametrize("name, cls, shape", [
    ("SpatialDropout1D[Double](0.7)", dropkit.SpatialDropout1D, (3, 4, 5)),
    ("SpatialDropout2D[Double](0.7)", dropkit.SpatialDropout2D, (2, 3, 4, 5)),
    ("SpatialDropout3D[Double](0.7)", dropkit.SpatialDropout3D, (2, 3, 2, 2, 3)),
])
def test_spatial_layers(rust_sections, name, cls, shape):
    module = cls(0.7)
    x = _rand(shape)
    dropkit.set_seed(100, generator="bigdl")
    printed = [module.forward(x), module.backward(x, np.ones_like(x))]
    if cls is dropkit.SpatialDropout3D:
        module.evaluate()
        printed.append(module.forward(x))
    _assert_same(_flat(*printed), rust_sections[name], np.float64)

"""The Python examples of BigDL's documentation of the six layers, run as written.

Changes to the document's code, and only these: the import line (`from dropkit import *`
instead of `from bigdl.nn.layer import *`, at the top of this file), and Python 2 print
statements (`print "a=", b`) written as print() calls (`print("a=", b)`). The document's
outputs came from unseeded runs, so the assertions check the layers' laws, not its numbers;
`test_quickstart_parity.py` checks numbers.
"""

import numpy as np
import pytest

from dropkit import *  # the document's `from bigdl.nn.layer import *`


def test_dropout_example_with_integer_input(capsys):
    # --- the document's code ---
    module = Dropout()
    x = np.arange(1, 9, 1).reshape(2, 4)
    print(module.forward(x))
    print(module.backward(x, x.copy() * 0.5)) # backward drops out the gradients at the same location.
    # --- checks ---
    printed = capsys.readouterr().out
    assert printed.count("[[") == 2
    module = Dropout().set_seed(3)
    y = module.forward(x)
    g = module.backward(x, x.copy() * 0.5)
    assert x.dtype.kind == "i" and y.dtype == np.float32  # int input becomes float32
    assert g.dtype == np.float64  # the gradient keeps its own dtype (float64 here)
    kept = y != 0
    assert np.array_equal(y[kept], 2 * x[kept])  # kept: x / (1 - 0.5)
    assert np.array_equal(g, np.where(kept, x, 0.0))  # same mask: 0.5 x * 2 where kept
    assert np.array_equal(x, np.arange(1, 9).reshape(2, 4))  # the input is not touched


def test_gaussian_dropout_example(capsys):
    # --- the document's code ---
    layer = GaussianDropout(0.5) # Try to create a Linear layer
    #training mode
    layer.training()
    inp=np.ones([2,1])
    outp = layer.forward(inp)
    gradoutp = np.ones([2,1])
    gradinp = layer.backward(inp,gradoutp)
    print("training:forward=",outp)
    print("trainig:backward=",gradinp)
    #evaluation mode
    layer.evaluate()
    print("evaluate:forward=",layer.forward(inp))
    # --- checks ---
    printed = capsys.readouterr().out
    assert "training:forward=" in printed and "evaluate:forward= [[1.]\n [1.]]" in printed
    assert outp.dtype == np.float64 and outp.shape == (2, 1)
    assert np.array_equal(gradinp, outp)  # grad 1 times the forward's noise
    assert not np.array_equal(outp, inp)
    assert np.array_equal(layer.forward(inp), inp)


def test_gaussian_noise_example(capsys):
    # --- the document's code ---
    layer = GaussianNoise(0.5)
    #training mode
    layer.training()
    inp=np.ones([2,1])
    outp = layer.forward(inp)
    gradoutp = np.ones([2,1])
    gradinp = layer.backward(inp,gradoutp)
    print("training:forward=",outp)
    print("trainig:backward=",gradinp)
    #evaluation mode
    layer.evaluate()
    print("evaluate:forward=",layer.forward(inp))
    # --- checks ---
    printed = capsys.readouterr().out
    assert "trainig:backward= [[1.]\n [1.]]" in printed
    assert "evaluate:forward= [[1.]\n [1.]]" in printed
    assert outp.dtype == np.float64 and not np.array_equal(outp, inp)
    assert np.array_equal(gradinp, gradoutp)


# The SpatialDropout1D and SpatialDropout2D sections carry the same Python example (the
# 2D section's is a copy of the 1D one). As written it passes `np.arange(3, 4, 5)`, which is
# `array([3])`, of rank 1: SpatialDropout1D takes (N, T, C) or (T, C), so the example raises
# the rank error, as BigDL does in training mode. The document's intent, a (3, 4, 5) array as
# in its Scala example, runs after it.
def test_spatial_dropout_example_as_written_raises_the_rank_error():
    # --- the document's code ---
    module = SpatialDropout1D(0.7)
    x = np.arange(3, 4, 5)
    with pytest.raises(ValueError) as err:
        print(module.forward(x))
    # --- checks ---
    assert x.shape == (1,)
    assert str(err.value) == (
        "SpatialDropout1D takes input of rank 3 (N, T, C) or 2 (T, C) with format NHWC, got shape (1) (rank 1)"
    )


def test_spatial_dropout_example_on_the_intended_shape(capsys):
    module = SpatialDropout1D(0.7)
    x = np.random.RandomState(0).rand(3, 4, 5)  # the Scala example's Tensor(3, 4, 5).rand()
    print(module.forward(x))
    print(module.backward(x, x.copy() * 0.5)) # backward drops out the gradients at the same location.
    assert capsys.readouterr().out.count("[[[") == 2
    module = SpatialDropout1D(0.7, seed=11)
    y = module.forward(x)
    g = module.backward(x, x.copy() * 0.5)
    kept = y[:, :1, :] != 0  # one draw per (sample, channel): constant along T
    assert np.array_equal(y, np.where(kept, x, 0.0))  # BigDL does not scale in training
    assert np.array_equal(g, np.where(kept, x * 0.5, 0.0))

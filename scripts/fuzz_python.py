"""Coverage-guided fuzzing of the Python API with atheris (libFuzzer), for a bounded time.

Each input builds a layer from fuzzed arguments (any type, valid or not), fuzzed arrays
(dtype, shape, layout: transposed, reversed, sliced, broadcast, self-overlapping, read-only,
masked) and a fuzzed sequence of calls (forward, backward, modes, in place, seeds, generator
states, pickling and deep copies, the functional API). The API may refuse an input only with ValueError, TypeError, RuntimeError or
MemoryError; anything else (a PanicException, a segfault, a hang, a wrong result) is a
finding. Results are checked: a strided input gives the bits of its contiguous copy, a
restored layer continues bit for bit, and a functional call equals the layer at its draw.

    make fuzz                                  # the Rust soak and this, 60 s
    .venv/bin/python scripts/fuzz_python.py -max_total_time=600
"""

import copy
import pickle
import sys

import atheris

# The harness is instrumented function by function (its branches guide the fuzzer);
# dropkit's Python modules at import.
with atheris.instrument_imports(include=["dropkit"]):
    import numpy as np

    import dropkit
    import dropkit.functional as F

ALLOWED = (ValueError, TypeError, RuntimeError, MemoryError)
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.bool_, np.complex64,
          np.uint8, object]
VALUES = [0, 1, -1, 0.5, 1.0, 0.0, -0.0, 1e-300, -1e-300, 2.0, float("nan"), float("inf"),
          2**63, 2**64, -(2**63), 10**20, "0.5", None, True, [0.5], {"p": 1}]


@atheris.instrument_func
def value(fdp):
    """A constructor or method argument: often sensible, sometimes not."""
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return fdp.ConsumeProbability()
    if kind == 1:
        return fdp.ConsumeRegularFloat()
    if kind == 2:
        return fdp.ConsumeIntInRange(-(2**64), 2**64)
    return VALUES[fdp.ConsumeIntInRange(0, len(VALUES) - 1)]


@atheris.instrument_func
def layer(fdp):
    which = fdp.ConsumeIntInRange(0, 5)
    seed = fdp.ConsumeIntInRange(0, 2**64 - 1) if fdp.ConsumeBool() else value(fdp)
    generator = ["philox", "bigdl", "PHILOX", "mt", 3][fdp.ConsumeIntInRange(0, 4)]
    kw = {"seed": seed, "generator": generator} if fdp.ConsumeBool() else {}
    p = fdp.ConsumeProbability() if fdp.ConsumeIntInRange(0, 3) else value(fdp)
    fmt = ["NCHW", "NHWC", "nhwc", "NCDHW", 5][fdp.ConsumeIntInRange(0, 4)]
    if which == 0:
        return dropkit.Dropout(p, fdp.ConsumeBool(), fdp.ConsumeBool(), **kw)
    if which == 1:
        return dropkit.GaussianDropout(p, **kw)
    if which == 2:
        return dropkit.GaussianNoise(p * 3 if isinstance(p, float) else p, **kw)
    if which == 3:
        return dropkit.SpatialDropout1D(p, **kw)
    if which == 4:
        return dropkit.SpatialDropout2D(p, fmt, **kw)
    return dropkit.SpatialDropout3D(p, fmt, **kw)


@atheris.instrument_func
def array(fdp):
    """A fuzzed array and, where its values are a plain ndarray's, its contiguous copy."""
    rank = fdp.ConsumeIntInRange(0, 6)
    shape = tuple(fdp.ConsumeIntInRange(0, 5) for _ in range(rank))
    dtype = DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)]
    n = int(np.prod(shape))
    base = np.array([fdp.ConsumeRegularFloat() for _ in range(min(n, 64))] + [1.5] * max(0, n - 64))
    with np.errstate(all="ignore"):
        x = base.astype(dtype).reshape(shape)
    layout = fdp.ConsumeIntInRange(0, 7)
    if layout == 1 and rank > 1:
        x = np.asfortranarray(x)
    elif layout == 2 and rank > 0:
        x = np.flip(np.ascontiguousarray(np.flip(x, 0)), 0)
    elif layout == 3 and rank > 0:
        wide = np.zeros((shape[0] * 2,) + shape[1:], dtype=x.dtype)
        wide[::2] = x
        x = wide[::2]
    elif layout == 4 and rank > 0:
        x = np.broadcast_to(x[:1], shape) if shape[0] else x
    elif layout == 5 and n > 1:
        flat = np.ascontiguousarray(x).reshape(-1)
        x = np.lib.stride_tricks.as_strided(flat, (n - 1, 2), (flat.itemsize,) * 2)
    elif layout == 6:
        x = x.copy()
        x.flags.writeable = False
    elif layout == 7:
        x = np.ma.masked_array(x, mask=np.zeros(x.shape, bool))
    return x


@atheris.instrument_func
def check(l, x, y):
    """A strided float input gives the bits of its contiguous copy (same generator position)."""
    if type(x) is not np.ndarray or x.dtype not in (np.float32, np.float64):
        return
    if x.flags.c_contiguous or not l.is_training():
        return
    state = l.generator_state
    l.generator_state = state
    again = l.forward(np.ascontiguousarray(x))
    l.generator_state = state
    l.forward(np.ascontiguousarray(x))
    if not np.array_equal(again.view(np.uint8), np.ascontiguousarray(y).view(np.uint8)):
        raise AssertionError(f"strided {x.strides} differs from contiguous for {l!r}")


@atheris.instrument_func
def check_inplace(l, x0, y):
    """In place, a Dropout element is its input divided by 1 - p, or 0: an element written
    twice (memory shared by two elements) breaks this."""
    if not isinstance(l, dropkit.Dropout) or not l.is_training() or not l.scale:
        return
    if x0.dtype not in (np.float32, np.float64) or not np.isfinite(x0).all():
        return
    kept = (x0 / x0.dtype.type(1 - l.p)).astype(x0.dtype)
    if not ((y == 0) | (y == kept)).all():
        raise AssertionError(f"in place result is neither 0 nor x / (1 - p): {x0!r} -> {y!r}")


@atheris.instrument_func
def test_one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    try:
        l = layer(fdp)
    except ALLOWED:
        return
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        try:
            step = fdp.ConsumeIntInRange(0, 9)
            if step == 0:
                x = array(fdp)
                x0 = np.array(x)
                before = l.generator_state
                y = l.forward(x)
                if getattr(l, "inplace", False):
                    check_inplace(l, x0, np.asarray(y))
                else:
                    after = l.generator_state
                    l.generator_state = before
                    check(l, x, y)
                    l.generator_state = after
            elif step == 1:
                x, g = array(fdp), array(fdp)
                l.backward(x, g)
            elif step == 2:
                l.evaluate() if fdp.ConsumeBool() else l.training()
            elif step == 3:
                l.set_seed(value(fdp), ["philox", "bigdl", 1][fdp.ConsumeIntInRange(0, 2)])
            elif step == 4:
                gen = ["philox", "bigdl", "x"][fdp.ConsumeIntInRange(0, 2)]
                keys = ["generator", "seed", "draw", "words", "pending_pair"]
                state = {k: value(fdp) for k in keys if fdp.ConsumeBool()}
                state["generator"] = gen
                l.generator_state = state
            elif step == 5:
                if hasattr(l, "set_p"):
                    l.set_p(value(fdp))
            elif step == 6:
                dropkit.set_num_threads(fdp.ConsumeIntInRange(-2, 4))
            elif step == 8:
                # A saved layer continues bit for bit where the original stands.
                twin = pickle.loads(pickle.dumps(l)) if fdp.ConsumeBool() else copy.deepcopy(l)
                if repr(twin) != repr(l) or twin.generator_state != l.generator_state:
                    raise AssertionError(f"restored {twin!r} differs from {l!r}")
                if "seed" not in l.get_config():
                    continue  # both would draw from the one default generator
                x = array(fdp)
                a, b = l.forward(np.array(x)), twin.forward(np.array(x))
                if not np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8)):
                    raise AssertionError(f"restored layer's forward differs: {l!r}")
            elif step == 9:
                x = array(fdp)
                seed, draw = fdp.ConsumeIntInRange(0, 2**64 - 1), fdp.ConsumeIntInRange(0, 2**64 - 1)
                p = value(fdp)
                y = F.dropout(x, p, seed=seed, draw=draw)
                reference = dropkit.Dropout(p)
                reference.generator_state = {"generator": "philox", "seed": seed, "draw": draw}
                want = reference.forward(x)
                if not np.array_equal(np.asarray(y).view(np.uint8), np.asarray(want).view(np.uint8)):
                    raise AssertionError("functional dropout differs from the layer at its draw")
            else:
                l.use_default_generator()
        except ALLOWED:
            pass


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

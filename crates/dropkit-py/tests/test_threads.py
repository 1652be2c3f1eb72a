"""Threads: the GIL is released while a layer computes, and each call is atomic with respect
to the generator it draws from, so concurrent calls give exactly the outputs of some
sequential order."""

import threading
import time

import numpy as np
import pytest

import dropkit

THREADS, CALLS = 6, 15


def _run_threads(target, n=THREADS, timeout=120.0):
    barrier = threading.Barrier(n)
    errors = []

    def run(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish (deadlock?)"
    assert not errors, errors


def _keys(arrays):
    return sorted(a.tobytes() for a in arrays)


@pytest.mark.parametrize("generator", ["philox", "bigdl"])
@pytest.mark.parametrize("make", [
    lambda **kw: dropkit.Dropout(0.5, **kw),
    lambda **kw: dropkit.GaussianNoise(1.0, **kw),
], ids=["Dropout", "GaussianNoise"])
def test_concurrent_forwards_on_one_layer_are_a_sequential_order(make, generator):
    x = np.ones(4096, dtype=np.float32)
    layer = make(seed=13, generator=generator)
    results = [[] for _ in range(THREADS)]

    def work(i):
        for _ in range(CALLS):
            results[i].append(layer.forward(x))

    _run_threads(work)
    reference = make(seed=13, generator=generator)
    sequential = [reference.forward(x) for _ in range(THREADS * CALLS)]
    assert len({a.tobytes() for a in sequential}) == len(sequential)  # all draws differ
    assert _keys(sum(results, [])) == _keys(sequential)
    assert layer.generator_state == reference.generator_state


@pytest.mark.parametrize("generator", ["philox", "bigdl"])
def test_layers_sharing_the_default_generator(generator):
    x = np.ones(2048, dtype=np.float32)
    dropkit.set_seed(99, generator=generator)
    results = [[] for _ in range(THREADS)]

    def work(i):
        layer = dropkit.Dropout(0.5)  # no seed: draws from the process default
        for _ in range(CALLS):
            results[i].append(layer.forward(x))

    _run_threads(work)
    after = dropkit.default_generator_state()
    dropkit.set_seed(99, generator=generator)
    reference = dropkit.Dropout(0.5)
    sequential = [reference.forward(x) for _ in range(THREADS * CALLS)]
    assert _keys(sum(results, [])) == _keys(sequential)
    assert after == dropkit.default_generator_state()


def test_separate_layers_in_threads_match_single_threaded_runs():
    x = np.random.RandomState(0).standard_normal((64, 8, 16)).astype(np.float32)

    def run(seed):
        layer = dropkit.SpatialDropout1D(0.5, seed=seed)
        out = []
        for _ in range(CALLS):
            out.append(layer.forward(x))
            out.append(layer.backward(x, x))
        return out

    got = [None] * THREADS
    _run_threads(lambda i: got.__setitem__(i, run(i)))
    for i in range(THREADS):
        assert all(np.array_equal(a, b) for a, b in zip(got[i], run(i)))


def test_mixed_calls_from_threads_finish():
    # Forwards hold the layer without the GIL while other threads read and change it: every
    # call must finish (no lock-order deadlock) and the layer stays consistent.
    layer = dropkit.Dropout(0.5, seed=1)
    x = np.ones((256, 256), dtype=np.float32)

    def work(i):
        for k in range(CALLS):
            if i % 3 == 0:
                layer.forward(x)
            elif i % 3 == 1:
                layer.set_p(0.25 if k % 2 else 0.5)
                assert layer.p in (0.25, 0.5)
            else:
                assert layer.generator_state["seed"] == 1
                layer.is_training()

    _run_threads(work)
    assert layer.generator_state["draw"] == CALLS * len(range(0, THREADS, 3))


def _spinner_progress_during(call):
    """Runs `call` on this thread while another thread appends timestamps in a pure-Python
    loop; returns how many timestamps fall in the middle half of the call. That thread can
    only run while this one does not hold the GIL."""
    stamps, stop = [], threading.Event()

    def spin():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    spinner = threading.Thread(target=spin)
    spinner.start()
    time.sleep(0.02)
    t0 = time.perf_counter()
    call()
    t1 = time.perf_counter()
    stop.set()
    spinner.join()
    lo, hi = t0 + 0.25 * (t1 - t0), t0 + 0.75 * (t1 - t0)
    return sum(lo < s < hi for s in stamps), t1 - t0


def test_the_gil_is_released_during_compute():
    dropkit.set_num_threads(1)  # slow enough on a machine of many cores (the fixture restores it)
    layer = dropkit.GaussianNoise(1.0, seed=1)
    n = 1 << 16
    while True:  # grow the input until one forward takes 0.25 s
        x = np.ones(n, dtype=np.float32)
        t = time.perf_counter()
        layer.forward(x)
        if time.perf_counter() - t > 0.25 or n >= 1 << 27:
            break
        n *= 2
    progress, seconds = _spinner_progress_during(lambda: layer.forward(x))
    assert seconds > 0.1
    assert progress > 0
    # Control: a C call that keeps the GIL for as long shows no progress in its middle, so the
    # measure above can tell the two apart.
    count = 1000
    while True:
        t = time.perf_counter()
        sum(range(count))
        if time.perf_counter() - t > seconds:
            break
        count *= 2
    control, _ = _spinner_progress_during(lambda: sum(range(count)))
    assert control == 0

"""Threads: the GIL is released while a layer computes, and each call is atomic with respect
to the generator it draws from, so concurrent calls give exactly the outputs of some
sequential order."""

import sys
import threading
from contextlib import contextmanager

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


@contextmanager
def _no_forced_gil_switches():
    """While inside, the interpreter hands the GIL to another thread only when the thread
    holding it releases it of its own accord (a blocking call, or native code that detaches),
    never by preemption between bytecodes: which thread can run is then a matter of order."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _another_thread_ran_during(call) -> bool:
    """Whether a second Python thread ran while `call()` was in flight on this one.

    The second thread is parked on an event; it is released just before the call and only
    records that it ran. From the release until `call()` returns this thread runs Python code
    and, without forced switches, keeps the GIL unless `call` gives it up, so the record can
    only be made inside `call`."""
    go, ran = threading.Event(), []
    other = threading.Thread(target=lambda: (go.wait(), ran.append(True)))
    other.start()  # it blocks in go.wait() (GIL released) before start() returns
    go.set()
    assert not ran
    call()
    during = bool(ran)
    other.join()
    assert ran  # it ran, during the call or once this thread waited in join()
    return during


ATTEMPTS = 20


def test_the_gil_is_released_during_compute():
    # One compute thread, and an input of 16M elements: the other thread has the whole call to
    # be scheduled. Whether the scheduler gets to it in time is up to the machine's load, so a
    # few attempts are allowed; a call that kept the GIL would let it run in none of them.
    dropkit.set_num_threads(1)  # the fixture restores it
    layer = dropkit.GaussianNoise(1.0, seed=1)
    x = np.ones(1 << 24, dtype=np.float32)
    layer.forward(x)  # first-call costs (page faults of a fresh output) out of the way
    with _no_forced_gil_switches():
        for _ in range(ATTEMPTS):
            if _another_thread_ran_during(lambda: layer.forward(x)):
                break
        else:
            pytest.fail(f"no other Python thread ran during any of {ATTEMPTS} forwards")


def test_the_gil_release_probe_sees_a_call_that_keeps_it():
    # Control: the same probe around C code that keeps the GIL (summing a range of Python
    # ints) never sees the other thread run, so the test above can tell the two apart.
    with _no_forced_gil_switches():
        assert not any(
            _another_thread_ran_during(lambda: sum(range(1 << 22))) for _ in range(3)
        )

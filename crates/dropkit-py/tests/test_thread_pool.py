"""The thread pool: its accepted sizes, and forked child processes (multiprocessing's "fork"
context, PyTorch DataLoader workers), which inherit the pool's memory but none of its threads
and must start threads of their own."""

import multiprocessing
import sys

import numpy as np
import pytest

import dropkit

# How long a forked child may take before it is called hung: a guard so that a hang fails
# the test instead of blocking it forever, not a measurement.
HANG_GUARD_S = 120


def _noise(seed):
    """A forward large enough (256 Ki elements or more) to run on the thread pool."""
    return dropkit.GaussianNoise(0.1, seed=seed).forward(np.ones(1 << 19, np.float32))


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method is Linux's default")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() of a threaded process
def test_forked_children_start_their_own_threads_and_match_the_parent():
    dropkit.set_num_threads(2)  # a pool, whatever the core count (the fixture restores it)
    _noise(0)  # the parent's pool has run
    want = [_noise(1), _noise(2)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_noise, [1, 2]).get(HANG_GUARD_S)
    for a, b in zip(got, want):
        assert np.array_equal(a, b)
    assert np.array_equal(_noise(1), want[0])  # the parent's pool still works


@pytest.mark.parametrize("n", [1025, 10**6, 2**63 - 1, 2**63, 10**20])
def test_too_many_threads_is_a_value_error_naming_the_range(n):
    before = dropkit.num_threads()
    with pytest.raises(ValueError) as err:
        dropkit.set_num_threads(n)
    assert str(err.value) == f"threads = {n} is too many: accepted are 1 to 1024"
    assert dropkit.num_threads() == before


@pytest.mark.parametrize("n", [-1, -(2**63), -(10**20)])
def test_negative_thread_counts_are_value_errors(n):
    with pytest.raises(ValueError) as err:
        dropkit.set_num_threads(n)
    assert str(err.value) == f"threads = {n} is invalid: it must be at least 1"


def test_a_thread_count_must_be_an_int():
    with pytest.raises(TypeError):
        dropkit.set_num_threads(2.5)

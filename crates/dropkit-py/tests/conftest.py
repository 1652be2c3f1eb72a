"""Shared fixtures: every test starts from the same process-wide generator and thread count,
and leaves them as it found them (tests may run in any order)."""

import pytest

import dropkit


@pytest.fixture(autouse=True)
def _isolate_process_state():
    state = dropkit.default_generator_state()
    threads = dropkit.num_threads()
    dropkit.set_seed(0)
    yield
    dropkit.set_default_generator_state(state)
    dropkit.set_num_threads(threads)

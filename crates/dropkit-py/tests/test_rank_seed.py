"""dropkit.rank_seed: the seed of one data-parallel rank. The same rule as the Rust crate
(the pinned values are the Rust tests'), checked here against a pure-Python implementation
of the documented rule, and the masks the ranks of one job draw."""

import numpy as np
import pytest

import dropkit
from dropkit.functional import dropout

MASK64 = (1 << 64) - 1


def documented_rule(seed, rank):
    """seed XOR mix(rank), mix = SplitMix64's finalizer of rank * 0x9E3779B97F4A7C15."""
    z = (rank * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return seed ^ z ^ (z >> 31)


@pytest.mark.parametrize("seed, rank, want", [
    (0, 0, 0),
    (0, 1, 0xE220A8397B1DCDAF),  # SplitMix64's first output from state 0
    (42, 1, 0xE220A8397B1DCD85),
    (42, 3, 0x06C45D1880094565),
    (2**64 - 1, 7, 0xD37D6541E0BACD1E),
    (123456789, 2**64 - 1, 0x336503C6BF6E73D5),
])
def test_pinned_values(seed, rank, want):
    assert dropkit.rank_seed(seed, rank) == want


def test_matches_the_documented_rule():
    rng = np.random.default_rng(5)
    for seed, rank in zip(rng.integers(0, 2**63, 200), rng.integers(0, 2**63, 200)):
        seed, rank = int(seed) * 2 + 1, int(rank)
        assert dropkit.rank_seed(seed, rank) == documented_rule(seed, rank)
    assert dropkit.rank_seed(np.uint64(9), np.int32(2)) == documented_rule(9, 2)


def test_distinct_ranks_distinct_seeds_and_rank_zero_keeps_the_seed():
    for seed in (0, 1234, 2**64 - 1):
        seeds = {dropkit.rank_seed(seed, r) for r in range(20000)}
        assert len(seeds) == 20000
        assert dropkit.rank_seed(seed, 0) == seed


def test_ranks_draw_different_masks_that_replay():
    x = np.ones((32, 32), dtype=np.float32)
    masks = []
    for rank in range(4):
        seed = dropkit.rank_seed(7, rank)
        layer = dropkit.Dropout(0.5, seed=seed)
        y = layer.forward(x)
        np.testing.assert_array_equal(y, dropout(x, 0.5, seed=seed, draw=0))
        masks.append((y != 0).tobytes())
    assert len(set(masks)) == 4


@pytest.mark.parametrize("name, args", [
    ("seed", (-1, 0)),
    ("rank", (0, -1)),
    ("seed", (2**64, 0)),
    ("rank", (0, 2**64)),
])
def test_out_of_range_is_a_value_error_naming_the_parameter(name, args):
    bad = args[0] if name == "seed" else args[1]
    with pytest.raises(ValueError, match=rf"^{name} = {bad} is out of range: accepted are "
                                         r"integers in \[0, 2\*\*64\)"):
        dropkit.rank_seed(*args)


@pytest.mark.parametrize("name, args", [
    ("seed", (1.5, 0)),
    ("rank", (0, "1")),
    ("rank", (0, None)),
])
def test_non_ints_are_type_errors_naming_the_parameter(name, args):
    with pytest.raises(TypeError, match=rf"^{name} must be an int in \[0, 2\*\*64\)"):
        dropkit.rank_seed(*args)


def test_keywords():
    assert dropkit.rank_seed(seed=3, rank=1) == documented_rule(3, 1)

"""BigDL generator states: any position is restored by MT19937 jump-ahead (bit for bit the
stream that consumed its words), and a pending Box-Muller pair that no stream can have is a
ValueError that changes nothing."""

import numpy as np
import pytest

import dropkit


def _bigdl(seed, words, pending_pair=None):
    return {"generator": "bigdl", "seed": seed, "words": words, "pending_pair": pending_pair}


def test_far_positions_restore_and_agree_with_nearby_ones():
    far = 2**63  # never replayable word by word
    a = dropkit.Dropout(0.5, seed=9, generator="bigdl")
    a.generator_state = _bigdl(9, far - 5)
    ya = a.forward(np.ones(8, np.float32))  # one word per element
    b = dropkit.Dropout(0.5, seed=9, generator="bigdl")
    b.generator_state = _bigdl(9, far)
    assert np.array_equal(b.forward(np.ones(3, np.float32)), ya[5:])
    assert a.generator_state == b.generator_state == _bigdl(9, far + 3)


def test_far_pending_pairs_restore_on_the_default_generator():
    last = 2**64 - 1
    state = _bigdl(4, last - 4, pending_pair=last - 10)
    dropkit.set_default_generator_state(state)
    assert dropkit.default_generator_state() == state
    a = dropkit.GaussianNoise(1.0).forward(np.zeros(1))  # the pending normal: no word taken
    assert dropkit.default_generator_state() == _bigdl(4, last - 4)
    dropkit.set_default_generator_state(state)
    assert np.array_equal(dropkit.GaussianNoise(1.0).forward(np.zeros(1)), a)


@pytest.mark.parametrize("words, pair", [(0, 0), (1, 0), (5, 4), (5, 5), (5, 2**64 - 1)])
def test_an_impossible_pending_pair_is_a_value_error_and_changes_nothing(words, pair):
    message = (f"pending_pair = {pair} is impossible with words = {words}: a pending "
               "Box-Muller pair was drawn from the two words at pending_pair and "
               "pending_pair + 1, so it must be at most words - 2 (or None)")
    layer = dropkit.GaussianNoise(1.0, seed=3, generator="bigdl")
    layer.forward(np.ones(3))
    before = layer.generator_state
    with pytest.raises(ValueError) as err:
        layer.generator_state = _bigdl(3, words, pair)
    assert str(err.value) == message
    assert layer.generator_state == before
    default = dropkit.default_generator_state()
    with pytest.raises(ValueError) as err:
        dropkit.set_default_generator_state(_bigdl(3, words, pair))
    assert str(err.value) == message
    assert dropkit.default_generator_state() == default


def test_every_pending_pair_up_to_words_minus_2_is_reachable():
    # A pair drawn at 0, then Bernoulli words from another layer on the same default stream.
    dropkit.set_seed(6, generator="bigdl")
    dropkit.GaussianNoise(1.0).forward(np.zeros(1))
    dropkit.Dropout(0.5).forward(np.ones(7))
    assert dropkit.default_generator_state() == _bigdl(6, 9, pending_pair=0)
    dropkit.set_default_generator_state(_bigdl(6, 2, pending_pair=0))
    assert dropkit.default_generator_state() == _bigdl(6, 2, pending_pair=0)

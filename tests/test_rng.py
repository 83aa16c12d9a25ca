"""tg.get_rng_state / tg.set_rng_state (PyTorch's names): every draw of the library restored bit for bit."""

from __future__ import annotations

import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu import nn
from tinygrad_edu.data import DataLoader, TensorDataset
from tinygrad_edu.rng import get_rng_state, initial_seed, set_rng_state


def _draws():
    """One of every kind of draw the library makes from its generator."""
    x = tg.ones(8, 4)
    loader = DataLoader(TensorDataset(tg.arange(10)), batch_size=10, shuffle=True)
    return [tg.randn(3).numpy(), tg.rand(2, 2).numpy(), tg.randint(0, 100, (5,)).numpy(), tg.randperm(6).numpy(),
            nn.Dropout(0.5)(x).numpy(), next(iter(loader))[0].numpy(), nn.Linear(3, 2).weight.numpy()]


def test_restoring_the_state_repeats_every_kind_of_draw_bit_for_bit():
    tg.manual_seed(3)
    tg.randn(5)  # somewhere in the middle of the stream
    state = get_rng_state()
    first = _draws()
    set_rng_state(state)
    second = _draws()
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()


def test_same_contract_as_pytorchs_get_and_set_rng_state():
    # PyTorch: set_rng_state(get_rng_state()) before a draw repeats that draw; later draws continue the stream.
    for get, set_, draw in ((get_rng_state, set_rng_state, lambda: tg.rand(4).numpy()),
                            (torch.get_rng_state, torch.set_rng_state, lambda: torch.rand(4).numpy())):
        state = get()
        a, b = draw(), draw()
        set_(state)
        assert draw().tobytes() == a.tobytes() and draw().tobytes() == b.tobytes()


def test_the_state_is_plain_data_that_tg_save_round_trips(tmp_path):
    tg.manual_seed(11)
    state = get_rng_state()
    expected = tg.randn(4).numpy()
    tg.save({"rng": state}, tmp_path / "s.tg")
    tg.manual_seed(0)
    set_rng_state(tg.load(tmp_path / "s.tg")["rng"])
    assert tg.randn(4).numpy().tobytes() == expected.tobytes()
    assert initial_seed() == 11  # the seed comes back with the state


def test_the_snapshot_is_independent_of_later_draws():
    state = get_rng_state()
    copy = {k: v for k, v in state.items()}
    tg.randn(100)
    assert state == copy  # not a live view of the generator


@pytest.mark.parametrize("bad, match", [
    (None, "get_rng_state"),
    ({"seed": 0}, "get_rng_state"),
    ({"format": "tinygrad_edu.rng_state", "seed": -1, "generator": {}}, "seed"),
    ({"format": "tinygrad_edu.rng_state", "seed": 0, "generator": {"bit_generator": "Nope"}}, "MT19937"),
    # a state saved before the streams became PyTorch's
    ({"format": "tinygrad_edu.rng_state", "seed": 0, "generator": {"bit_generator": "PCG64"}}, "PCG64"),
    ({"format": "tinygrad_edu.rng_state", "seed": 0, "generator": {"bit_generator": "MT19937", "state": 3}},
     "invalid"),
    ({"format": "tinygrad_edu.rng_state", "seed": 0,
      "generator": {"bit_generator": "MT19937", "state": {"key": [1, 2], "pos": 0}}}, "invalid"),
    (torch.get_rng_state(), "get_rng_state"),
])
def test_a_bad_state_is_a_clear_error_that_changes_nothing(bad, match):
    tg.manual_seed(4)
    state = get_rng_state()
    with pytest.raises(ValueError, match=match):
        set_rng_state(bad)
    assert get_rng_state() == state


def test_a_generators_state_is_plain_data_too_and_keeps_the_cached_normal(tmp_path):
    g = tg.Generator().manual_seed(5)
    tg.randn(1, dtype=tg.float64, generator=g)  # leaves the pair's sine cached for the next scalar draw
    tg.save({"g": g.get_state()}, tmp_path / "g.tg")
    expected = tg.randn(3, dtype=tg.float64, generator=g).numpy()
    other = tg.Generator().set_state(tg.load(tmp_path / "g.tg")["g"])
    assert other.initial_seed() == 5
    assert tg.randn(3, dtype=tg.float64, generator=other).numpy().tobytes() == expected.tobytes()


def test_manual_seed_returns_the_global_generator_that_set_rng_state_restores_in_place():
    g = tg.manual_seed(2)
    state = get_rng_state()
    a = tg.rand(3).numpy()
    set_rng_state(state)
    assert tg.rand(3, generator=g).numpy().tobytes() == a.tobytes()

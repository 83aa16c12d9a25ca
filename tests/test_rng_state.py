"""tg.set_rng_state on damaged states (a checkpoint's 'rng' entry): one documented ValueError saying what is wrong,
checked completely before the generator changes, never a TypeError, never a value rounded or parsed silently.
PyTorch's set_rng_state refuses a damaged state too (TypeError or RuntimeError) and leaves its generator as it was."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.train import History, fit


def _state():
    tg.manual_seed(5)
    tg.randn(3)  # a cached normal and a position inside the key
    return tg.get_rng_state()


def _set(state, path, value):
    """A deep copy of ``state`` with the entry at ``path`` (keys and indices) replaced, or removed for ...."""
    state = copy.deepcopy(state)
    where = state
    for step in path[:-1]:
        where = where[step]
    if value is ...:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return state


KEY = ("generator", "state", "key")
POS = ("generator", "state", "pos")
_BAD = {
    # (where, the bad value, what the message must name)
    "seed-a-string": (("seed",), "5", "seed"),
    "seed-a-float": (("seed",), 5.0, "seed"),
    "seed-a-bool": (("seed",), True, "seed"),
    "seed-negative": (("seed",), -1, "seed"),
    "seed-too-big": (("seed",), 1 << 64, "seed"),
    "key-word-a-string": (KEY + (0,), "7", "key"),  # np.asarray(..., int64) used to parse it
    "key-word-a-float": (KEY + (3,), 1.5, "key"),  # used to be truncated to 1
    "key-word-a-bool": (KEY + (3,), True, "key"),
    "key-word-none": (KEY + (3,), None, "key"),
    "key-word-negative": (KEY + (3,), -1, "-1"),
    "key-word-too-big": (KEY + (3,), 1 << 32, str(1 << 32)),
    "key-a-string": (KEY, "abc", "key"),
    "key-a-dict": (KEY, {"0": 1}, "key"),
    "key-too-short": (KEY, [1] * 623, "624"),
    "key-all-zeros": (KEY, [0] * 624, "zeros"),
    "key-float-array": (KEY, np.ones(624), "key"),
    "pos-a-string": (POS, "3", "pos"),  # used to be parsed
    "pos-a-float": (POS, 3.7, "pos"),  # used to be truncated
    "pos-a-bool": (POS, True, "pos"),
    "pos-past-the-end": (POS, 625, "pos"),
    "pos-missing": (POS, ..., "pos"),
    "state-a-string": (("generator", "state"), "abc", "invalid"),
    "state-a-list": (("generator", "state"), [1, 2], "invalid"),
    "generator-extra-key": (("generator", "extra"), 1, "invalid"),
    "generator-a-string": (("generator",), "MT19937", "MT19937"),
    "next-normal-a-string": (("next_double_normal",), "0.5", "next_double_normal"),
    "next-normal-nan": (("next_double_normal",), float("nan"), "next_double_normal"),
    "next-normal-inf": (("next_double_normal",), float("inf"), "next_double_normal"),
    "next-normal-a-bool": (("next_double_normal",), True, "next_double_normal"),
    "unknown-key": (("extra",), 1, "extra"),
    "format-wrong": (("format",), "something", "get_rng_state"),
}


@pytest.mark.parametrize("name", sorted(_BAD))
def test_a_damaged_state_is_a_value_error_naming_the_part_and_changes_nothing(name):
    where, value, named = _BAD[name]
    bad = _set(_state(), where, value)
    tg.manual_seed(9)
    before = tg.get_rng_state()
    with pytest.raises(ValueError, match="set_rng_state") as caught:
        tg.set_rng_state(bad)
    assert named in str(caught.value), str(caught.value)
    assert tg.get_rng_state() == before
    expected = tg.randn(5).numpy()
    tg.set_rng_state(before)
    assert tg.randn(5).numpy().tobytes() == expected.tobytes()


def test_legitimate_forms_are_accepted_and_restore_the_stream():
    state = _state()
    expected = tg.rand(6).numpy()
    for variant in (state,
                    _set(state, KEY, np.asarray(state["generator"]["state"]["key"], dtype=np.uint32)),
                    _set(state, KEY, tuple(state["generator"]["state"]["key"])),
                    _set(state, ("seed",), np.uint64(state["seed"])),
                    _set(state, ("next_double_normal",), ...),  # optional: a state without a cached normal
                    ):
        tg.set_rng_state(variant)
        drawn = tg.rand(6).numpy()
        if "next_double_normal" in variant:
            assert drawn.tobytes() == expected.tobytes()


def test_a_corrupt_rng_state_in_a_checkpoint_is_a_value_error_after_loading(tmp_path):
    """The issue's case: a checkpoint whose rng entry was damaged (a key word became a string)."""
    tg.save({"rng": _set(_state(), KEY + (10,), "x")}, tmp_path / "ckpt.tg")
    with pytest.raises(ValueError, match="key"):
        tg.set_rng_state(tg.load(tmp_path / "ckpt.tg")["rng"])


def test_fit_resuming_from_a_checkpoint_with_a_corrupt_rng_state_changes_nothing(tmp_path):
    tg.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = tg.randn(8, 3), tg.randn(8, 1)
    fit(model, nn.MSELoss(), optimizer, (x, y), epochs=1, progress=False)
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": None, "epoch": 1,
                  "history": History().state_dict(), "rng": _set(tg.get_rng_state(), POS, "3")}
    tg.save(checkpoint, tmp_path / "ckpt.tg")
    for p in model.parameters():
        p.data = p.data * 0 + 1  # differs from the checkpoint: a half-done resume would show
    weights = {k: v.copy() for k, v in model.state_dict().items()}
    rng = tg.get_rng_state()
    with pytest.raises(ValueError, match="pos"):
        fit(model, nn.MSELoss(), optimizer, (x, y), epochs=2, progress=False, resume_from=tmp_path / "ckpt.tg")
    assert all((model.state_dict()[k] == weights[k]).all() for k in weights)
    assert tg.get_rng_state() == rng


def test_fuzz_random_damage_to_every_part_of_a_state():
    """A seeded loop: one entry of a real state replaced by a random value; each result is accepted (the value is a
    legitimate one) or the ValueError, and a refused state leaves the generator exactly as it was."""
    rng = np.random.default_rng(13)
    state = _state()
    paths = [("seed",), ("format",), ("next_double_normal",), ("generator",), ("generator", "bit_generator"),
             ("generator", "state"), KEY, POS] + [KEY + (int(i),) for i in rng.integers(0, 624, 10)]
    junk = [None, "", "1", 1.5, -1, 0, 1 << 32, 1 << 70, True, [], {}, [0] * 624, float("nan"), b"\x00", (1,),
            np.float64(2.0), np.int64(5), np.array([1, 2]), object()]
    refused = 0
    for _ in range(300):
        path = paths[int(rng.integers(0, len(paths)))]
        value = junk[int(rng.integers(0, len(junk)))]
        bad = _set(state, path, value)
        tg.manual_seed(1)
        before = tg.get_rng_state()
        try:
            tg.set_rng_state(bad)
        except ValueError:
            refused += 1
            assert tg.get_rng_state() == before
    assert refused > 200


def test_pytorch_also_refuses_a_damaged_state_and_keeps_its_generator():
    """The reference behaviour: torch.set_rng_state of a wrong-size or wrong-type state raises and changes nothing.
    tg raises its documented ValueError where PyTorch raises RuntimeError or TypeError (its state is a byte tensor)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    state = torch.get_rng_state()
    for bad in (state[:-1], state.float(), "abc"):
        with pytest.raises((RuntimeError, TypeError)):
            torch.set_rng_state(bad)
        assert torch.equal(torch.get_rng_state(), state)
    tg_state = _state()
    for bad in (_set(tg_state, KEY, [1] * 623), _set(tg_state, KEY + (0,), 0.5), "abc"):
        with pytest.raises(ValueError):
            tg.set_rng_state(bad)
        assert tg.get_rng_state() == tg_state

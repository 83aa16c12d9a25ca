"""tg.save / tg.load: round trips, exact paths, refusals that change nothing, corrupt files, atomic writes."""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _assert_same(loaded, original):
    """Deep equality that also checks container types, dtypes, shapes and float bit patterns."""
    if isinstance(original, tg.Tensor):
        original = original.numpy()
    if isinstance(original, np.ndarray):
        assert type(loaded) is np.ndarray
        assert loaded.dtype == original.dtype and loaded.shape == original.shape
        assert loaded.tobytes() == np.ascontiguousarray(original).tobytes()
        return
    assert type(loaded) is type(original), (loaded, original)
    if isinstance(original, dict):
        assert list(loaded.keys()) == list(original.keys())
        assert [type(k) for k in loaded] == [type(k) for k in original]
        for key in original:
            _assert_same(loaded[key], original[key])
    elif isinstance(original, (list, tuple)):
        assert len(loaded) == len(original)
        for a, b in zip(loaded, original, strict=True):
            _assert_same(a, b)
    elif isinstance(original, float):
        assert _bits(loaded) == _bits(original)
    else:
        assert loaded == original


def _roundtrip(obj, tmp_path, name="obj.ckpt"):
    path = tmp_path / name
    tg.save(obj, path)
    return tg.load(path)


# -- round trips ---------------------------------------------------------------------------------


def test_roundtrip_nested_structure(tmp_path):
    obj = {
        "name": "model",
        "step": 7,
        "big": 2**70,
        "negative": -3,
        "lr": 0.1,
        "flag": True,
        "off": False,
        "nothing": None,
        "empty_str": "",
        "unicode": "ŝtep → ∞",
        1: "integer key",
        "1": "string key that looks like an integer",
        -2: [1, 2.5, "three", None],
        "tuple": (1, (2, 3), [4, (5,)]),
        "empty": {"list": [], "tuple": (), "dict": {}},
        "nested": {0: {"momentum_buffer": np.arange(3.0)}, 1: {"x": {"y": {"z": [np.zeros(2)]}}}},
    }
    loaded = _roundtrip(obj, tmp_path)
    _assert_same(loaded, obj)
    assert type(loaded["tuple"]) is tuple and type(loaded["tuple"][1]) is tuple
    assert type(loaded["tuple"][2][1]) is tuple
    assert 1 in loaded and "1" in loaded and loaded[1] != loaded["1"]
    assert loaded["flag"] is True and loaded["off"] is False
    assert type(loaded["step"]) is int and type(loaded["lr"]) is float


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    np.random.default_rng(0).standard_normal((2, 3, 4)),
    np.arange(-5, 5, dtype=np.int64),
    np.array([True, False, True]),
    np.array(3.5, dtype=np.float32),
    np.array(2.0),
    np.array(7, dtype=np.int64),
    np.array(False),
    np.zeros((0,), dtype=np.float32),
    np.zeros((0, 3)),
    np.zeros((2, 0, 4), dtype=np.int64),
    np.arange(6, dtype=np.int32).reshape(2, 3),
    np.arange(4, dtype=np.uint8),
    np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 5e-324]),
    np.array([np.nan, np.inf, -0.0], dtype=np.float32),
], ids=lambda a: f"{a.dtype}-{a.shape}")
def test_roundtrip_arrays(array, tmp_path):
    loaded = _roundtrip({"a": array, "list": [array, array]}, tmp_path)
    _assert_same(loaded, {"a": array, "list": [array, array]})


def test_roundtrip_non_contiguous_arrays(tmp_path):
    base = np.arange(24.0).reshape(4, 6)
    obj = [base.T, base[::2, 1::2], np.asfortranarray(base)]
    loaded = _roundtrip(obj, tmp_path)
    for a, b in zip(loaded, obj, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.shape == b.shape and a.dtype == b.dtype


def test_loaded_arrays_are_writable_and_independent(tmp_path):
    original = np.arange(4.0)
    loaded = _roundtrip({"a": original}, tmp_path)["a"]
    loaded[0] = 100.0
    assert original[0] == 0.0


def test_tensors_come_back_as_arrays(tmp_path):
    t32 = tg.tensor([[1.5, -2.0], [0.25, 3.0]])
    t64 = tg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    ti = tg.tensor([1, 2, 3])
    p = nn.Parameter(tg.tensor([0.5, 0.75], dtype=np.float64))
    loaded = _roundtrip({"t32": t32, "t64": t64, "ti": ti, "p": p, "scalar": tg.tensor(2.5)}, tmp_path)
    for key, t in (("t32", t32), ("t64", t64), ("ti", ti), ("p", p)):
        assert type(loaded[key]) is np.ndarray
        assert loaded[key].dtype == t.dtype
        np.testing.assert_array_equal(loaded[key], t.numpy())
    assert loaded["scalar"].shape == () and loaded["scalar"] == np.float32(2.5)


@pytest.mark.parametrize("value", [
    0.1, 1 / 3, -0.0, 0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308, -2.5e-300,
    float("inf") - float("inf"),  # the NaN with the sign bit set that x86 makes for inf - inf
    struct.unpack("<d", bytes.fromhex("0100000000f0ff7f"))[0],  # a NaN with a payload
])
def test_floats_bit_exact(value, tmp_path):
    loaded = _roundtrip({"x": value, "in_list": [value], "in_tuple": (value,)}, tmp_path)
    for got in (loaded["x"], loaded["in_list"][0], loaded["in_tuple"][0]):
        assert type(got) is float
        assert _bits(got) == _bits(value)


def test_numpy_scalars_are_saved_as_numbers(tmp_path):
    loaded = _roundtrip({"f": np.float64(0.5), "f32": np.float32(0.25), "i": np.int64(4), "b": np.bool_(True)},
                        tmp_path)
    assert loaded == {"f": 0.5, "f32": 0.25, "i": 4, "b": True}
    assert type(loaded["b"]) is bool and type(loaded["i"]) is int


def test_same_object_twice_is_fine(tmp_path):
    shared = [1, 2]
    array = np.ones(3)
    loaded = _roundtrip({"a": shared, "b": shared, "c": array, "d": array}, tmp_path)
    assert loaded["a"] == loaded["b"] == [1, 2]
    np.testing.assert_array_equal(loaded["c"], loaded["d"])


def test_model_state_dict_roundtrip_restores_model_exactly(tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2, dtype=np.float64))
    tg.save(model.state_dict(), tmp_path / "model.ckpt")
    tg.manual_seed(1)
    other = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2, dtype=np.float64))
    assert not np.array_equal(other[0].weight.numpy(), model[0].weight.numpy())
    loaded = tg.load(tmp_path / "model.ckpt")
    assert list(loaded) == list(model.state_dict())
    other.load_state_dict(loaded)
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        assert a.dtype == b.dtype
        assert a.numpy().tobytes() == b.numpy().tobytes(), name
    x = tg.randn(5, 3)
    np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())


def test_optimizer_state_dict_roundtrip(tmp_path):
    w = tg.tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    b = tg.tensor([0.5], dtype=np.float64, requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(3):
        opt.zero_grad()
        ((w ** 2).sum() + (b ** 2).sum()).backward()
        opt.step()
    sd = opt.state_dict()
    loaded = _roundtrip({"optimizer": sd, "epoch": 3}, tmp_path)
    _assert_same(loaded["optimizer"], sd)
    assert set(loaded["optimizer"]["state"]) == {0, 1}  # integer keys stay integers


def test_written_to_exactly_the_given_path(tmp_path):
    for name in ("model.ckpt", "weights", "state.tar", "x.npz.bak"):
        directory = tmp_path / name.replace(".", "_")
        directory.mkdir()
        tg.save({"a": np.ones(2)}, directory / name)
        assert os.listdir(directory) == [name]
    tg.save([1], str(tmp_path / "as_string.pt"))
    assert (tmp_path / "as_string.pt").is_file()
    assert tg.load(str(tmp_path / "as_string.pt")) == [1]


def test_save_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "model.ckpt"
    tg.save({"v": 1}, path)
    tg.save({"v": 2}, path)
    assert tg.load(path) == {"v": 2}
    assert os.listdir(tmp_path) == ["model.ckpt"]


def test_open_format_readable_by_numpy_and_zip(tmp_path):
    path = tmp_path / "model.ckpt"
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1, 2, 3], dtype=np.int64)
    tg.save({"a": a, "nested": [b]}, path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read([n for n in names if n.endswith(".json")][0]))
    assert isinstance(manifest, dict)
    with np.load(path, allow_pickle=False) as npz:
        arrays = [npz[name[:-4]] for name in names if name.endswith(".npy")]
    assert len(arrays) == 2
    found = sorted(arrays, key=lambda x: x.dtype.str)
    np.testing.assert_array_equal(found[0], a)
    np.testing.assert_array_equal(found[1], b)
    assert {x.dtype for x in arrays} == {np.dtype(np.float32), np.dtype(np.int64)}


def test_file_needs_no_pickle(tmp_path):
    path = tmp_path / "m.ckpt"
    tg.save({"a": np.ones(3), "b": "text", "c": [1, (2, 3)]}, path)
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            assert b"\x80\x04\x95" not in data and b"\x80\x05\x95" not in data  # no pickle protocol 4/5 frames


# -- refusals -------------------------------------------------------------------------------------


def _self_containing_list():
    a = [1]
    a.append(a)
    return a


def _self_containing_dict():
    d = {"x": 1}
    d["self"] = {"inner": d}
    return d


@pytest.mark.parametrize("bad", [
    {1, 2},
    lambda x: x,
    np.array([1, "a"], dtype=object),
    np.array(["a", "b"]),
    np.array([1 + 2j]),
    object(),
    b"bytes",
    _self_containing_list(),
    _self_containing_dict(),
    {"ok": 1, "bad": [1, 2, {3}]},
    {(1, 2): "tuple key"},
    {1.5: "float key"},
    {True: "bool key"},
], ids=["set", "function", "object-array", "str-array", "complex-array", "object", "bytes", "self-list",
        "self-dict", "deep-set", "tuple-key", "float-key", "bool-key"])
def test_unsupported_object_is_type_error_and_leaves_file_untouched(bad, tmp_path):
    path = tmp_path / "model.ckpt"
    tg.save({"weights": np.arange(5.0), "step": 1}, path)
    before = path.read_bytes()
    mtime = os.stat(path).st_mtime_ns
    with pytest.raises(TypeError):
        tg.save(bad, path)
    assert path.read_bytes() == before
    assert os.stat(path).st_mtime_ns == mtime
    assert os.listdir(tmp_path) == ["model.ckpt"]
    _assert_same(tg.load(path), {"weights": np.arange(5.0), "step": 1})


def test_unsupported_object_with_no_existing_file_creates_nothing(tmp_path):
    with pytest.raises(TypeError):
        tg.save({"a": np.ones(2), "b": {1, 2}}, tmp_path / "new.ckpt")
    assert os.listdir(tmp_path) == []


def test_type_error_names_the_offending_entry(tmp_path):
    with pytest.raises(TypeError, match="set"):
        tg.save({"a": {"b": {3}}}, tmp_path / "x")


# -- corrupt and foreign files -----------------------------------------------------------------------


def _good_file(tmp_path):
    path = tmp_path / "good.ckpt"
    tg.save({"w": np.random.default_rng(0).standard_normal((20, 20)), "b": np.ones(20, dtype=np.float32),
             "meta": {"epoch": 3, "name": "x"}}, path)
    return path


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.25, 0.75, 0.9, 0.99])
def test_truncated_file_is_a_clear_value_error(tmp_path, fraction):
    data = _good_file(tmp_path).read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match="cut.ckpt"):
        tg.load(cut)


def test_truncated_by_one_byte_or_emptied(tmp_path):
    data = _good_file(tmp_path).read_bytes()
    for length in (len(data) - 1, 0, 1, 10):
        cut = tmp_path / "cut.ckpt"
        cut.write_bytes(data[:length])
        with pytest.raises(ValueError):
            tg.load(cut)


def test_random_bytes_are_a_value_error(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="random.bin"):
        tg.load(path)


def test_plain_npz_is_a_value_error(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.ones(3), b=np.zeros(2))
    with pytest.raises(ValueError, match="tg.save"):
        tg.load(path)


def test_text_file_is_a_value_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("weight = [1, 2, 3]\n" * 20)
    with pytest.raises(ValueError):
        tg.load(path)


def test_json_in_a_zip_with_the_wrong_format_is_a_value_error(tmp_path):
    path = tmp_path / "fake.ckpt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "something-else", "version": 1, "object": {}}))
    with pytest.raises(ValueError):
        tg.load(path)


def test_corrupted_array_member_is_a_value_error(tmp_path):
    good = _good_file(tmp_path)
    bad = tmp_path / "bad.ckpt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".npy"):
                data = data[:20]  # a broken .npy header
            dst.writestr(info.filename, data)
    with pytest.raises(ValueError):
        tg.load(bad)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "nope.ckpt")


# -- atomic writes ------------------------------------------------------------------------------


class SimulatedCrashError(Exception):
    pass


def _crash(*args, **kwargs):
    raise SimulatedCrashError("simulated crash mid-write")


@pytest.mark.parametrize("target", ["write_array", "writestr", "fsync", "replace"])
def test_crash_mid_write_keeps_old_file_and_leaves_no_temp(target, tmp_path, monkeypatch):
    path = tmp_path / "model.ckpt"
    tg.save({"w": np.arange(4.0), "epoch": 1}, path)
    before = path.read_bytes()
    if target == "write_array":
        monkeypatch.setattr(np.lib.format, "write_array", _crash)
    elif target == "writestr":
        real = zipfile.ZipFile.writestr
        calls = []

        def writestr_then_crash(self, *args, **kwargs):
            calls.append(1)
            if len(calls) >= 2:  # after something has been written
                raise SimulatedCrashError("simulated crash mid-write")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr_then_crash)
    elif target == "fsync":
        monkeypatch.setattr(os, "fsync", _crash)
    else:
        monkeypatch.setattr(os, "replace", _crash)
    with pytest.raises(SimulatedCrashError):
        tg.save({"w": np.arange(100.0), "b": np.ones(3), "epoch": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.ckpt"]
    _assert_same(tg.load(path), {"w": np.arange(4.0), "epoch": 1})


def test_keyboard_interrupt_mid_write_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "model.ckpt"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", interrupt)
    with pytest.raises(KeyboardInterrupt):
        tg.save({"w": np.ones(3)}, path)
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        tg.save({"a": 1}, tmp_path / "no" / "such" / "dir.ckpt")
    assert os.listdir(tmp_path) == []


def test_saving_a_model_or_optimizer_itself_says_to_save_its_state_dict(tmp_path):
    model = tg.nn.Linear(2, 1)
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)
    for obj, name in ((model, "linear"), (optimizer, "sgd"), ({"net": model}, "linear")):
        with pytest.raises(TypeError, match=rf"tg\.save\({name}\.state_dict\(\), path\)"):
            tg.save(obj, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()

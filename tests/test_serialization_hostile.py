"""tg.load on hostile files: crafted, truncated, bit-flipped. Every failure is the documented ValueError naming the
file, memory stays bounded by the file's size (measured with tracemalloc, and with getrusage in a subprocess), and a
damaged file never loads as a wrong value."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.serialization import MAX_DEPTH

# Parsing a manifest makes Python objects of at most about 25 bytes per byte of JSON ("[[],[],..." is the
# worst found: 21 bytes per byte, "[{},{},..." 24); arrays take exactly their bytes. The bound asserted:
JSON_EXPANSION = 32
SLACK = 1 << 20


def _manifest(obj_node) -> bytes:
    return json.dumps({"format": "tinygrad_edu.save", "version": 1, "object": obj_node}).encode()


def _npy(shape, descr="<f8", fortran_order=False, data: bytes | None = None, header: str | None = None) -> bytes:
    """A .npy member written by hand, so its header can claim anything."""
    if header is None:
        header = f"{{'descr': {descr!r}, 'fortran_order': {fortran_order}, 'shape': {tuple(shape)!r}, }}"
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    if data is None:
        data = bytes(int(np.prod(shape)) * np.dtype(descr).itemsize)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which some cases want
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def _raw_zip(local: list[tuple[str, bytes]], directory: list[tuple[str, int]]) -> bytes:
    """A zip written byte by byte: ``local`` members in order, then a central directory whose entries
    (name, index of the local member they point at) may lie about where their data is."""
    out, offsets, records = b"", [], []
    for name, data in local:
        offsets.append(len(out))
        crc = zlib.crc32(data)
        out += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, crc, len(data), len(data),
                           len(name), 0) + name.encode() + data
        records.append((crc, len(data)))
    start = len(out)
    for name, index in directory:
        crc, size = records[index]
        out += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, crc, size, size,
                           len(name), 0, 0, 0, 0, 0, offsets[index]) + name.encode()
    return out + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(directory), len(directory),
                             len(out) - start, start, 0)


def _load_measured(path):
    """(the loaded object or the ValueError, tracemalloc's peak in bytes); any other exception fails the test."""
    tracemalloc.start()
    try:
        try:
            result = tg.load(path)
        except ValueError as err:
            result = err
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def _assert_refused(path, match=None):
    result, peak = _load_measured(path)
    assert isinstance(result, ValueError), f"loaded {result!r} instead of refusing"
    assert os.path.basename(os.fspath(path)) in str(result)
    if match is not None:
        assert match in str(result), str(result)
    size = os.path.getsize(path)
    assert peak <= JSON_EXPANSION * size + SLACK, f"peak {peak} bytes for a {size}-byte file"
    return result


def _array_node(index=0):
    return {"type": "array", "index": index}


# -- legitimate files: arrays are read straight into their own memory -----------------------------------------


def test_loading_a_legitimate_file_takes_its_size_in_memory_plus_a_read_buffer(tmp_path):
    path = tmp_path / "big.tg"
    tg.save({"w": np.random.default_rng(0).random(1_000_000), "b": np.ones((300, 300), dtype=np.float32)}, path)
    loaded, peak = _load_measured(path)
    assert loaded["w"].shape == (1_000_000,)
    assert peak <= os.path.getsize(path) + (3 << 20), (peak, os.path.getsize(path))


def test_saving_holds_one_array_at_a_time_not_the_whole_archive(tmp_path):
    obj = {f"w{i}": np.random.default_rng(i).random(250_000) for i in range(8)}  # 8 arrays of 2 MB
    tracemalloc.start()
    try:
        tg.save(obj, tmp_path / "big.tg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 2 * 2_000_000 + SLACK, peak  # the largest array's .npy bytes (written, then handed to zip)
    assert all((tg.load(tmp_path / "big.tg")[k] == obj[k]).all() for k in obj)


# -- the case: a small file that claims a huge array ------------------------------------------------


def test_a_deflated_member_claiming_two_gib_is_refused_without_allocating(tmp_path):
    # A header claiming 2 GiB of float64, then 2 MB of zeros (the loader of before, through np.lib.format.read_array,
    # allocated the claimed array before finding the data short: tg.load checks the claim against the member first).
    data = _npy((1 << 28,), data=bytes(2 << 20))
    path = _zip(tmp_path / "bomb.tg", [("manifest.json", _manifest(_array_node())), ("arrays/0.npy", data)],
                compression=zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 1 << 20
    _assert_refused(path, match="compressed")


def test_the_same_file_in_a_fresh_process_stays_within_a_few_mib_of_resident_memory(tmp_path):
    """Resident memory (getrusage's maxrss), which also sees allocations tracemalloc cannot."""
    path = _zip(tmp_path / "bomb.tg", [("manifest.json", _manifest(_array_node())),
                                       ("arrays/0.npy", _npy((1 << 28,), data=bytes(2 << 20)))],
                compression=zipfile.ZIP_DEFLATED)
    stored = _zip(tmp_path / "claims.tg", [("manifest.json", _manifest(_array_node())),
                                           ("arrays/0.npy", _npy((1 << 28,), data=bytes(800)))])
    script = textwrap.dedent(f"""
        import resource, tinygrad_edu as tg
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for path in ({os.fspath(path)!r}, {os.fspath(stored)!r}):
            try:
                tg.load(path)
                print("LOADED")
            except ValueError:
                pass
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "LOADED" not in out.stdout
    grown = int(out.stdout.split()[-1])
    assert grown < 3 * os.path.getsize(path) + (16 << 20), f"resident memory grew by {grown} bytes"


def test_a_stored_member_whose_header_claims_more_than_it_holds(tmp_path):
    path = _zip(tmp_path / "claims.tg", [("manifest.json", _manifest(_array_node())),
                                         ("arrays/0.npy", _npy((1 << 40,), data=bytes(64)))])
    _assert_refused(path, match="holds 64 bytes")


def test_a_header_claiming_less_than_the_member_holds_is_refused_too(tmp_path):
    path = _zip(tmp_path / "short.tg", [("manifest.json", _manifest(_array_node())),
                                        ("arrays/0.npy", _npy((2,), data=bytes(8 * 3)))])
    _assert_refused(path)


def test_a_deflated_manifest_zip_bomb(tmp_path):
    path = _zip(tmp_path / "zipbomb.tg", [("manifest.json", b" " * (16 << 20) + _manifest({"type": "none"}))],
                compression=zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 1 << 20
    _assert_refused(path, match="compressed")


def test_overlapping_members_cannot_multiply_one_stored_array(tmp_path):
    """The stored-member zip bomb: many directory entries pointing at the same bytes."""
    data = _npy((1 << 16,))  # 512 KiB
    n = 64
    manifest = _manifest({"type": "list", "items": [_array_node(i) for i in range(n)]})
    raw = _raw_zip([("manifest.json", manifest), ("arrays/0.npy", data)],
                   [("manifest.json", 0)] + [(f"arrays/{i}.npy", 1) for i in range(n)])
    path = tmp_path / "overlap.tg"
    path.write_bytes(raw)
    _assert_refused(path, match="overlaps")


def test_one_array_referred_to_many_times_is_refused(tmp_path):
    manifest = _manifest({"type": "list", "items": [_array_node(0)] * 1000})
    path = _zip(tmp_path / "twice.tg", [("manifest.json", manifest), ("arrays/0.npy", _npy((1 << 16,)))])
    _assert_refused(path, match="twice")


def test_an_array_the_manifest_never_refers_to_is_refused(tmp_path):
    path = _zip(tmp_path / "extra.tg", [("manifest.json", _manifest({"type": "none"})), ("arrays/0.npy", _npy((3,)))])
    _assert_refused(path, match="never refers")


# -- deep nesting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_deeply_nested_json_is_a_value_error_not_a_recursion_error(tmp_path, text):
    path = _zip(tmp_path / "deep.tg", [("manifest.json", text.encode())])
    _assert_refused(path)


def test_a_deep_manifest_of_valid_nodes_is_refused_past_max_depth(tmp_path):
    node = {"type": "none"}
    for _ in range(MAX_DEPTH + 1):
        node = {"type": "list", "items": [node]}
    path = _zip(tmp_path / "deep.tg", [("manifest.json", _manifest(node))])
    _assert_refused(path, match="levels deep")


def test_max_depth_round_trips_and_one_more_is_refused_by_save_too(tmp_path):
    obj = 1.5
    for _ in range(MAX_DEPTH):
        obj = [obj]
    tg.save(obj, tmp_path / "ok.tg")
    loaded = tg.load(tmp_path / "ok.tg")
    for _ in range(MAX_DEPTH):
        loaded = loaded[0]
    assert loaded == 1.5
    with pytest.raises(ValueError, match="levels deep"):
        tg.save([obj], tmp_path / "ok.tg")
    assert tg.load(tmp_path / "ok.tg") is not None  # the refused save left the file as it was


# -- manifest nodes of the wrong type -----------------------------------------------------------------------


_BAD_NODES = {
    "list-as-object": [],
    "type-not-a-string": {"type": 5},
    "unknown-type": {"type": "pickle", "value": "cos\nsystem\n"},
    "int-as-string": {"type": "int", "value": "3"},
    "int-as-bool": {"type": "int", "value": True},
    "int-as-float": {"type": "int", "value": 3.0},
    "bool-as-int": {"type": "bool", "value": 1},
    "str-as-list": {"type": "str", "value": ["a"]},
    "float-as-number": {"type": "float", "value": 1.5},
    "float-not-hex": {"type": "float", "value": "zz"},
    "float-bits-not-nan": {"type": "float", "value": "nan", "bits": "000000000000f03f"},
    "float-bits-short": {"type": "float", "value": "nan", "bits": "00"},
    "missing-value": {"type": "int"},
    "extra-key": {"type": "none", "value": 1},
    "array-index-string": {"type": "array", "index": "0"},
    "array-index-missing-member": {"type": "array", "index": 5},
    "array-index-negative": {"type": "array", "index": -1},
    "items-a-dict": {"type": "list", "items": {"a": 1}},
    "items-a-string": {"type": "tuple", "items": "abc"},
    "dict-pair-of-three": {"type": "dict", "items": [[{"type": "str", "value": "a"}, {"type": "none"}, 1]]},
    "dict-key-a-float": {"type": "dict", "items": [[{"type": "float", "value": "0x1p+0"}, {"type": "none"}]]},
    "dict-key-a-list": {"type": "dict", "items": [[{"type": "list", "items": []}, {"type": "none"}]]},
    "dict-same-key-twice": {"type": "dict", "items": [[{"type": "str", "value": "a"}, {"type": "int", "value": 1}],
                                                     [{"type": "str", "value": "a"}, {"type": "int", "value": 2}]]},
    "node-a-number": {"type": "list", "items": [3]},
    "node-null": {"type": "list", "items": [None]},
}


@pytest.mark.parametrize("name", sorted(_BAD_NODES))
def test_a_manifest_node_of_the_wrong_type_is_a_value_error(tmp_path, name):
    path = _zip(tmp_path / f"{name}.tg", [("manifest.json", _manifest(_BAD_NODES[name]))])
    _assert_refused(path)


@pytest.mark.parametrize("manifest", [
    b'[1, 2, 3]',
    b'"tinygrad_edu.save"',
    b'{"format": "tinygrad_edu.save", "version": "1", "object": {"type": "none"}}',
    b'{"format": "tinygrad_edu.save", "version": 1, "object": {"type": "none"}, "extra": 1}',
    b'{"format": "tinygrad_edu.save", "version": 1}',
    b'{"format": "tinygrad_edu.save", "version": 1, "object": {"type": "int", "value": 1, "value": 2}}',
    b'{"format": "tinygrad_edu.save", "version": 1, "object": {"type": "int", "value": 1' + b"9" * 5000 + b"}}",
    b'{"format": "tinygrad_edu.save", "version": 1, "object": {"type": "float", "value": NaN}}',
    b"\xff\xfe\x00garbage",
    b"",
], ids=["list", "string", "version-string", "extra-key", "no-object", "json-duplicate-key", "int-5000-digits",
        "json-nan", "not-utf8", "empty"])
def test_a_malformed_manifest_is_a_value_error(tmp_path, manifest):
    path = _zip(tmp_path / "manifest.tg", [("manifest.json", manifest)])
    _assert_refused(path)


# -- arrays: dtypes, shapes, order --------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
    "{'descr': 'O', 'fortran_order': False, 'shape': (2,), }",
    "{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }",
    "{'descr': [('a', '<f8'), ('b', '<i8')], 'fortran_order': False, 'shape': (1,), }",
    "{'descr': '|V16', 'fortran_order': False, 'shape': (1,), }",
    "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
    "{'descr': '<M8[s]', 'fortran_order': False, 'shape': (2,), }",
    "{'descr': ('<f8', (2,)), 'fortran_order': False, 'shape': (1,), }",
    "{'descr': 'not a dtype', 'fortran_order': False, 'shape': (2,), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, -2), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2**64, 0), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 2**62, 2**62), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2**63 + 2, ), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': 2, }",
    "{'descr': '<f8', 'fortran_order': 1, 'shape': (2,), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
    "{'descr': '<f8', 'shape': (2,), }",
    "__import__('os').system('echo pwned')",
    "(" * 5000 + ")" * 5000,
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }" + " " * 20000,
], ids=lambda h: h[:40])
def test_a_bad_array_header_is_a_value_error(tmp_path, header):
    data = _npy((2,), header=header, data=bytes(16))
    path = _zip(tmp_path / "header.tg", [("manifest.json", _manifest(_array_node())), ("arrays/0.npy", data)])
    _assert_refused(path)


def test_booleans_other_than_0_and_1_are_refused(tmp_path):
    path = _zip(tmp_path / "bool.tg", [("manifest.json", _manifest(_array_node())),
                                       ("arrays/0.npy", _npy((3,), descr="|b1", data=b"\x00\x01\x02"))])
    _assert_refused(path, match="booleans")


@pytest.mark.parametrize("descr", ["<f8", ">f8", "<f4", "<i8", ">i4", "|u1", "|b1", "<f2", "<u8"])
@pytest.mark.parametrize("fortran_order", [False, True])
def test_a_hand_written_valid_member_loads_as_numpy_reads_it(tmp_path, descr, fortran_order):
    """The reference: np.load of the same .npy bytes (Fortran order and either byte order are legitimate)."""
    shape = (3, 4)
    values = (np.arange(12) % 2 if descr == "|b1" else np.arange(12)).astype(descr)
    data = _npy(shape, descr=descr, fortran_order=fortran_order, data=values.tobytes())
    path = _zip(tmp_path / "ok.tg", [("manifest.json", _manifest(_array_node())), ("arrays/0.npy", data)])
    (tmp_path / "ok.npy").write_bytes(data)
    expected = np.load(tmp_path / "ok.npy", allow_pickle=False)
    loaded = tg.load(path)
    assert loaded.dtype == expected.dtype and loaded.shape == expected.shape
    assert loaded.flags.f_contiguous == expected.flags.f_contiguous
    np.testing.assert_array_equal(loaded, expected)


def test_fortran_order_arrays_saved_by_tg_save_round_trip(tmp_path):
    array = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    tg.save([array], tmp_path / "f.tg")
    with zipfile.ZipFile(tmp_path / "f.tg") as archive:
        assert b"'fortran_order': True" in archive.read("arrays/0.npy")[:128]
    np.testing.assert_array_equal(tg.load(tmp_path / "f.tg")[0], array)


# -- the zip's directory ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/arrays/1.npy", "arrays/../arrays/1.npy", "arrays/01.npy",
                                  "arrays/1.npy/", "arrays\\1.npy", "arrays/1.npz", "readme.txt", "arrays/-1.npy"])
def test_a_member_save_never_writes_is_refused(tmp_path, name):
    path = _zip(tmp_path / "names.tg", [("manifest.json", _manifest(_array_node())), ("arrays/0.npy", _npy((1,))),
                                        (name, _npy((1,)))])
    _assert_refused(path)


def test_duplicate_member_names_are_refused(tmp_path):
    manifest = _manifest(_array_node())
    path = _zip(tmp_path / "dup.tg", [("manifest.json", manifest), ("arrays/0.npy", _npy((1,))),
                                      ("arrays/0.npy", _npy((1 << 10,)))])
    _assert_refused(path, match="more than once")
    path = _zip(tmp_path / "dup2.tg", [("manifest.json", manifest), ("manifest.json", _manifest({"type": "none"}))])
    _assert_refused(path, match="more than once")


def test_a_directory_of_many_tiny_members_stays_within_the_bound(tmp_path):
    n = 5_000  # zipfile makes one ZipInfo per entry (about 6 bytes of memory per byte of directory)
    raw = _raw_zip([("manifest.json", _manifest({"type": "none"}))] + [(f"a{i}", b"") for i in range(n)],
                   [("manifest.json", 0)] + [(f"a{i}", i + 1) for i in range(n)])
    (tmp_path / "many.tg").write_bytes(raw)
    _assert_refused(tmp_path / "many.tg", match="never writes")


def test_arrays_must_be_numbered_from_zero(tmp_path):
    path = _zip(tmp_path / "gap.tg", [("manifest.json", _manifest(_array_node(1))), ("arrays/1.npy", _npy((1,)))])
    _assert_refused(path, match="numbered")


def test_an_encrypted_member_is_refused(tmp_path):
    good = tmp_path / "good.tg"
    tg.save({"a": np.ones(2)}, good)
    raw = bytearray(good.read_bytes())
    # Set the "encrypted" flag bit in every central directory entry.
    at = raw.find(b"PK\x01\x02")
    while at != -1:
        raw[at + 8] |= 1
        at = raw.find(b"PK\x01\x02", at + 4)
    (tmp_path / "enc.tg").write_bytes(bytes(raw))
    _assert_refused(tmp_path / "enc.tg", match="encrypted")


def test_a_member_claiming_bytes_past_the_end_of_the_file(tmp_path):
    manifest = _manifest({"type": "none"})
    raw = _raw_zip([("manifest.json", manifest)], [("manifest.json", 0)])
    # Make the directory claim a 4 GiB manifest (both sizes), CRC unchanged.
    at = raw.find(b"PK\x01\x02")
    raw = raw[:at + 20] + struct.pack("<2L", 0xFFFFFFF0, 0xFFFFFFF0) + raw[at + 28:]
    (tmp_path / "past.tg").write_bytes(raw)
    _assert_refused(tmp_path / "past.tg")


def test_directories_and_special_files(tmp_path):
    with pytest.raises(IsADirectoryError):  # as open() and torch.load
        tg.load(tmp_path)
    if os.path.exists("/dev/null"):
        with pytest.raises(ValueError, match="regular file"):
            tg.load("/dev/null")


# -- fuzzing: truncated, bit-flipped, overwritten, spliced ------------------------------------------------------


def _good_object():
    rng = np.random.default_rng(0)
    return {"w": rng.standard_normal((6, 5)).astype(np.float32), "f": np.asfortranarray(rng.standard_normal((3, 4))),
            "mask": np.array([True, False, True]), "steps": np.arange(7), "epoch": 3, "lr": 0.1,
            "nan": float("nan"), "name": "model", 7: [None, (1, 2.5)], "nested": {"empty": [], "t": ()}}


def _same(loaded, original):
    if isinstance(original, np.ndarray):
        return type(loaded) is np.ndarray and loaded.dtype == original.dtype and loaded.shape == original.shape \
            and loaded.tobytes() == np.ascontiguousarray(original).tobytes()
    if type(loaded) is not type(original):
        return False
    if isinstance(original, dict):
        return list(loaded) == list(original) and all(_same(loaded[k], original[k]) for k in original)
    if isinstance(original, (list, tuple)):
        return len(loaded) == len(original) and all(map(_same, loaded, original))
    if isinstance(original, float):
        return struct.pack("<d", loaded) == struct.pack("<d", original)
    return loaded == original


def test_fuzz_truncated_bit_flipped_and_overwritten_files(tmp_path):
    """A seeded loop of 400 damaged copies: each either loads to exactly the original or is a ValueError,
    with tracemalloc's peak bounded by the file's size."""
    original = _good_object()
    tg.save(original, tmp_path / "good.tg")
    good = (tmp_path / "good.tg").read_bytes()
    rng = np.random.default_rng(13)
    outcomes = {"refused": 0, "loaded": 0}
    path = tmp_path / "fuzz.tg"
    for trial in range(400):
        data = bytearray(good)
        kind = trial % 5
        if kind == 0:
            data = data[:rng.integers(0, len(data))]
        elif kind == 1:
            for _ in range(rng.integers(1, 4)):
                at = rng.integers(0, len(data))
                data[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 2:
            at = rng.integers(0, len(data))
            data[at:at + 8] = rng.bytes(8)
        elif kind == 3:  # the last 200 bytes: the central directory and its end record
            at = len(data) - int(rng.integers(1, 200))
            data[at] = int(rng.integers(0, 256))
        else:
            at, length = rng.integers(0, len(data)), rng.integers(1, 64)
            del data[at:at + length]
        path.write_bytes(bytes(data))
        result, peak = _load_measured(path)
        assert peak <= JSON_EXPANSION * len(good) + SLACK, (trial, peak)
        if isinstance(result, ValueError):
            assert "fuzz.tg" in str(result)
            outcomes["refused"] += 1
        else:
            assert _same(result, original), f"trial {trial}: a damaged file loaded as a different value"
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 300, outcomes  # most damage is caught (the rest hit bytes nothing reads)


def test_fuzz_crafted_manifests_from_random_node_mutations(tmp_path):
    """Take the manifest tg.save wrote, change one node at random (type, value, key), keep the zip valid."""
    original = _good_object()
    tg.save(original, tmp_path / "good.tg")
    with zipfile.ZipFile(tmp_path / "good.tg") as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    manifest = json.loads(members[0][1])
    rng = np.random.default_rng(7)
    replacements = [None, 0, -1, 1.5, "x", True, [], {}, [[]], {"type": "none"}, {"type": "array", "index": 0},
                    {"type": "int", "value": "1"}, 2**70, "0x1p+0", {"type": "dict", "items": [[1, 2]]}]

    def nodes(node, out):
        out.append(node)
        if isinstance(node, dict):
            for value in node.values():
                nodes(value, out)
        elif isinstance(node, list):
            for value in node:
                nodes(value, out)
        return out

    path, loaded = tmp_path / "crafted.tg", 0
    for trial in range(150):
        mutated = json.loads(json.dumps(manifest))
        containers = [n for n in nodes(mutated, []) if isinstance(n, (dict, list)) and n]
        target = containers[int(rng.integers(0, len(containers)))]
        key = list(target)[int(rng.integers(0, len(target)))] if isinstance(target, dict) \
            else int(rng.integers(0, len(target)))
        target[key] = replacements[int(rng.integers(0, len(replacements)))]
        _zip(path, [("manifest.json", json.dumps(mutated).encode())] + members[1:])
        result, _ = _load_measured(path)
        if not isinstance(result, ValueError):
            # Only a change that still describes a valid object may load (an int's value replaced by another
            # int), and then as exactly that object: saving what loaded writes the mutated manifest again.
            tg.save(result, tmp_path / "again.tg")
            with zipfile.ZipFile(tmp_path / "again.tg") as archive:
                again = json.loads(archive.read("manifest.json"))
            assert _normal_floats(again) == _normal_floats(mutated), trial
            loaded += 1
    assert loaded < 30, loaded


def _normal_floats(node):
    """A manifest with every float node's hex text in float.hex's own spelling ("0x1p+0" is 1.0 too)."""
    if isinstance(node, dict):
        node = {key: _normal_floats(value) for key, value in node.items()}
        if node.get("type") == "float" and isinstance(node.get("value"), str):
            node["value"] = float.fromhex(node["value"]).hex()
        return node
    if isinstance(node, list):
        return [_normal_floats(value) for value in node]
    return node


# -- PyTorch, for comparison ------------------------------------------------------------------------------------


@pytest.mark.slow  # importing PyTorch alone takes seconds on a busy machine
def test_pytorch_also_refuses_a_truncated_checkpoint_but_with_other_exception_types(tmp_path):
    """torch.load raises RuntimeError (or an unpickling error) where tg.load raises its one documented ValueError."""
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(100)}, tmp_path / "t.pt")
    tg.save({"w": tg.ones(100)}, tmp_path / "g.tg")
    for name in ("t.pt", "g.tg"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception):  # noqa: B017 (PyTorch's exception type depends on where the cut falls)
        torch.load(tmp_path / "cut-t.pt", weights_only=True)
    _assert_refused(tmp_path / "cut-g.tg")

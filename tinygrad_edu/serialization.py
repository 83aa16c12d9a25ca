"""``tg.save`` / ``tg.load``: state dicts in an open format that needs no pickle.

The file is a ZIP archive, readable by ``np.load`` or any zip tool:

- ``manifest.json`` describes the object: dicts (string or integer keys),
  lists, tuples, numbers, bools, strings and ``None``, with arrays referred to
  by name. Floats are stored in ``float.hex`` form, so they come back bit for
  bit (inf and nan included).
- ``arrays/N.npy``, one standard ``.npy`` file per array (Tensors are saved as
  their arrays and come back as arrays).

Writing goes through the library's one `atomic_write` (a temporary file in the
same directory, flushed, then renamed over ``path``): a crash mid-write never
leaves a half-written file in its place, and the file gets the permissions
``open()`` would give it.

Reading trusts nothing in the file (it may come from anyone): `load` checks the
zip's directory, the manifest's structure and every array's header against the
bytes actually present before allocating anything, so a small file cannot make
it allocate a large array, and any file that is not what `save` writes is one
``ValueError`` (see `load`).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
import struct
import zipfile
from typing import Any

import numpy as np

from ._files import atomic_write
from .device import check_device
from .tensor import Tensor

__all__ = ["save", "load", "FORMAT", "MAX_DEPTH"]

FORMAT = "tinygrad_edu.save"
VERSION = 1
_MANIFEST = "manifest.json"
# How deeply containers may nest (a state dict nests 3 or 4): saving refuses more, loading too, so a crafted
# manifest cannot exhaust the stack. PyTorch has no such limit (pickle's is Python's recursion limit).
MAX_DEPTH = 100


def _encode(obj: Any, arrays: list[np.ndarray], where: str, active: set[int]) -> Any:
    """Turn ``obj`` into JSON-able nodes, collecting arrays; raise TypeError on anything else."""
    if obj is None:
        return {"type": "none"}
    if isinstance(obj, (bool, np.bool_)):
        return {"type": "bool", "value": bool(obj)}
    if isinstance(obj, (int, np.integer)):
        return {"type": "int", "value": int(obj)}
    if isinstance(obj, (float, np.floating)):
        node = {"type": "float", "value": float(obj).hex()}
        if obj != obj:  # a NaN: float.hex drops its sign and payload, so keep its exact bits too
            node["bits"] = struct.pack("<d", float(obj)).hex()
        return node
    if isinstance(obj, str):
        return {"type": "str", "value": obj}
    if isinstance(obj, (Tensor, np.ndarray)):
        array = obj.numpy() if isinstance(obj, Tensor) else obj
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save: the array at {where} has dtype {array.dtype}; only numbers can be saved")
        arrays.append(array)
        return {"type": "array", "index": len(arrays) - 1}
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise TypeError(f"save: the object at {where} contains itself")
        if len(active) >= MAX_DEPTH:
            raise ValueError(f"save: the object at {where} nests containers more than {MAX_DEPTH} levels deep")
        active.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = []
                for key, value in obj.items():
                    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
                        raise TypeError(f"save: dict keys must be strings or integers, got {key!r} at {where}")
                    key_type = "str" if isinstance(key, str) else "int"
                    key_node = {"type": key_type, "value": key if key_type == "str" else int(key)}
                    items.append([key_node, _encode(value, arrays, f"{where}[{key!r}]", active)])
                return {"type": "dict", "items": items}
            return {"type": type(obj).__name__,
                    "items": [_encode(v, arrays, f"{where}[{i}]", active) for i, v in enumerate(obj)]}
        finally:
            active.discard(id(obj))
    # A model or an optimizer is code as well as numbers; the file holds no pickled code, only its state.
    advice = (f"; save its state instead: tg.save({type(obj).__name__.lower()}.state_dict(), path), restored with "
              f"load_state_dict(tg.load(path))" if callable(getattr(obj, "state_dict", None)) else "")
    raise TypeError(
        f"save: cannot save {type(obj).__name__} at {where}; supported are dicts, lists, tuples, "
        f"arrays, Tensors, numbers, bools, strings and None{advice}"
    )


def save(obj: Any, path: str | os.PathLike) -> None:
    """Save ``obj`` (e.g. a ``state_dict()``) to exactly ``path``, atomically.

    Args:
        obj: nested dicts (string or integer keys), lists and tuples of arrays,
            Tensors, numbers, bools, strings and ``None``.
        path: the file to write; its name is used as given (no suffix added).

    Raises:
        TypeError: for anything else; an existing file at ``path`` is left untouched.
        ValueError: if containers nest more than `MAX_DEPTH` levels deep (a state dict nests
            three or four; `load` refuses deeper manifests, so that a crafted file cannot exhaust
            the stack). PyTorch has no such limit. The file is left untouched.
        OSError: if ``path`` cannot be written (the message names ``path``); the file is
            created with the permissions ``open(path, "w")`` would give it (the umask's).

    Example:
        >>> import tinygrad_edu as tg, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "model.tg")
        >>> tg.save({"w": tg.ones(2), "step": 3}, path)
        >>> tg.load(path)["step"]
        3
    """
    arrays: list[np.ndarray] = []
    manifest = {"format": FORMAT, "version": VERSION, "object": _encode(obj, arrays, "the top", set())}
    text = json.dumps(manifest)

    def write(tmp: str) -> None:
        # Straight into the temporary file, one array at a time: memory holds the largest array's .npy
        # bytes, not a copy of the whole archive.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_MANIFEST, text)
            for i, array in enumerate(arrays):
                member = io.BytesIO()
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
                archive.writestr(f"arrays/{i}.npy", member.getbuffer())
                del member

    atomic_write(path, write, who="save")


# -- loading: every claim in the file is checked against the file itself ------------------------------

_ARRAY_MEMBER = re.compile(r"arrays/(0|[1-9][0-9]*)\.npy\Z")
_NODE_KEYS = {"none": {"type"}, "bool": {"type", "value"}, "int": {"type", "value"}, "str": {"type", "value"},
              "float": {"type", "value"}, "array": {"type", "index"}, "dict": {"type", "items"},
              "list": {"type", "items"}, "tuple": {"type", "items"}}
_LOCAL_HEADER_SIZE = 30  # a zip member's fixed local header, before its name
_CHUNK = 1 << 20  # arrays are read in pieces of this many bytes, straight into their own memory


class _RefusedError(Exception):
    """A file that `load` refuses; turned into the documented ValueError naming the file."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: a JSON object with the same key twice is refused (json would keep the last)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _RefusedError("the manifest repeats a key in one of its objects")
    return result


def _check_members(archive: zipfile.ZipFile, file_size: int) -> int:
    """Check the zip's directory against what `save` writes; return how many arrays it holds.

    Members are ``manifest.json`` and ``arrays/0.npy`` .. ``arrays/{n-1}.npy``, each once, stored
    (not compressed, not encrypted), and laid out one after another inside the file -- so the
    members' sizes add up to no more than the file's size, and nothing read later can claim more.
    """
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if _MANIFEST not in names:
        raise _RefusedError("it is a zip file but not one written by tg.save (no manifest.json)")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _RefusedError(f"it holds the member {name!r} more than once")
        seen.add(name)
    arrays = set()
    for info in infos:
        match = _ARRAY_MEMBER.match(info.filename)
        if info.filename != _MANIFEST and match is None:
            raise _RefusedError(f"it holds a member tg.save never writes: {info.filename!r}")
        if match is not None:
            arrays.add(int(match[1]))
        if info.flag_bits & 0x1:
            raise _RefusedError(f"its member {info.filename!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise _RefusedError(f"its member {info.filename!r} is compressed (method {info.compress_type}); "
                                f"tg.save writes stored members only")
    if arrays != set(range(len(arrays))):
        raise _RefusedError(f"its arrays are not numbered 0 to {len(arrays) - 1}")
    end = 0
    for info in sorted(infos, key=lambda info: info.header_offset):
        if info.header_offset < end:
            raise _RefusedError(f"its member {info.filename!r} overlaps another one")
        name_size = len(info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"))
        end = info.header_offset + _LOCAL_HEADER_SIZE + name_size + info.compress_size
        if end > file_size:
            raise _RefusedError(f"its member {info.filename!r} claims {info.compress_size} bytes, "
                                f"past the end of the file ({file_size} bytes)")
    return len(arrays)


def _check_node(node: Any, depth: int, used: list[bool]) -> None:
    """Check one manifest node and everything under it; mark the arrays it refers to in ``used``."""
    kind = node.get("type") if isinstance(node, dict) else None
    if not isinstance(kind, str) or kind not in _NODE_KEYS or set(node) != _NODE_KEYS[kind] | (
            {"bits"} if kind == "float" and "bits" in node else set()):
        raise _RefusedError(f"its manifest holds a malformed entry {_short(node)}")
    value = node.get("value")
    if kind == "bool" and not isinstance(value, bool) or kind == "str" and not isinstance(value, str) \
            or kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise _RefusedError(f"its manifest holds a {kind} entry with the value {_short(value)}")
    if kind == "float":
        _float_value(node)
    elif kind == "array":
        index = node["index"]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(used):
            raise _RefusedError(f"its manifest refers to an array {_short(index)} it does not hold")
        if used[index]:
            raise _RefusedError(f"its manifest refers to the array {index} twice")
        used[index] = True
    elif kind in ("dict", "list", "tuple"):
        if depth >= MAX_DEPTH:
            raise _RefusedError(f"its manifest nests containers more than {MAX_DEPTH} levels deep")
        items = node["items"]
        if not isinstance(items, list):
            raise _RefusedError(f"its manifest holds a {kind} whose items are {_short(items)}")
        if kind != "dict":
            for item in items:
                _check_node(item, depth + 1, used)
            return
        keys = set()
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], dict) \
                    or pair[0].get("type") not in ("str", "int"):
                raise _RefusedError(f"its manifest holds a dict entry {_short(pair)} (expected [key, value], "
                                    f"the key a string or an integer)")
            _check_node(pair[0], depth + 1, used)
            key = (pair[0]["type"], pair[0]["value"])
            if key in keys:
                raise _RefusedError(f"its manifest holds the dict key {key[1]!r} twice in one dict")
            keys.add(key)
            _check_node(pair[1], depth + 1, used)


def _float_value(node: dict) -> float:
    value = node["value"]
    try:
        if not isinstance(value, str):
            raise ValueError
        number = float.fromhex(value)
        if "bits" in node:
            bits = node["bits"]
            if not isinstance(bits, str) or len(bits) != 16:
                raise ValueError
            number = struct.unpack("<d", bytes.fromhex(bits))[0]
            if number == number:  # save keeps the bits of NaNs only
                raise ValueError
    except ValueError:
        raise _RefusedError(f"its manifest holds a malformed float entry {_short(node)}") from None
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _read_array(archive: zipfile.ZipFile, index: int) -> np.ndarray:
    """Read ``arrays/{index}.npy``: its header's shape and dtype must account for exactly the member's bytes."""
    name = f"arrays/{index}.npy"
    size = archive.getinfo(name).file_size
    with archive.open(name) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"format version {version}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read_header(handle)
        except (ValueError, TypeError, SyntaxError, OverflowError, RecursionError, MemoryError) as err:
            raise _RefusedError(f"its member {name!r} is not a valid .npy header ({err})") from None
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise _RefusedError(f"its member {name!r} holds dtype {dtype.str!r}; tg.save writes only booleans, "
                                f"integers and floats")
        if not isinstance(shape, tuple) or len(shape) > 64 or any(
                isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in shape) \
                or math.prod(n for n in shape if n) * dtype.itemsize >= 1 << 63:
            # NumPy's limits: 64 dimensions, the size in bytes (zero-length axes aside) under 2**63.
            raise _RefusedError(f"its member {name!r} claims the shape {_short(shape)}")
        count = math.prod(shape)
        data_size = size - handle.tell()
        # The claim is checked against the bytes actually there before anything is allocated.
        if count * dtype.itemsize != data_size:
            raise _RefusedError(f"its member {name!r} claims a {shape} array of {dtype.str} "
                                f"({count * dtype.itemsize} bytes) but holds {data_size} bytes of data")
        flat = np.empty(count, dtype=dtype)
        raw = memoryview(flat.view(np.uint8))
        done = 0
        while done < data_size:
            got = handle.readinto(raw[done:done + _CHUNK])
            if not got:
                raise _RefusedError(f"its member {name!r} ends early")
            done += got
        if handle.read(1):
            raise _RefusedError(f"its member {name!r} is longer than its directory entry says")
    if dtype.kind == "b" and (flat.view(np.uint8) > 1).any():
        raise _RefusedError(f"its member {name!r} holds booleans that are neither 0 nor 1")
    return flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)


def _decode(node: dict, arrays: list[np.ndarray]) -> Any:
    """The object a checked manifest node stands for."""
    kind = node["type"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return node["value"]
    if kind == "float":
        return _float_value(node)
    if kind == "array":
        return arrays[node["index"]]
    if kind == "dict":
        return {_decode(key, arrays): _decode(value, arrays) for key, value in node["items"]}
    values = [_decode(item, arrays) for item in node["items"]]
    return values if kind == "list" else tuple(values)


def _load_archive(handle: Any, file_size: int) -> Any:
    with zipfile.ZipFile(handle) as archive:
        n_arrays = _check_members(archive, file_size)
        try:
            manifest = json.loads(archive.read(_MANIFEST), object_pairs_hook=_unique_pairs)
        except RecursionError:
            raise _RefusedError(f"its manifest nests more than {MAX_DEPTH} levels deep") from None
        except ValueError as err:  # JSONDecodeError, bad UTF-8, an integer of too many digits
            raise _RefusedError(f"its manifest is not valid JSON ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _RefusedError("it is not a file written by tg.save")
        if manifest.get("version") != VERSION:
            raise _RefusedError(f"it has format version {_short(manifest.get('version'))}, "
                                f"this library reads version {VERSION}")
        if set(manifest) != {"format", "version", "object"}:
            raise _RefusedError(f"its manifest has the keys {sorted(manifest)}, expected format, version and object")
        used = [False] * n_arrays
        _check_node(manifest["object"], 0, used)
        if not all(used):
            raise _RefusedError(f"it holds the array {used.index(False)} that its manifest never refers to")
        arrays = [_read_array(archive, index) for index in range(n_arrays)]
    return _decode(manifest["object"], arrays)


def load(path: str | os.PathLike, map_location: Any = None, *, weights_only: bool | None = None) -> Any:
    """Load an object written by `save` (arrays come back as ``np.ndarray``).

    ``map_location`` and ``weights_only`` are PyTorch's, accepted so that ``torch.load(path,
    map_location=device, weights_only=True)`` runs unchanged: the only device is the CPU (another
    is an error), and loading never runs code whatever ``weights_only`` says (the format holds no
    pickle), which is what PyTorch's ``weights_only=True`` asks for.

    Loading trusts nothing in the file. Every member must be one `save` writes, stored
    uncompressed, inside the file and overlapping no other; every array's claimed shape and
    dtype (booleans, integers, floats only) must account for exactly the bytes its member
    holds, checked before anything is allocated; each array is referred to once; the manifest
    must have exactly the structure `save` writes (at most `MAX_DEPTH` levels deep, no key
    twice); CRC-32 checksums catch damaged bytes. So memory stays bounded by the file: the
    arrays take at most the file's size, and parsing the manifest at most about 25 times the
    manifest's size (JSON's objects in Python). Stricter than ``torch.load``, which raises
    ``RuntimeError`` or unpickling errors of several kinds for damaged files: here every file
    that is not what `save` writes is the one documented ``ValueError``, naming the file and
    what is wrong.

    Args:
        path: a file written by `save`.
        map_location: ``None``, ``"cpu"`` or a CPU device.
        weights_only: accepted and ignored (nothing in the file can run code).

    Returns:
        The saved object, Tensors as arrays.

    Raises:
        FileNotFoundError: if ``path`` does not exist (``PermissionError`` and
            ``IsADirectoryError`` also come from opening it, as from ``open()``).
        ValueError: if the file is truncated, damaged, crafted, or not written by `save`.

    Example:
        >>> import tinygrad_edu as tg, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "state.tg")
        >>> tg.save({"w": tg.ones(2), "epoch": 3}, path)
        >>> state = tg.load(path)
        >>> state["epoch"], state["w"]
        (3, array([1., 1.], dtype=float32))
    """
    check_device(map_location)
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"load: weights_only must be True, False or None, got {weights_only!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"load: {path!r} is not a regular file")
        try:
            return _load_archive(handle, status.st_size)
        except _RefusedError as err:
            raise ValueError(f"load: {path!r} was not written by tg.save or is damaged: {err}") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, struct.error, OverflowError,
                KeyError, IndexError, ValueError, NotImplementedError, RecursionError) as err:
            # zipfile's own complaints about a damaged directory (a seek before the file's start is an OSError)
            raise ValueError(f"load: {path!r} is truncated or corrupt, or was not written by tg.save "
                             f"({type(err).__name__}: {err})") from err

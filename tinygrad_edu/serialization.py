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
leaves a half-written file in its place.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from typing import Any

import numpy as np

from ._files import atomic_write_bytes
from .device import check_device
from .tensor import Tensor

__all__ = ["save", "load", "FORMAT"]

FORMAT = "tinygrad_edu.save"
VERSION = 1
_MANIFEST = "manifest.json"


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
    raise TypeError(
        f"save: cannot save {type(obj).__name__} at {where}; supported are dicts, lists, tuples, "
        f"arrays, Tensors, numbers, bools, strings and None"
    )


def save(obj: Any, path: str | os.PathLike) -> None:
    """Save ``obj`` (e.g. a ``state_dict()``) to exactly ``path``, atomically.

    Args:
        obj: nested dicts (string or integer keys), lists and tuples of arrays,
            Tensors, numbers, bools, strings and ``None``.
        path: the file to write; its name is used as given (no suffix added).

    Raises:
        TypeError: for anything else; an existing file at ``path`` is left untouched.

    Example:
        >>> import tinygrad_edu as tg, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "model.tg")
        >>> tg.save({"w": tg.ones(2), "step": 3}, path)
        >>> tg.load(path)["step"]
        3
    """
    arrays: list[np.ndarray] = []
    manifest = {"format": FORMAT, "version": VERSION, "object": _encode(obj, arrays, "the top", set())}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest))
        for i, array in enumerate(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            archive.writestr(f"arrays/{i}.npy", member.getvalue())
    atomic_write_bytes(path, buffer.getvalue(), who="save")


def _decode(node: Any, archive: zipfile.ZipFile, path: str) -> Any:
    kind = node["type"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return node["value"]
    if kind == "float":
        if "bits" in node:
            return struct.unpack("<d", bytes.fromhex(node["bits"]))[0]
        return float.fromhex(node["value"])
    if kind == "array":
        with archive.open(f"arrays/{int(node['index'])}.npy") as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)
    if kind == "dict":
        return {_decode(k, archive, path): _decode(v, archive, path) for k, v in node["items"]}
    if kind == "list":
        return [_decode(v, archive, path) for v in node["items"]]
    if kind == "tuple":
        return tuple(_decode(v, archive, path) for v in node["items"])
    raise ValueError(f"load: {path!r} holds an unknown entry type {kind!r}")


def load(path: str | os.PathLike, map_location: Any = None, *, weights_only: bool | None = None) -> Any:
    """Load an object written by `save` (arrays come back as ``np.ndarray``).

    ``map_location`` and ``weights_only`` are PyTorch's, accepted so that ``torch.load(path,
    map_location=device, weights_only=True)`` runs unchanged: the only device is the CPU (another
    is an error), and loading never runs code whatever ``weights_only`` says (the format holds no
    pickle), which is what PyTorch's ``weights_only=True`` asks for.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is truncated, corrupt, or not written by `save`.
    """
    check_device(map_location)
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"load: weights_only must be True, False or None, got {weights_only!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                manifest = json.loads(archive.read(_MANIFEST))
            except KeyError:
                raise ValueError(f"load: {path!r} is a zip file but not one written by tg.save") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ValueError(f"load: {path!r} is not a file written by tg.save")
            if manifest.get("version") != VERSION:
                raise ValueError(f"load: {path!r} has format version {manifest.get('version')}, "
                                 f"this library reads version {VERSION}")
            return _decode(manifest["object"], archive, path)
    except (zipfile.BadZipFile, EOFError, KeyError, json.JSONDecodeError, zipfile.LargeZipFile) as err:
        raise ValueError(f"load: {path!r} is truncated or corrupt, or was not written by tg.save ({err})") from err
    except ValueError as err:
        if str(err).startswith("load:"):
            raise
        raise ValueError(f"load: {path!r} is truncated or corrupt ({err})") from err

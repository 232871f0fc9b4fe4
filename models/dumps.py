"""Logit dumps: the .npz files that carry real model outputs into the verification flow.

Format (docs/dumps.md is the full description):

    logits   float32 [M, N]   pre-softmax values, one row per softmax vector
    mask     bool    [M, N]   optional; True = live lane (absent = all live)
    labels   int64   [M]      optional; ground-truth class per row (classifier dumps)
    meta     str (0-d)        JSON object: model, dataset, captured, command, date, ...
    row_*    any     [M]      optional per-row information (row_layer, row_head, row_source, ...)

Files from other tools (an .npz/.npy/.csv with other key names, or softmax probabilities) are
read by `open_dump_arg` (key mapping, probabilities -> logits) and written in this format by
`import_dump` (`python -m scripts.import_dump`).

`load_dump` and `save_dump` share one validator, so a file written by `save_dump` always loads,
and a file that does not load could not have been written. Every problem raises one `DumpError`
that names the file and the problem; nothing is dropped or clipped silently: every conversion
the loader makes is recorded in `Dump.notes`.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = [
    "Dump",
    "DumpError",
    "load_dump",
    "save_dump",
    "open_dump_arg",
    "import_dump",
    "parse_key_map",
    "dump_sha256",
    "IMPORT_HINT",
    "DROP",
    "pad_to",
    "PROB_FLOOR",
    "PROB_SUM_TOL",
    "REQUIRED_META",
    "PAD_VALUE",
]

#: Probabilities below this are clamped to it before the log (ln(1e-30) = -69.08), so that a
#: probability of exactly 0 (float underflow in the producer) still gives a finite logit. The
#: floor is the smallest logit an imported probabilities file can have; anything at or below
#: the unit's input range minimum saturates there (models.quantize reports it).
PROB_FLOOR = 1e-30
#: A row "looks like probabilities" when all its live values are in [0, 1] and they sum to 1
#: within this tolerance.
PROB_SUM_TOL = 1e-3
#: Meta keys that `save_dump` requires (the loader accepts files without them and notes it).
REQUIRED_META = ("model", "dataset", "captured", "command", "date")
#: Value written into lanes added by `pad_to` (they are masked, so the value never matters).
PAD_VALUE = 0.0

_ROW_PREFIX = "row_"
_KNOWN_KEYS = ("logits", "mask", "labels", "meta")
#: Key-map target that drops a source array on import (said in the notes, never silent).
DROP = "-"
#: How to bring a file from another tool into this format (quoted by the loader's errors).
IMPORT_HINT = ("import it with `python -m scripts.import_dump IN OUT --map SRC:logits[,SRC:labels]"
               " [--from probabilities]` (or `make import-dump IN=... OUT=... MAP=... FROM=probabilities`)")


class DumpError(ValueError):
    """A dump file or array set that cannot be used; the message names the file and the problem."""


@dataclass
class Dump:
    logits: np.ndarray  # float64 [M, N]
    mask: np.ndarray  # bool [M, N], True = live lane
    labels: np.ndarray | None  # int64 [M] or None
    meta: dict[str, Any]
    path: Path | None
    notes: list[str] = field(default_factory=list)
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # row_* arrays, each [M]

    @property
    def m(self) -> int:
        return int(self.logits.shape[0])

    @property
    def n(self) -> int:
        return int(self.logits.shape[1])


# ----------------------------------------------------------------------------------------------
# Validation shared by the reader and the writer


def _fail(src: str, problem: str) -> DumpError:
    return DumpError(f"{src}: {problem}")


def _configs_that_fit(lanes: int) -> str:
    """Names of the configurations with n >= lanes, for the 'too many lanes' message."""
    try:  # imported lazily: the loader must work without the model package
        from models.config import list_configs, load_config
    except ImportError as exc:
        return f"(configurations could not be listed: {exc})"
    fits = []
    for name in list_configs():
        try:
            cfg = load_config(name)
        except Exception as exc:  # a broken config must not hide the dump's own problem
            fits.append(f"{name} (unreadable: {exc})")
            continue
        if cfg.n >= lanes:
            fits.append(f"{name} (N={cfg.n})")
    if not fits:
        return f"no configuration in configs/ has N >= {lanes}"
    return "configurations that fit: " + ", ".join(fits)


def _as_float64(src: str, logits: Any, notes: list[str]) -> np.ndarray:
    arr = np.asarray(logits)
    if arr.dtype == object:
        raise _fail(src, "'logits' holds Python objects, not numbers")
    if arr.ndim != 2:
        raise _fail(src, f"'logits' must be 2-D [M rows, N lanes], got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise _fail(src, f"'logits' is empty (shape {arr.shape})")
    if arr.dtype.kind not in "iuf":
        raise _fail(src, f"'logits' has non-numeric dtype {arr.dtype} (need integer or float)")
    out = arr.astype(np.float64)
    if arr.dtype.kind in "iu":
        if not np.array_equal(out.astype(arr.dtype), arr):
            raise _fail(src, f"'logits' {arr.dtype} values are too large to convert to float64 exactly")
        notes.append(f"logits converted from {arr.dtype} to float64")
    elif arr.dtype != np.float64:
        notes.append(f"logits converted from {arr.dtype} to float64 (exact)")
    bad = ~np.isfinite(out)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        n_nan = int(np.isnan(out).sum())
        raise _fail(
            src,
            f"'logits' has {int(bad.sum())} non-finite value(s) ({n_nan} NaN, "
            f"{int(bad.sum()) - n_nan} Inf); first at row {r}, lane {c} ({out[r, c]})",
        )
    return out


def _check_mask(src: str, mask: Any, shape: tuple[int, int], notes: list[str]) -> np.ndarray:
    if mask is None:
        notes.append("no 'mask': all lanes live")
        return np.ones(shape, dtype=bool)
    arr = np.asarray(mask)
    if arr.shape != shape:
        raise _fail(src, f"'mask' shape {arr.shape} does not match 'logits' shape {shape}")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1)).all():
            raise _fail(src, f"'mask' must be bool (or integer 0/1), got dtype {arr.dtype}")
        notes.append(f"mask converted from {arr.dtype} 0/1 to bool")
        arr = arr.astype(bool)
    empty = int((~arr.any(axis=1)).sum())
    if empty:
        # Allowed: the unit defines an all-masked vector as all-zero outputs, argmax 0.
        notes.append(f"{empty} row(s) have no live lane (all outputs 0 by contract)")
    return arr


def _check_labels(src: str, labels: Any, m: int, n: int, notes: list[str]) -> np.ndarray | None:
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != m:
        raise _fail(src, f"'labels' must have shape ({m},) (one per row), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise _fail(src, f"'labels' must be integers, got dtype {arr.dtype}")
    out = arr.astype(np.int64)
    bad = (out < 0) | (out >= n)
    if bad.any():
        i = int(np.argmax(bad))
        raise _fail(src, f"{int(bad.sum())} label(s) outside 0..{n - 1}; first at row {i}: {out[i]}")
    return out


def _check_rows(src: str, rows: Mapping[str, Any], m: int) -> dict[str, np.ndarray]:
    out = {}
    for key, val in rows.items():
        if not key.startswith(_ROW_PREFIX) or key == _ROW_PREFIX:
            raise _fail(src, f"per-row key {key!r} must be named '{_ROW_PREFIX}<what>'")
        arr = np.asarray(val)
        if arr.dtype == object:
            raise _fail(src, f"{key!r} holds Python objects")
        if arr.ndim != 1 or arr.shape[0] != m:
            raise _fail(src, f"{key!r} must have shape ({m},) (one per row), got {arr.shape}")
        out[key] = arr
    return out


def _looks_like_probabilities(logits: np.ndarray, mask: np.ndarray) -> bool:
    live_rows = mask.any(axis=1)
    if not live_rows.any():
        return False
    x = np.where(mask, logits, 0.0)[live_rows]
    live = mask[live_rows]
    in_unit = ((x >= 0.0) & (x <= 1.0)) | ~live
    sums = x.sum(axis=1)
    return bool(in_unit.all() and (np.abs(sums - 1.0) <= PROB_SUM_TOL).all())


def _validate(
    src: str,
    logits: Any,
    mask: Any,
    labels: Any,
    rows: Mapping[str, Any],
    *,
    n_lanes: int | None,
    from_probabilities: bool,
    prob_floor: float = PROB_FLOOR,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, np.ndarray], list[str]]:
    notes: list[str] = []
    if not 0.0 < prob_floor < 1.0:
        raise _fail(src, f"probability floor must be in (0, 1), got {prob_floor!r}")
    x = _as_float64(src, logits, notes)
    m, n = x.shape
    if n_lanes is not None and n > n_lanes:
        raise _fail(src, f"{n} lanes do not fit a unit of N={n_lanes}; {_configs_that_fit(n)}")
    mk = _check_mask(src, mask, (m, n), notes)
    lb = _check_labels(src, labels, m, n, notes)
    rw = _check_rows(src, rows, m)
    is_prob = _looks_like_probabilities(x, mk)
    if from_probabilities:
        if not is_prob:
            raise _fail(
                src,
                "from_probabilities=True but the rows are not probabilities "
                f"(live values in [0, 1] summing to 1 within {PROB_SUM_TOL})",
            )
        clamped = int(((x < prob_floor) & mk).sum())
        x = np.where(mk, np.log(np.maximum(x, prob_floor)), 0.0)
        notes.append(
            f"converted from probabilities: logit = ln(max(p, {prob_floor:g})) on live lanes "
            f"({clamped} value(s) clamped at the floor); this equals the original logits up to "
            "a per-row constant, which softmax ignores"
        )
    elif is_prob:
        raise _fail(
            src,
            "every row looks like probabilities (live values in [0, 1] summing to 1 within "
            f"{PROB_SUM_TOL}), not logits; convert them with ln: from_probabilities=True in Python, "
            "DUMP_FROM=probabilities on make sim/report/peer, or " + IMPORT_HINT,
        )
    return x, mk, lb, rw, notes


# ----------------------------------------------------------------------------------------------
# Reader


def load_dump(
    path: str | Path, n_lanes: int | None = None, from_probabilities: bool = False, prob_floor: float = PROB_FLOOR
) -> Dump:
    """Read and validate a dump. `n_lanes`: the unit's N; more lanes than that is an error (fewer is
    fine: see `pad_to`). `from_probabilities`: accept softmax outputs and convert them with
    ln(max(p, prob_floor))."""
    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise _fail(src, "file not found")
    if not zipfile.is_zipfile(p):
        with p.open("rb") as fh:
            if fh.read(4) == b"PK\x03\x04":      # a zip archive's first record, without its end
                raise _fail(src, f"a truncated or damaged .npz archive ({p.stat().st_size:,} bytes): the zip "
                                 f"directory at its end is missing; copy or write the file again")
        raise _fail(src, f"not an .npz archive (expected a file written by numpy.savez / save_dump); {IMPORT_HINT}")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:  # object arrays need pickle, which is never allowed
        raise _fail(src, f"cannot be read without pickle (object arrays are not allowed): {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _fail(src, f"corrupt .npz archive: {exc}") from None

    if "logits" not in arrays:
        raise _fail(src, f"no 'logits' array (keys present: {sorted(arrays) or 'none'}); if it comes from "
                         f"another tool, {IMPORT_HINT}")
    unknown = [k for k in arrays if k not in _KNOWN_KEYS and not k.startswith(_ROW_PREFIX)]
    if unknown:
        raise _fail(src, f"unknown key(s) {sorted(unknown)}; allowed: {list(_KNOWN_KEYS)} and '{_ROW_PREFIX}*'")

    rows = {k: v for k, v in arrays.items() if k.startswith(_ROW_PREFIX)}
    logits, mask, labels, rows, notes = _validate(
        src,
        arrays["logits"],
        arrays.get("mask"),
        arrays.get("labels"),
        rows,
        n_lanes=n_lanes,
        from_probabilities=from_probabilities,
        prob_floor=prob_floor,
    )
    meta = _read_meta(src, arrays.get("meta"), notes)
    return Dump(logits=logits, mask=mask, labels=labels, meta=meta, path=p, notes=notes, rows=rows)


def _read_meta(src: str, raw: np.ndarray | None, notes: list[str]) -> dict[str, Any]:
    if raw is None:
        notes.append("no 'meta' in the file")
        return {}
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise _fail(src, f"'meta' must be a single JSON string, got dtype {raw.dtype} shape {raw.shape}")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise _fail(src, f"'meta' is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise _fail(src, f"'meta' must be a JSON object, got {type(meta).__name__}")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        notes.append(f"meta lacks {missing}")
    return meta


# ----------------------------------------------------------------------------------------------
# Writer


def save_dump(
    path: str | Path,
    logits: Any,
    mask: Any = None,
    labels: Any = None,
    meta: Mapping[str, Any] | None = None,
    rows: Mapping[str, Any] | None = None,
) -> Path:
    """Validate and write a dump (compressed .npz). Logits are stored as float32 (the format);
    the values are validated after that cast, so a float64 value beyond float32's range fails
    here rather than becoming Inf in the file. `meta` must hold REQUIRED_META and be JSON-able."""
    p = Path(path)
    src = str(p)
    if p.suffix != ".npz":
        raise _fail(src, "dump files must end in .npz")
    arr = np.asarray(logits)
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        with np.errstate(over="ignore"):
            arr = arr.astype(np.float32)
    _validate(src, arr, mask, labels, rows or {}, n_lanes=None, from_probabilities=False)
    if meta is None:
        raise _fail(src, f"meta is required (at least {list(REQUIRED_META)})")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise _fail(src, f"meta lacks required key(s) {missing}")
    try:
        meta_json = json.dumps(dict(meta), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise _fail(src, f"meta is not JSON-serialisable: {exc}") from None

    out: dict[str, np.ndarray] = {"logits": arr.astype(np.float32), "meta": np.array(meta_json)}
    if mask is not None:
        out["mask"] = np.asarray(mask).astype(bool)
    if labels is not None:
        out["labels"] = np.asarray(labels).astype(np.int64)
    for k, v in (rows or {}).items():
        out[k] = np.asarray(v)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(p, **out)
    return p


# ----------------------------------------------------------------------------------------------
# Padding


def pad_to(dump: Dump, n: int) -> Dump:
    """Widen a dump to n lanes: the added lanes hold PAD_VALUE and are masked. Returns a new Dump
    (the input is not changed) with the padding recorded in its notes."""
    src = str(dump.path) if dump.path is not None else "<dump>"
    if n < dump.n:
        raise _fail(src, f"cannot pad {dump.n} lanes down to {n}; nothing is ever dropped")
    if n == dump.n:
        return replace(dump, notes=list(dump.notes))
    extra = n - dump.n
    logits = np.pad(dump.logits, ((0, 0), (0, extra)), constant_values=PAD_VALUE)
    mask = np.pad(dump.mask, ((0, 0), (0, extra)), constant_values=False)
    notes = [*dump.notes, f"padded from {dump.n} to {n} lanes with {extra} masked lane(s) (value {PAD_VALUE})"]
    return replace(dump, logits=logits, mask=mask, notes=notes)


# ----------------------------------------------------------------------------------------------
# Files from other tools: key mapping, probabilities, .npy and .csv

_NPY_KEY = "array"  # the name a .npy file's single array goes by in a key map


def parse_key_map(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """'predictions:logits,ground_truth:labels' -> {'predictions': 'logits', ...}. Targets: logits,
    mask, labels, row_<name>, or '-' (drop the source array, said in the notes)."""
    if text is None:
        return {}
    pairs = list(text.items()) if isinstance(text, Mapping) else []
    if not isinstance(text, Mapping):
        for item in filter(None, (t.strip() for t in str(text).split(","))):
            src, sep, dst = item.partition(":")
            if not sep or not src.strip() or not dst.strip():
                raise DumpError(f"key map entry {item!r} must be SOURCE:TARGET (e.g. predictions:logits)")
            pairs.append((src.strip(), dst.strip()))
    out: dict[str, str] = {}
    for src, dst in pairs:
        if dst not in ("logits", "mask", "labels", DROP) and not (dst.startswith(_ROW_PREFIX) and dst != _ROW_PREFIX):
            raise DumpError(f"key map target {dst!r} (for {src!r}) must be logits, mask, labels, row_<name> or {DROP!r}")
        if src in out:
            raise DumpError(f"key map names source {src!r} twice")
        out[src] = dst
    targets = [d for d in out.values() if d != DROP]
    dup = sorted({d for d in targets if targets.count(d) > 1})
    if dup:
        raise DumpError(f"key map sends two sources to {dup}")
    return out


def _read_csv(src: str, p: Path, key_map: dict[str, str], notes: list[str]) -> dict[str, np.ndarray]:
    """One vector per line. A first line with a non-numeric cell is a header: columns it names in
    the key map go to their target (labels, row_*), every other column is a logit lane."""
    import csv

    try:
        with p.open(newline="", encoding="utf-8") as f:
            lines = [row for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(src, f"cannot read as CSV: {exc}") from None
    if not lines:
        raise _fail(src, "CSV file is empty")

    def number(cell: str) -> bool:
        try:
            float(cell)
            return True
        except ValueError:
            return False

    header = None if all(number(c) for c in lines[0]) else [c.strip() for c in lines[0]]
    body = lines[1:] if header else lines
    if not body:
        raise _fail(src, "CSV file has a header but no data rows")
    widths = {len(r) for r in body}
    if len(widths) != 1 or (header and widths != {len(header)}):
        raise _fail(src, f"CSV rows have different numbers of columns: {sorted(widths | ({len(header)} if header else set()))}")
    try:
        table = np.array([[float(c) for c in r] for r in body])
    except ValueError as exc:
        raise _fail(src, f"CSV has a non-numeric cell below the header: {exc}") from None
    if header is None:
        notes.append(f"CSV without header: {table.shape[0]} rows x {table.shape[1]} columns, all logit lanes")
        return {_NPY_KEY: table}
    out, lanes = {}, []
    for j, name in enumerate(header):
        target = key_map.get(name)
        if target is None or target == "logits":
            lanes.append(j)
        elif target != DROP:
            col = table[:, j]
            out[name] = col.astype(np.int64) if target == "labels" and np.array_equal(col, np.round(col)) else col
        else:
            notes.append(f"CSV column {name!r} dropped (mapped to {DROP!r})")
    out[_NPY_KEY] = table[:, lanes]
    notes.append(f"CSV header: columns {[header[j] for j in lanes][:3]}... ({len(lanes)}) are the logit lanes")
    return out


def _read_foreign(src: str, p: Path, key_map: dict[str, str], notes: list[str]) -> dict[str, np.ndarray]:
    suffix = p.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if suffix == ".npy":
            return {_NPY_KEY: np.load(p, allow_pickle=False)}
    except ValueError as exc:
        raise _fail(src, f"cannot be read without pickle (object arrays are not allowed): {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _fail(src, f"cannot read: {exc}") from None
    if suffix == ".csv":
        return _read_csv(src, p, key_map, notes)
    raise _fail(src, f"unsupported file type {suffix!r} (import reads .npz, .npy or .csv)")


def _apply_key_map(src: str, arrays: dict[str, np.ndarray], key_map: dict[str, str], notes: list[str]) -> dict:
    missing = sorted(k for k in key_map if k not in arrays and k != _NPY_KEY)
    if missing:
        raise _fail(src, f"key map names {missing}, not in the file (keys present: {sorted(arrays)})")
    out = {}
    for key, arr in arrays.items():
        target = key_map.get(key, "logits" if key == _NPY_KEY else key)
        if target == DROP:
            notes.append(f"array {key!r} dropped (mapped to {DROP!r})")
            continue
        if target != key and key != _NPY_KEY:
            notes.append(f"array {key!r} read as {target!r}")
        out[target] = arr
    unknown = sorted(k for k in out if k not in _KNOWN_KEYS and not k.startswith(_ROW_PREFIX))
    if unknown:
        raise _fail(src, f"array(s) {unknown} have no place in a dump; map them with --map KEY:logits|mask|labels|"
                         f"row_<name>, or drop them with KEY:{DROP}")
    if "logits" not in out:
        raise _fail(src, f"no array is mapped to 'logits' (keys present: {sorted(arrays)}); use --map KEY:logits")
    return out


def open_dump_arg(
    path: str | Path,
    *,
    n_lanes: int | None = None,
    from_probabilities: bool = False,
    key_map: str | Mapping[str, str] | None = None,
    prob_floor: float = PROB_FLOOR,
) -> Dump:
    """A dump given on a command line: a project .npz as `load_dump` reads it, or (with a key map,
    or any .npy/.csv) a file from another tool, mapped and converted in memory. Every mapping and
    conversion is in the returned `Dump.notes`; the file itself is not changed."""
    p = Path(path)
    src = str(p)
    km = parse_key_map(key_map)
    if p.suffix.lower() == ".npz" and not km:
        return load_dump(p, n_lanes=n_lanes, from_probabilities=from_probabilities, prob_floor=prob_floor)
    if not p.is_file():
        raise _fail(src, "file not found")
    notes: list[str] = [f"read from another tool's file ({p.suffix.lower()}) with key map {km or 'none'}"]
    arrays = _apply_key_map(src, _read_foreign(src, p, km, notes), km, notes)
    rows = {k: v for k, v in arrays.items() if k.startswith(_ROW_PREFIX)}
    logits, mask, labels, rows, vnotes = _validate(
        src, arrays["logits"], arrays.get("mask"), arrays.get("labels"), rows,
        n_lanes=n_lanes, from_probabilities=from_probabilities, prob_floor=prob_floor,
    )
    meta = _read_meta(src, arrays.get("meta"), vnotes)
    return Dump(logits=logits, mask=mask, labels=labels, meta=meta, path=p, notes=notes + vnotes, rows=rows)


def dump_sha256(path: str | Path) -> str:
    """Hex sha256 of a dump file's bytes: what a run summary records to say which stimulus it replayed."""
    import hashlib

    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_dump(
    src: str | Path,
    out: str | Path,
    *,
    key_map: str | Mapping[str, str] | None = None,
    from_probabilities: bool = False,
    prob_floor: float = PROB_FLOOR,
    command: str = "",
    meta: Mapping[str, Any] | None = None,
) -> Dump:
    """Read another tool's file with `open_dump_arg` and write it as a project dump at `out`
    (written to a temporary name, then renamed: never half a file). Returns the dump as written,
    with the conversions in its notes and in meta['import_notes']."""
    import datetime as dt
    import os

    d = open_dump_arg(src, from_probabilities=from_probabilities, key_map=key_map, prob_floor=prob_floor)
    out_p = Path(out)
    if out_p.resolve() == Path(src).resolve():
        raise _fail(str(out_p), "the output must not overwrite the input")
    full_meta = {
        "model": "unknown (imported)", "dataset": "unknown (imported)", "captured": "unknown (imported)",
        **{k: v for k, v in d.meta.items()},
        **dict(meta or {}),
        "command": command or f"import_dump({str(src)!r})",
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "imported_from": Path(src).name,
        "imported_sha256": dump_sha256(src),
        "import_notes": list(d.notes),
    }
    mask = None if d.mask.all() else d.mask
    tmp = out_p.with_name(f".{out_p.stem}.partial.npz")
    try:
        save_dump(tmp, d.logits, mask=mask, labels=d.labels, meta=full_meta, rows=d.rows)
        os.replace(tmp, out_p)
    finally:
        tmp.unlink(missing_ok=True)
    return replace(d, path=out_p, meta=full_meta)

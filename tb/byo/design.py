"""The design file: a TOML description of someone's softmax unit (reference: docs/byo.md).

load_design(path) validates every key (unknown keys are refused with the known ones listed)
and returns a frozen Design with the derived numbers (widths, default bounds). Checks that
need the elaborated design (ports present, widths) are in check_ports, run by the simulator
side once the handles exist.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from models.config import SoftmaxConfig, load_config

KINDS = ("parallel", "axis", "valid_only")
LANE_ORDERS = ("lsb_first", "msb_first")
CLAIMS = ("decision", "probabilities")
MASK_CARRIERS = {"parallel": ("none", "port"), "valid_only": ("none", "port"), "axis": ("none", "tuser", "tkeep")}
# port roles: the ones each interface kind needs, and the optional ones it accepts
ROLES_REQUIRED = {
    "parallel": ("in_data", "in_valid", "in_ready", "out_data", "out_valid", "out_ready"),
    "valid_only": ("in_data", "in_valid", "out_data", "out_valid"),
    "axis": ("in_data", "in_valid", "in_ready", "in_last", "out_data", "out_valid", "out_ready", "out_last"),
}
ROLES_OPTIONAL = ("in_mask", "out_argmax")
AXIS_SIGNAL = {"data": "tdata", "valid": "tvalid", "ready": "tready", "last": "tlast"}

TOP_KEYS = {"name", "top", "sources", "model", "softmax_dv_config", "claims", "parameters", "clock",
            "reset", "interface", "ports", "input", "output", "bounds", "run"}
SECTION_KEYS = {
    "clock": {"name", "period_ns"},
    "reset": {"name", "active", "sync", "cycles"},
    "interface": {"kind", "lanes", "lanes_per_beat", "lane_order", "mask", "in_prefix", "out_prefix"},
    "ports": set(ROLES_REQUIRED["axis"]) | set(ROLES_OPTIONAL),
    "input": {"signed", "int_bits", "frac_bits"},
    "output": {"signed", "int_bits", "frac_bits"},
    "bounds": {"max_abs_error", "mse_vector", "mse_mean", "sum_error", "argmax"},
    "run": {"vectors", "timeout_cycles", "lookahead"},
}
REQUIRED_TOP = ("top", "sources", "clock", "reset", "interface")


class DesignError(ValueError):
    """A design file that cannot describe a runnable design. The message names file and key."""


@dataclass(frozen=True)
class Format:
    """A fixed-point lane format Q(int_bits, frac_bits); int_bits includes the sign bit."""
    signed: bool
    int_bits: int
    frac_bits: int

    @property
    def width(self) -> int:
        return self.int_bits + self.frac_bits

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac_bits

    @property
    def code_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def code_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def text(self) -> str:
        return f"{'signed' if self.signed else 'unsigned'} Q({self.int_bits},{self.frac_bits})"


@dataclass(frozen=True)
class Bounds:
    max_abs_error: float
    mse_vector: float
    mse_mean: float
    sum_error: float | None          # None: the unit claims no probabilities
    argmax: bool
    derivation: dict = field(compare=False, default_factory=dict)


@dataclass(frozen=True)
class Design:
    path: Path
    name: str
    top: str
    sources: tuple[Path, ...]
    parameters: dict
    clock: str
    period_ns: int
    reset: str
    reset_active_low: bool
    reset_sync: bool
    reset_cycles: int
    kind: str
    lanes: int
    lanes_per_beat: int
    lane_order: str
    mask: str
    ports: dict                      # role -> port name
    fmt_in: Format
    fmt_out: Format
    claims: str
    bounds: Bounds
    model_spec: str | None
    config: SoftmaxConfig | None     # softmax_dv_config: one of our own units
    vectors: int
    timeout_cycles: int
    lookahead: int
    digest: str                      # hash of the file, the sources and a model file

    @property
    def beats(self) -> int:
        return self.lanes // self.lanes_per_beat

    @property
    def label(self) -> str:
        return f"{self.name}-{self.digest[:8]}"

    @property
    def argmax_width(self) -> int:
        return max(1, (self.lanes - 1).bit_length())

    def expected_widths(self) -> dict[str, tuple[int, str]]:
        """role -> (width, how it follows from the formats and lanes)."""
        p = self.lanes_per_beat
        per = " per beat" if self.kind == "axis" else ""
        w = {"in_data": (p * self.fmt_in.width, f"{p} lanes{per} x {self.fmt_in.width} bits ({self.fmt_in.text()})"),
             "out_data": (p * self.fmt_out.width, f"{p} lanes{per} x {self.fmt_out.width} bits ({self.fmt_out.text()})"),
             "in_mask": (p, f"one mask bit per lane, {p} lanes{per}"),
             "out_argmax": (self.argmax_width, f"ceil(log2({self.lanes} lanes))")}
        for r in ("in_valid", "in_ready", "in_last", "out_valid", "out_ready", "out_last"):
            w[r] = (1, "a handshake bit")
        return w

    def to_json(self) -> dict:
        """What the simulator side needs (it re-derives nothing)."""
        return {"name": self.name, "top": self.top, "clock": self.clock, "period_ns": self.period_ns,
                "reset": self.reset, "reset_active_low": self.reset_active_low, "reset_sync": self.reset_sync,
                "reset_cycles": self.reset_cycles, "kind": self.kind, "lanes": self.lanes,
                "lanes_per_beat": self.lanes_per_beat, "lane_order": self.lane_order, "mask": self.mask,
                "ports": self.ports, "in_signed": self.fmt_in.signed, "in_width": self.fmt_in.width,
                "out_signed": self.fmt_out.signed, "out_width": self.fmt_out.width,
                "expected_widths": {r: list(v) for r, v in self.expected_widths().items()},
                "timeout_cycles": self.timeout_cycles, "source": str(self.path)}


# ---- validation helpers -----------------------------------------------------------------------
def _refuse_unknown(src: str, where: str, data: dict, known: set) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise DesignError(f"{src}: unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                          f"known keys: {', '.join(sorted(known))}")


def _get(src: str, sec: dict, where: str, key: str, typ, default=None, required=False):
    if key not in sec:
        if required:
            raise DesignError(f"{src}: {where}: missing required key '{key}'")
        return default
    v = sec[key]
    ok = isinstance(v, typ) and not (typ in (int, (int, float)) and isinstance(v, bool))
    if not ok:
        name = typ.__name__ if isinstance(typ, type) else "number"
        raise DesignError(f"{src}: {where}.{key}: must be a {name}, got {v!r}")
    return v


def _choice(src: str, where: str, key: str, v, choices) -> str:
    if v not in choices:
        raise DesignError(f"{src}: {where}.{key}: must be one of {', '.join(map(repr, choices))}, got {v!r}")
    return v


def _format(src: str, data: dict, sec: str) -> Format:
    d = data.get(sec)
    if not isinstance(d, dict):
        raise DesignError(f"{src}: missing table [{sec}] (signed, int_bits, frac_bits)")
    _refuse_unknown(src, f"[{sec}]", d, SECTION_KEYS[sec])
    f = Format(signed=_get(src, d, sec, "signed", bool, required=True),
               int_bits=_get(src, d, sec, "int_bits", int, required=True),
               frac_bits=_get(src, d, sec, "frac_bits", int, required=True))
    if f.int_bits < 0 or f.frac_bits < 0 or not 1 <= f.width <= 48 or (f.signed and f.int_bits < 1):
        raise DesignError(f"{src}: [{sec}]: {f.text()} is not a usable lane format "
                          f"(int_bits counts the sign bit; width 1..48)")
    return f


def _ports(src: str, data: dict, kind: str, mask: str) -> dict:
    itf = data["interface"]
    ports = dict(data.get("ports", {}))
    _refuse_unknown(src, "[ports]", ports, SECTION_KEYS["ports"])
    if kind == "axis":                 # a prefix binds the AXI4-Stream names, explicit names override
        for side, key in (("in", "in_prefix"), ("out", "out_prefix")):
            pre = itf.get(key)
            if pre is not None:
                for role, sig in AXIS_SIGNAL.items():
                    ports.setdefault(f"{side}_{role}", f"{pre}_{sig}")
                if side == "in" and mask in ("tuser", "tkeep"):
                    ports.setdefault("in_mask", f"{pre}_{mask}")
    elif "in_prefix" in itf or "out_prefix" in itf:
        raise DesignError(f"{src}: [interface] in_prefix/out_prefix apply to kind 'axis' only")
    allowed = set(ROLES_REQUIRED[kind]) | set(ROLES_OPTIONAL)
    extra = sorted(set(ports) - allowed)
    if extra:
        raise DesignError(f"{src}: [ports] role(s) {', '.join(extra)} do not exist for interface kind "
                          f"'{kind}'; its roles: {', '.join(sorted(allowed))}")
    missing = [r for r in ROLES_REQUIRED[kind] if r not in ports]
    if missing:
        raise DesignError(f"{src}: [ports] missing role(s) {', '.join(missing)} for interface kind '{kind}'")
    for r, p in ports.items():
        if not isinstance(p, str) or not p.isidentifier():
            raise DesignError(f"{src}: [ports] {r}: must be a port name, got {p!r}")
    if (mask == "none") != ("in_mask" not in ports):
        raise DesignError(f"{src}: [interface] mask = '{mask}' but [ports] in_mask is "
                          f"{'set' if 'in_mask' in ports else 'not set'}: give both or neither")
    return ports


def default_bounds(claims: str, lanes: int, fmt_in: Format, fmt_out: Format) -> dict:
    """Bounds a designer can defend without knowing the unit's internals (docs/byo.md):
    q = output LSB, a = input LSB. Each output lane may carry q/2 of final rounding, and the
    exponential of a difference known to one input LSB moves by at most a (|d/dx e^-x| <= 1).
    Decision units (eq. 18, 1.0 at the max): max |err| <= q/2 + a + q/2 (one more rounding
    inside, e.g. a table entry). Probability units add the normaliser: the sum of N lanes each
    off by up to that much, shared by every lane, i.e. max |err| <= (N/2 + 1) q + a. MSE per
    vector <= max|err|^2; mean MSE <= max|err|^2 / 3 (errors spread uniformly over the band);
    |sum - 1| <= N q (each lane's rounding q/2 plus its share q/2 of the normaliser's)."""
    q, a, n = fmt_out.lsb, fmt_in.lsb, lanes
    mx = q + a if claims == "decision" else (n / 2 + 1) * q + a
    return {"max_abs_error": mx, "mse_vector": mx * mx, "mse_mean": mx * mx / 3,
            "sum_error": n * q if claims == "probabilities" else None, "argmax": True}


def _bounds(src: str, data: dict, claims: str, lanes: int, fi: Format, fo: Format,
            cfg: SoftmaxConfig | None) -> Bounds:
    b = data.get("bounds", {})
    _refuse_unknown(src, "[bounds]", b, SECTION_KEYS["bounds"])
    base = default_bounds(claims, lanes, fi, fo)
    how = {k: "default (docs/byo.md)" for k in base}
    if cfg is not None:          # our own units: the contract's bounds (docs/numerics.md section 7)
        base["mse_vector"], base["mse_mean"] = cfg.mse_vs_ideal_vector_max, cfg.mse_vs_ideal_mean_max
        how["mse_vector"] = how["mse_mean"] = f"configs/{cfg.name}.toml"
    for k in ("max_abs_error", "mse_vector", "mse_mean", "sum_error"):
        if k in b:
            v = _get(src, b, "bounds", k, (int, float))
            if not (math.isfinite(v) and v > 0):
                raise DesignError(f"{src}: bounds.{k}: must be a finite number > 0, got {v!r}")
            if k == "sum_error" and claims != "probabilities":
                raise DesignError(f"{src}: bounds.sum_error: the unit claims '{claims}', not probabilities")
            base[k], how[k] = float(v), "design file"
    if "argmax" in b:
        base["argmax"], how["argmax"] = _get(src, b, "bounds", "argmax", bool), "design file"
    return Bounds(**base, derivation=how)


def _digest(path: Path, text: str, sources: list[Path], model: str | None) -> str:
    h = hashlib.sha256(text.encode())
    files = list(sources)
    if model and model.split(":")[0].endswith(".py"):
        files.append((path.parent / model.split(":")[0]).resolve())
    for p in files:
        if p.is_file():
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


# ---- loading -----------------------------------------------------------------------------------
def _read(path: Path) -> tuple[str, dict]:
    src = str(path)
    if not path.is_file():
        raise DesignError(f"{src}: design file not found")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DesignError(f"{src}: not valid TOML: {e}") from None
    _refuse_unknown(src, "the top level", data, TOP_KEYS)
    for sec, known in SECTION_KEYS.items():
        if sec in data:
            if not isinstance(data[sec], dict):
                raise DesignError(f"{src}: '{sec}' must be a table [{sec}]")
            _refuse_unknown(src, f"[{sec}]", data[sec], known)
    for k in REQUIRED_TOP:
        if k not in data:
            raise DesignError(f"{src}: missing required key '{k}'")
    return text, data


def _sources(src: str, path: Path, data: dict) -> tuple[Path, ...]:
    srcs = _get(src, data, "", "sources", list, required=True)
    if not srcs or not all(isinstance(s, str) for s in srcs):
        raise DesignError(f"{src}: sources: must be a non-empty list of file paths")
    sources = []
    for s in srcs:                   # a pattern (rtl/*.v) names every file it matches, sorted
        hits = sorted(path.parent.glob(s)) if any(ch in s for ch in "*?[") else [path.parent / s]
        if not hits:
            raise DesignError(f"{src}: sources: pattern '{s}' matches no file in {path.parent}")
        sources += [h.resolve() for h in hits]
    absent = [str(s) for s in sources if not s.is_file()]
    if absent:
        raise DesignError(f"{src}: sources: file(s) not found: {', '.join(absent)}")
    bad_ext = [str(s) for s in sources if s.suffix not in (".v", ".sv", ".vh", ".svh")]
    if bad_ext:
        raise DesignError(f"{src}: sources: not Verilog/SystemVerilog (.v .sv): {', '.join(bad_ext)}")
    return tuple(sources)


def _identity(src: str, path: Path, data: dict) -> dict:
    """name, top, sources, parameters and our configuration (softmax_dv_config)."""
    top = _get(src, data, "", "top", str, required=True)
    name = _get(src, data, "", "name", str, default=top)
    if not name.replace("-", "_").isidentifier():
        raise DesignError(f"{src}: name: letters, digits, '_' and '-' only (it names a folder), got {name!r}")
    cfg = None
    if "softmax_dv_config" in data:
        cfg = load_config(_get(src, data, "", "softmax_dv_config", str))
        for k in ("parameters", "input", "output"):
            if k in data:
                raise DesignError(f"{src}: [{k}] follows from softmax_dv_config = '{cfg.name}'; remove it")
    params = dict(data.get("parameters", {}))
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise DesignError(f"{src}: parameters.{k}: must be an integer or a string, got {v!r}")
    return {"name": name, "top": top, "sources": _sources(src, path, data), "parameters": params, "config": cfg}


def _clock_reset(src: str, data: dict) -> dict:
    clk, rst = data["clock"], data["reset"]
    period = _get(src, clk, "clock", "period_ns", int, default=10)
    if period < 2 or period % 2:
        raise DesignError(f"{src}: clock.period_ns: must be an even integer >= 2, got {period}")
    active = _choice(src, "reset", "active", _get(src, rst, "reset", "active", str, required=True), ("low", "high"))
    return {"clock": _get(src, clk, "clock", "name", str, required=True), "period_ns": period,
            "reset": _get(src, rst, "reset", "name", str, required=True), "reset_active_low": active == "low",
            "reset_sync": _get(src, rst, "reset", "sync", bool, default=True),
            "reset_cycles": _get(src, rst, "reset", "cycles", int, default=4)}


def _lanes(src: str, data: dict, cfg: SoftmaxConfig | None) -> dict:
    """Interface kind, lanes, packing, mask carrier and the lane formats."""
    itf = data["interface"]
    kind = _choice(src, "interface", "kind", _get(src, itf, "interface", "kind", str, required=True), KINDS)
    if cfg is not None:
        lanes = cfg.n
        fi, fo = Format(True, cfg.in_int_bits, cfg.in_frac_bits), Format(False, 1, cfg.out_frac_bits)
        if "lanes" in itf and itf["lanes"] != lanes:
            raise DesignError(f"{src}: interface.lanes = {itf['lanes']} but configuration '{cfg.name}' has N = {lanes}")
    else:
        lanes = _get(src, itf, "interface", "lanes", int, required=True)
        fi, fo = _format(src, data, "input"), _format(src, data, "output")
    if not 2 <= lanes <= 4096:
        raise DesignError(f"{src}: interface.lanes: must be in 2..4096, got {lanes}")
    per_beat = _get(src, itf, "interface", "lanes_per_beat", int, default=lanes)
    if kind != "axis" and per_beat != lanes:
        raise DesignError(f"{src}: interface.lanes_per_beat = {per_beat}: a '{kind}' interface carries all "
                          f"{lanes} lanes at once (only 'axis' spreads a vector over beats)")
    if per_beat < 1 or lanes % per_beat:
        raise DesignError(f"{src}: interface.lanes_per_beat = {per_beat} does not divide lanes = {lanes}")
    order = _choice(src, "interface", "lane_order",
                    _get(src, itf, "interface", "lane_order", str, default="lsb_first"), LANE_ORDERS)
    mask = _choice(src, "interface", "mask", _get(src, itf, "interface", "mask", str, default="none"),
                   MASK_CARRIERS[kind])
    return {"kind": kind, "lanes": lanes, "lanes_per_beat": per_beat, "lane_order": order, "mask": mask,
            "fmt_in": fi, "fmt_out": fo, "ports": _ports(src, data, kind, mask)}


def _claims(src: str, data: dict, lanes: int, fi: Format, fo: Format, cfg: SoftmaxConfig | None) -> dict:
    claims = _choice(src, "", "claims", _get(src, data, "", "claims", str, required=True), CLAIMS)
    if cfg is not None and claims != ("decision" if cfg.k == 1 else "probabilities"):
        raise DesignError(f"{src}: claims = '{claims}' but configuration '{cfg.name}' is a "
                          f"{'decision' if cfg.k == 1 else 'probabilities'} unit")
    model = _get(src, data, "", "model", str)
    if model is not None and ":" not in model:
        raise DesignError(f"{src}: model: must be 'module.path:callable' or 'file.py:callable', got {model!r}")
    return {"claims": claims, "bounds": _bounds(src, data, claims, lanes, fi, fo, cfg), "model_spec": model}


def _run_options(src: str, data: dict) -> dict:
    runs = data.get("run", {})
    vectors = _get(src, runs, "run", "vectors", int, default=2000)
    timeout = _get(src, runs, "run", "timeout_cycles", int, default=2000)
    look = _get(src, runs, "run", "lookahead", int, default=8)
    if vectors < 1 or timeout < 10 or look < 1:
        raise DesignError(f"{src}: [run]: vectors >= 1, timeout_cycles >= 10 and lookahead >= 1 are needed")
    return {"vectors": vectors, "timeout_cycles": timeout, "lookahead": look}


def load_design(path: str | Path) -> Design:
    path = Path(path).resolve()
    src = str(path)
    text, data = _read(path)
    f = {"path": path, **_identity(src, path, data), **_clock_reset(src, data)}
    f.update(_lanes(src, data, f["config"]))
    f.update(_claims(src, data, f["lanes"], f["fmt_in"], f["fmt_out"], f["config"]))
    f.update(_run_options(src, data))
    return Design(**f, digest=_digest(path, text, list(f["sources"]), f["model_spec"]))


# ---- the bit-exact model -----------------------------------------------------------------------
Model = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_model(d: Design) -> Model | None:
    """The design's model as f(codes, mask) -> (y codes [M, N], argmax [M]); None without one.
    'file.py:fn' is relative to the design file; 'pkg.mod:fn' is imported. With
    softmax_dv_config the callable takes the configuration first (models.datapath.run_model)."""
    if d.model_spec is None:
        return None
    mod_name, _, fn_name = d.model_spec.partition(":")
    if mod_name.endswith(".py"):
        f = (d.path.parent / mod_name).resolve()
        if not f.is_file():
            raise DesignError(f"{d.path}: model: file {f} not found")
        spec = importlib.util.spec_from_file_location(f"byo_model_{d.digest[:8]}", f)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    else:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as e:
            raise DesignError(f"{d.path}: model: cannot import '{mod_name}': {e}") from None
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise DesignError(f"{d.path}: model: '{mod_name}' has no callable '{fn_name}'")

    def model(codes: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = fn(d.config, codes, mask) if d.config is not None else fn(codes, mask)
        y, am = (r.y, r.argmax) if hasattr(r, "y") else r
        y, am = np.asarray(y, np.int64), np.asarray(am, np.int64)
        if y.shape != codes.shape or am.shape != codes.shape[:1]:
            raise DesignError(f"{d.path}: model {d.model_spec} returned shapes {y.shape} and {am.shape}; "
                              f"expected {codes.shape} and {codes.shape[:1]}")
        return y, am
    return model


# ---- checks against the elaborated design (run by the simulator side) --------------------------
def check_ports(spec: dict, found: dict[str, int]) -> None:
    """found: the top level's signal names -> widths, read from the simulator's handle.
    Raises one DesignError for absent ports (naming them and listing the design's), else one
    for the first width that contradicts the formats and lanes (with both numbers)."""
    src, top = spec["source"], spec["top"]
    need = {spec["clock"]: "clock", spec["reset"]: "reset", **{p: r for r, p in spec["ports"].items()}}
    absent = [f"'{p}' ({role})" for p, role in need.items() if p not in found]
    if absent:
        names = sorted(found)
        more = f" ... ({len(names) - 60} more)" if len(names) > 60 else ""
        raise DesignError(f"{src}: port(s) {', '.join(absent)} not found in module '{top}'; "
                          f"its signals: {', '.join(names[:60])}{more}")
    for role, port in spec["ports"].items():
        want, why = spec["expected_widths"][role]
        if role == "out_argmax":
            if found[port] < want:
                raise DesignError(f"{src}: port '{port}' ({role}) is {found[port]} bits wide; "
                                  f"it needs at least {want} = {why}")
        elif found[port] != want:
            raise DesignError(f"{src}: port '{port}' ({role}) is {found[port]} bits wide, but the design "
                              f"file says {want} = {why}")

#!/usr/bin/env python3
"""Peer check: hls4ml's softmax (C simulation, g++) beside our unit on the same dumps.

    python -m scripts.peer_hls4ml [--dump data/x.npz ...] [--dump-from probabilities] [--dump-map K:logits,...]
                                  [--config NAME ...]
                                  [--impl stable --impl latency] [--out results/peer]

hls4ml is a dependency, not a copy: the pinned PyPI package (requirements.txt) ships the
Vivado templates `nnet_utils/nnet_activation.h` and the `ap_types` headers; this script finds
them in the installed package and compiles our own harness, scripts/peer/hls4ml_softmax.cpp,
against them with g++, once per (implementation, N, input format, output format). Binaries are
cached in build/peer/ by a hash of the harness, the flags and the headers.

Same inputs for both: the dump is quantised once with models.quantize (round to nearest,
saturate) to the configuration's Q(IW, FW); hls4ml gets exactly these codes as ap_fixed<IW+FW, IW>
(IW includes the sign bit in both). Masked lanes (attention padding) carry the most negative code,
i.e. a saturated additive -inf mask, which is how a fixed-point pipeline without a mask port
must feed them; every metric is taken over live lanes only.

hls4ml's layer configuration is what its Vivado backend produces by default for such an input
(hls4ml 1.3.0, FPGABackend attributes + SoftmaxConfigTemplate + FixSoftmaxTableSize):
table_size 1024 reduced to 2^min(W, 18); exp_table_t = inv_table_t = inv_inp_t = accum_t =
ap_fixed<18,8,AP_RND,AP_SAT>; 'stable' takes exp_table_size = min(table_size, 2^(W-1)) and the
difference type inp_norm_t = ap_ufixed<W-1, IW-1>. The result type is ap_fixed<OF+6, 6>: the
configuration's OF fraction bits with 6 integer bits (for OF = 10 that is hls4ml's default
ap_fixed<16,6>).

The hazard named in the paper notes is measured: in 'stable', x_max - x_i is stored in
inp_norm_t, whose range [0, 2^(IW-1)) is half the span of the inputs; a larger difference wraps
(AP_WRAP), and a lane far below the max can come out as large as the max.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.config import ConfigError, SoftmaxConfig
from models.dumps import Dump, DumpError, load_dump, open_dump_arg  # noqa: F401 (load_dump: tests)
from models.reference import argmax_agreement, first_argmax, vector_metrics
from scripts.report import (
    Evaluation, ReportError, add_dump_options, discover_dumps, evaluate, md_cell, pair_dumps, rel,
    write_csv,
)

REPO = Path(__file__).resolve().parent.parent

HARNESS = REPO / "scripts" / "peer" / "hls4ml_softmax.cpp"
BUILD = REPO / "build" / "peer"
IMPLS = ("stable", "latency")
TABLE_SIZE = 1024            # hls4ml's default table_size for activations
TABLE_W, TABLE_I = 18, 8     # hls4ml's default exp/inv/accum type: ap_fixed<18,8,AP_RND,AP_SAT>
RESULT_I = 6                 # result type integer bits (hls4ml's default precision is ap_fixed<16,6>)
CXXFLAGS = ["-O2", "-std=c++14", "-w"]


class PeerError(RuntimeError):
    """The peer harness cannot be built or run; the message says what is missing or wrong."""


# ---- locating hls4ml and building the harness ----------------------------------------------------

def hls4ml_include_dirs() -> list[Path]:
    """[templates/vivado, templates/vivado/ap_types] of the installed hls4ml package (not imported)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise PeerError("the hls4ml package is not installed in this Python: pip install -r requirements.txt "
                        "(it pins hls4ml, used only for its C++ headers)")
    root = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado"
    need = [root / "nnet_utils" / "nnet_activation.h", root / "ap_types" / "ap_fixed.h"]
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        raise PeerError(f"the installed hls4ml lacks {', '.join(missing)}")
    return [root, root / "ap_types"]


def hls4ml_version() -> str:
    try:
        return importlib.metadata.version("hls4ml")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class PeerSpec:
    impl: str        # stable | latency
    n: int
    iw: int          # input integer bits, sign included
    fw: int
    of: int          # result fraction bits

    @property
    def width(self) -> int:
        return self.iw + self.fw

    @property
    def table_size(self) -> int:
        return min(TABLE_SIZE, 2 ** min(self.width, TABLE_W))          # FixSoftmaxTableSize

    @property
    def exp_table_size(self) -> int:
        return min(self.table_size, 2 ** (self.width - 1)) if self.impl == "stable" else self.table_size

    @property
    def norm_type(self) -> tuple[int, int]:
        """inp_norm_t = ap_ufixed<W-1, IW-1> (the default for a signed input)."""
        return self.width - 1, self.iw - 1

    @property
    def result_type(self) -> str:
        return f"ap_fixed<{self.of + RESULT_I},{RESULT_I}>"

    def macros(self) -> dict[str, int | str]:
        nw, ni = self.norm_type
        return {"SM_N": self.n, "SM_IN_W": self.width, "SM_IN_I": self.iw, "SM_OUT_W": self.of + RESULT_I,
                "SM_OUT_I": RESULT_I, "SM_IMPL": self.impl, "SM_EXP_TABLE": self.exp_table_size,
                "SM_INV_TABLE": self.table_size, "SM_TABLE_W": TABLE_W, "SM_TABLE_I": TABLE_I,
                "SM_NORM_W": nw, "SM_NORM_I": ni}

    def check(self) -> None:
        if self.impl not in IMPLS:
            raise PeerError(f"implementation '{self.impl}' is not one of {', '.join(IMPLS)}")
        if self.iw < 2:
            raise PeerError(f"hls4ml's stable softmax needs IW >= 2 (inp_norm_t = ap_ufixed<W-1, IW-1>), got {self.iw}")
        if not 2 <= self.width <= 32 or self.n < 2:
            raise PeerError(f"unsupported peer spec {self}")


def build_harness(spec: PeerSpec, build_dir: Path = BUILD) -> Path:
    """Compile the harness for one spec (cached); returns the executable."""
    spec.check()
    gxx = shutil.which("g++")
    if gxx is None:
        raise PeerError("g++ not found on PATH (apt-get install g++): the hls4ml peer is compiled C++")
    inc = hls4ml_include_dirs()
    defs = [f"-D{k}={v}" for k, v in spec.macros().items()]
    h = hashlib.sha256(HARNESS.read_bytes())
    h.update(" ".join(CXXFLAGS + defs).encode())
    h.update(hls4ml_version().encode())
    for hdr in (inc[0] / "nnet_utils" / "nnet_activation.h", inc[0] / "nnet_utils" / "nnet_common.h",
                inc[1] / "ap_fixed_base.h"):
        h.update(hdr.read_bytes())
    out = build_dir / f"{spec.impl}_n{spec.n}_q{spec.iw}_{spec.fw}_of{spec.of}_{h.hexdigest()[:12]}"
    if out.is_file():
        return out
    build_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")   # no clash between builders
    cmd = [gxx, *CXXFLAGS, *(f"-I{p}" for p in inc), *defs, str(HARNESS), "-o", str(tmp)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise PeerError(f"g++ failed to build the hls4ml harness for {spec}:\n{res.stderr[-3000:]}")
    tmp.replace(out)
    return out


def run_harness(exe: Path, spec: PeerSpec, codes: np.ndarray) -> np.ndarray:
    """Feed integer input codes [M, N] through the compiled hls4ml softmax; float outputs [M, N]."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != spec.n:
        raise PeerError(f"codes must have shape [M, {spec.n}], got {codes.shape}")
    lo, hi = -(1 << (spec.width - 1)), (1 << (spec.width - 1)) - 1
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise PeerError(f"codes outside the {spec.width}-bit signed range [{lo}, {hi}]")
    body = "\n".join(" ".join(map(str, r)) for r in codes.astype(np.int64).tolist())
    res = subprocess.run([str(exe)], input=f"{codes.shape[0]} {spec.n}\n{body}\n", capture_output=True, text=True)
    if res.returncode != 0:
        raise PeerError(f"{exe.name} failed (exit {res.returncode}): {res.stderr.strip()}")
    if codes.shape[0] == 0:
        return np.zeros((0, spec.n))
    out = np.loadtxt(res.stdout.splitlines(), dtype=np.float64, ndmin=2)
    if out.shape != codes.shape:
        raise PeerError(f"{exe.name} wrote {out.shape} outputs for {codes.shape} inputs")
    return out


# ---- measuring -----------------------------------------------------------------------------------

MASK_MODES = ("min-code", "live-only")


def peer_inputs(cfg: SoftmaxConfig, ev: Evaluation) -> np.ndarray:
    """The codes hls4ml sees in 'min-code' mode: our quantised inputs, masked lanes at the most
    negative code (a saturated additive -inf mask)."""
    return np.where(ev.dump.mask, ev.codes, cfg.code_min)


def wrap_hazard(spec: PeerSpec, codes: np.ndarray, mask: np.ndarray, y: np.ndarray, seen: np.ndarray) -> dict:
    """Where 'stable' stores x_max - x_i in inp_norm_t (range [0, 2^(IW-1))), a difference
    beyond that range wraps. `seen` marks the lanes hls4ml was given (every lane in 'min-code'
    mode, the live ones in 'live-only' mode). Counts rows with a wrapped live lane, rows where
    only a masked lane wrapped, and rows where a wrapped lane came out at least as large as the
    true max lane (a small input that looks like the max): what a scoreboard must catch."""
    if spec.impl != "stable":
        return {"rows_wrapped_live": 0, "rows_wrapped_masked_only": 0, "rows_small_looks_max": 0}
    limit = 1 << (spec.width - 1)                 # inp_norm_t range in input LSBs
    big = np.iinfo(np.int64).min
    zmax = np.where(seen, codes, big).max(axis=1, keepdims=True)   # hls4ml's max runs over what it sees
    wrapped = ((zmax - codes) >= limit) & seen
    live_rows = mask.any(axis=1)
    top = first_argmax(codes, mask)               # the true max lane
    top_out = np.take_along_axis(y, top[:, None], axis=1)
    looks_max = (wrapped & mask & (y >= top_out)).any(axis=1) & live_rows
    w_live = (wrapped & mask).any(axis=1)
    w_masked = (wrapped & ~mask).any(axis=1) & ~w_live & live_rows
    return {"rows_wrapped_live": int(w_live.sum()), "rows_wrapped_masked_only": int(w_masked.sum()),
            "rows_small_looks_max": int(looks_max.sum())}


def run_live_only(cfg: SoftmaxConfig, ev: Evaluation, impl: str, build_dir: Path) -> np.ndarray:
    """hls4ml on the live lanes alone: rows are grouped by live-lane count L, each group runs on a
    harness compiled for n = L, and the outputs go back to their lanes (masked lanes 0)."""
    mask = ev.dump.mask
    counts = mask.sum(axis=1)
    y = np.zeros(mask.shape, np.float64)
    groups = sorted(set(int(c) for c in counts if c > 0))
    if groups and groups[0] < 2:
        raise PeerError(f"{ev.dump.path}: rows with a single live lane cannot run in live-only mode "
                        f"(hls4ml's softmax needs n >= 2)")
    specs = {L: PeerSpec(impl=impl, n=L, iw=cfg.in_int_bits, fw=cfg.in_frac_bits, of=cfg.out_frac_bits) for L in groups}
    with ThreadPoolExecutor(max_workers=2) as pool:            # g++ runs: one per core
        exes = dict(zip(groups, pool.map(lambda L: build_harness(specs[L], build_dir), groups)))
    for L in groups:
        rows = np.flatnonzero(counts == L)
        sub_mask = mask[rows]
        compact = ev.codes[rows][sub_mask].reshape(len(rows), L)      # live lanes, in lane order
        out = run_harness(exes[L], specs[L], compact)
        block = np.zeros((len(rows), mask.shape[1]))
        block[sub_mask] = out.reshape(-1)
        y[rows] = block
    return y


def output_ties(y: np.ndarray, codes: np.ndarray, mask: np.ndarray) -> int:
    """Rows whose input max is unique among live lanes but whose output max is shared."""
    def n_max(v):
        vm = np.where(mask, v, -np.inf)
        return (vm == vm.max(axis=1, keepdims=True)).sum(axis=1)
    live = mask.any(axis=1)
    return int(((n_max(codes.astype(np.float64)) == 1) & (n_max(y) > 1) & live).sum())


def metrics_row(label: str, kind: str, cfg: SoftmaxConfig, ev: Evaluation, y: np.ndarray, argmax: np.ndarray,
                codes_seen: np.ndarray, extra: dict) -> dict:
    mask, live = ev.dump.mask, ev.live_rows
    vm = vector_metrics(y, ev.ref_softmax, mask)
    ag = argmax_agreement(argmax, ev.codes, ev.dump.logits, mask)
    return {"dump": Path(ev.dump.path).stem, "config": cfg.name, "unit": label, "kind": kind,
            "n": cfg.n, "input": f"Q({cfg.in_int_bits},{cfg.in_frac_bits})", "vectors": ev.vectors,
            "mse_mean": float(vm.mse[live].mean()), "mse_max": float(vm.mse[live].max()),
            "max_abs": float(vm.max_abs[live].max()), "sum_err_mean": float(vm.sum_err[live].mean()),
            "argmax_float": ag.rate_float, "argmax_quantized": ag.rate_quantized,
            "output_ties": output_ties(y, codes_seen, mask), **extra}


def compare(cfg: SoftmaxConfig, dump: Dump, impls: tuple[str, ...], build_dir: Path = BUILD) -> list[dict]:
    """Our unit and hls4ml's implementations on one dump at cfg's input format. A dump with
    masked lanes runs hls4ml twice: masked lanes at the most negative code ('min-code') and on
    the live lanes alone ('live-only')."""
    ev = evaluate(cfg, dump)
    rows = [metrics_row(f"ours: {cfg.name}", cfg.variant, cfg, ev, ev.y, ev.result.argmax, ev.codes,
                        {"output": f"u{cfg.out_width}, {cfg.out_frac_bits} frac", "masked_lanes": "masked",
                         "rows_wrapped_live": "", "rows_wrapped_masked_only": "", "rows_small_looks_max": ""})]
    mask = ev.dump.mask
    modes = MASK_MODES if not mask.all() else ("min-code",)
    for impl in impls:
        spec = PeerSpec(impl=impl, n=cfg.n, iw=cfg.in_int_bits, fw=cfg.in_frac_bits, of=cfg.out_frac_bits)
        for mode in modes:
            if mode == "min-code":
                codes = peer_inputs(cfg, ev)
                y = run_harness(build_harness(spec, build_dir), spec, codes)
                seen = np.ones(mask.shape, bool)
                label = "at min code" if not mask.all() else "none"
            else:
                codes = ev.codes
                y = run_live_only(cfg, ev, impl, build_dir)
                seen = mask
                label = "left out (live lanes only)"
            hz = wrap_hazard(spec, codes, mask, y, seen)
            rows.append(metrics_row(f"hls4ml {impl}", "softmax", cfg, ev, y, first_argmax(y, mask), codes,
                                    {"output": spec.result_type, "masked_lanes": label, **hz}))
    return rows


# ---- outputs -------------------------------------------------------------------------------------

COLUMNS = ["dump", "config", "unit", "kind", "n", "input", "output", "masked_lanes", "vectors", "mse_mean", "mse_max", "max_abs",
           "sum_err_mean", "argmax_float", "argmax_quantized", "output_ties", "rows_wrapped_live",
           "rows_wrapped_masked_only", "rows_small_looks_max"]


def write_outputs(rows: list[dict], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "peer.csv", rows, COLUMNS)
    (out_dir / "peer.json").write_text(json.dumps({"hls4ml_version": hls4ml_version(), "rows": rows}, indent=1))
    L = ["# Peer comparison: hls4ml softmax beside ours\n",
         f"hls4ml {hls4ml_version()} (PyPI), Vivado `nnet::softmax` compiled as C with g++ by "
         "`scripts/peer_hls4ml.py` (harness `scripts/peer/hls4ml_softmax.cpp`), default layer types: "
         f"tables of {TABLE_SIZE} entries (fewer for narrow inputs), ap_fixed<{TABLE_W},{TABLE_I},AP_RND,AP_SAT> "
         f"exp/reciprocal/accumulator, result ap_fixed<OF+{RESULT_I},{RESULT_I}>. Both units get the same "
         "quantised inputs (models.quantize). hls4ml has no mask input: on a dump with padding it runs "
         "twice, with masked lanes at the most negative code (a saturated -inf mask) and on the live "
         "lanes alone (one build per live-lane count). "
         "Errors against float softmax of the original logits, over live lanes; argmax from the port "
         "for ours, from the output values (lowest index among the largest) for hls4ml.\n",
         "Columns: `output_ties` = rows with a unique input max whose output max is shared by two or more "
         "lanes; `rows_wrapped_live` = rows where a live lane's x_max - x_i overflowed hls4ml's "
         "`inp_norm_t` (stable only); `rows_wrapped_masked_only` = only a masked (padding) lane overflowed; "
         "`rows_small_looks_max` = a wrapped lane came out at least as large as the true max lane.\n"]
    cols = ["dump", "unit", "kind", "input", "output", "masked_lanes", "vectors", "mse_mean", "mse_max", "max_abs", "sum_err_mean",
            "argmax_float", "output_ties", "rows_wrapped_live", "rows_wrapped_masked_only", "rows_small_looks_max"]
    L.append("| " + " | ".join(cols) + " |")
    L.append("|" + "---|" * len(cols))
    for r in rows:
        L.append("| " + " | ".join(md_cell(r[c]) for c in cols) + " |")
    L.append("")
    L.append("Regenerate: `make peer` (`python -m scripts.peer_hls4ml`).")
    (out_dir / "peer.md").write_text("\n".join(L) + "\n")


def run_peer(dump_paths: list[Path], config_names: list[str] | None, impls: tuple[str, ...], out_dir: Path,
             build_dir: Path = BUILD, progress: bool = True, from_probabilities: bool = False,
             key_map: str | None = None) -> list[dict]:
    from tqdm import tqdm

    dumps = [open_dump_arg(p, from_probabilities=from_probabilities, key_map=key_map) for p in dump_paths]
    pairs, fit_notes = pair_dumps(dumps, config_names)
    for n in fit_notes:
        print(f"peer: not compared: {n}", file=sys.stderr)
    if not pairs:
        raise PeerError("nothing to compare: no dump/configuration pair fits"
                        + (f" ({'; '.join(fit_notes)})" if fit_notes else " (see --dump and --config)"))
    rows: list[dict] = []
    seen_peer = set()
    for d, c in tqdm(pairs, desc="peer", unit="pair", disable=not progress):
        got = compare(c, d, impls, build_dir)
        for r in got:       # hls4ml at the same (dump, formats) is listed once
            key = (r["dump"], r["unit"], r["input"], r["output"], r["masked_lanes"])
            if r["kind"] == "softmax" and key in seen_peer:
                continue
            seen_peer.add(key)
            rows.append(r)
    write_outputs(rows, out_dir)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dump", type=Path, action="append", help="dump .npz (repeatable; default: data/*.npz)")
    add_dump_options(ap)
    ap.add_argument("--config", action="append", help="configuration (repeatable; default: those whose N fits each dump)")
    ap.add_argument("--impl", action="append", choices=IMPLS, help="hls4ml implementation (default: both)")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "peer")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    dumps = args.dump or discover_dumps()[0]
    try:
        rows = run_peer(dumps, args.config, tuple(args.impl or IMPLS), args.out, progress=not args.no_progress,
                        from_probabilities=args.dump_from == "probabilities", key_map=args.dump_map)
    except (PeerError, ReportError, DumpError, ConfigError) as e:
        print(f"peer: error: {e}", file=sys.stderr)
        return 2
    print(f"{len(rows)} rows; wrote {rel(args.out / 'peer.md')}, peer.csv, peer.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

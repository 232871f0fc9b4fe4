#!/usr/bin/env python3
"""Design-space sweep: input format, output bits, table depth and K on the bundled dumps.

    python -m scripts.sweep [--grid small|full|GRID.toml] [--dump data/x.npz ...]
                            [--no-area] [--timing] [--jobs 2] [--out results/sweep/<grid>]

Each grid point is a configuration (validated by models.config: an invalid point is kept in the
table with the ConfigError text), run through the bit-accurate model on a dump (accuracy from
models.reference, through scripts/report.evaluate), with a Yosys area estimate from
scripts/synth_area.py (cells, transistors). Areas are cached in build/sweep/area_cache/ by a
hash of the hardware fields of the configuration, the RTL sources and the synthesis scripts, so
a rerun only synthesises what changed. With --timing each synthesised point also goes through
the standard-cell flow of scripts/timing.py (um^2 and fmax in OSU 0.18 um cells; netlists cached
in build/timing/cache/), and the Pareto front is on um^2.

Outputs in --out (default results/sweep/small, results/sweep/full, ...): sweep.csv, sweep.md (the table, Pareto points marked), pareto.png (accuracy
versus area: MSE against float softmax versus transistors; with --no-area the exp+ln table bits
stand in for area and the plot says so), fig12.png (the analogue of the paper's Fig. 12: input
format versus MSE).

Grid files (TOML): one or more [[grid]] tables; each is a cartesian product of its axes:
    formats = [[5, 5], [6, 4]]      # (IW, FW) pairs, or give in_int_bits = [...] and in_frac_bits = [...]
    out_frac_bits = [10]            # OF                         (default [10])
    exp_range = [8.0]               # R                          (default [8.0])
    exp_step = [1]                  # input LSBs per exp-table entry: D = R*2^FW/step (default [1])
    exp_depth = [256]               # or D itself (not together with exp_step)
    k = [1, 4, "N"]                 # "N" = full softmax          (default [1])
    ln_mant_bits = [7]              # M, K > 1 only              (default [7])
    normalise = ["log", "divide"]   # "divide": the conventional unit, K = N only (default ["log"])
    dumps = ["digits_cnn_logits"]   # restrict to dumps by file stem (default: every dump)
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.config import ConfigError, SoftmaxConfig, config_from_dict
from models.dumps import Dump, DumpError, load_dump
from scripts.report import discover_dumps, evaluate, md_cell, rel, write_csv
from scripts.synth_common import ToolError, table_bits

REPO = Path(__file__).resolve().parent.parent
SYNTH_SCRIPT = REPO / "scripts" / "synth_area.py"
AREA_CACHE = REPO / "build" / "sweep" / "area_cache"
CONFIG_DIR = REPO / "build" / "sweep" / "configs"
SYNTH_RESULTS = REPO / "build" / "sweep" / "synth_results"     # synth_area.py --results: kept out of results/
SYNTH_TIMEOUT_S = 3600
# The scoreboard bounds are required config fields but play no part in a sweep (nothing is
# simulated): every point gets this placeholder.
BOUND_PLACEHOLDER = 1.0
# Every field that changes the hardware (normalise: the divide and log-domain K = N units differ).
HW_FIELDS = ("n", "k", "in_int_bits", "in_frac_bits", "out_frac_bits", "exp_range", "exp_depth", "ln_mant_bits",
             "normalise")
AXES = ("formats", "in_int_bits", "in_frac_bits", "out_frac_bits", "exp_range", "exp_step", "exp_depth",
        "k", "ln_mant_bits", "normalise", "dumps")
DEFAULTS = {"out_frac_bits": [10], "exp_range": [8.0], "k": [1], "ln_mant_bits": [7], "normalise": ["log"]}

DIGITS, ATTN = "digits_cnn_logits", "minilm_attention_scores"
GRIDS: dict[str, list[dict]] = {
    # About two minutes on 2 cores with areas (N = 10 units only; an N = 64 unit takes about 90 s
    # to synthesise, so the attention points of this grid are measured without area: see "full").
    "small": [
        # input format x K (paper Fig. 12 analogue): W = 10, 11, 12 with different splits
        {"dumps": [DIGITS], "formats": [[4, 6], [5, 5], [6, 4], [5, 6], [6, 5], [7, 4], [6, 6]],
         "k": [1, 4, "N"]},
        # output fraction bits (OF = 6 with M = 7 is an invalid point: kept, with its message)
        {"dumps": [DIGITS], "formats": [[6, 5]], "k": [1, "N"], "out_frac_bits": [6, 8, 12]},
        # exp-table depth: 2 and 4 input LSBs per entry (128 and 64 entries)
        {"dumps": [DIGITS], "formats": [[6, 5]], "k": [1, "N"], "exp_step": [2, 4]},
        # attention rows, model only
        {"dumps": [ATTN], "formats": [[5, 5], [6, 6], [7, 5]], "k": [1, 8, "N"], "out_frac_bits": [12],
         "no_area": True},
    ],
    # Digits: about 130 points, a few minutes. Attention (N = 64) with areas: about 30 units of
    # about 90 s each, so roughly 25 minutes on 2 cores for the first run (cached after that).
    "full": [
        {"dumps": [DIGITS], "formats": [[4, 4], [4, 6], [5, 3], [5, 5], [5, 7], [6, 3], [6, 4], [6, 5], [6, 6],
                                        [7, 3], [7, 4], [7, 5]], "k": [1, 2, 4, "N"]},
        {"dumps": [DIGITS], "formats": [[6, 5]], "k": [1, 4, "N"], "out_frac_bits": [6, 8, 12, 14],
         "ln_mant_bits": [6]},
        {"dumps": [DIGITS], "formats": [[6, 5]], "k": [1, 4, "N"], "exp_range": [4.0, 8.0, 16.0],
         "exp_step": [1, 2, 4]},
        {"dumps": [DIGITS], "formats": [[6, 5]], "k": [4, "N"], "ln_mant_bits": [3, 5, 7, 9]},
        {"dumps": [ATTN], "formats": [[5, 5], [6, 4], [6, 6], [7, 5]], "k": [1, 8, 16, "N"],
         "out_frac_bits": [12]},
        {"dumps": [ATTN], "formats": [[6, 6]], "k": [8, "N"], "out_frac_bits": [10, 15], "ln_mant_bits": [8]},
    ],
}


class GridError(ValueError):
    """A grid specification that cannot be expanded; the message names the sub-grid and key."""


# ---- grid expansion ------------------------------------------------------------------------------

@dataclass
class Point:
    dump: str                        # dump stem
    spec: dict                       # the grid values (iw, fw, of, exp_range, exp_step|exp_depth, k, m)
    cfg: SoftmaxConfig | None = None
    error: str | None = None         # invalid point: why
    key: str = ""                    # hash of the hardware fields (+ RTL and synth scripts)
    no_area: bool = False
    row: dict = field(default_factory=dict)


def _as_list(where: str, key: str, v) -> list:
    if not isinstance(v, list) or not v:
        raise GridError(f"{where}: '{key}' must be a non-empty list, got {v!r}")
    return v


def expand(grid: list[dict], dumps: dict[str, Dump], where: str = "grid") -> list[Point]:
    """Every point of every sub-grid, for every dump it names (duplicates dropped)."""
    if not isinstance(grid, list) or not grid:
        raise GridError(f"{where}: a grid is a non-empty list of sub-grids")
    points, seen = [], set()
    for gi, sub in enumerate(grid):
        w = f"{where}[{gi}]"
        if not isinstance(sub, dict):
            raise GridError(f"{w}: a sub-grid must be a table of axes, got {sub!r}")
        unknown = sorted(set(sub) - set(AXES) - {"no_area"})
        if unknown:
            raise GridError(f"{w}: unknown key(s) {unknown}; known: {', '.join(AXES)}, no_area")
        if "formats" in sub:
            if "in_int_bits" in sub or "in_frac_bits" in sub:
                raise GridError(f"{w}: give either 'formats' or 'in_int_bits'+'in_frac_bits', not both")
            formats = _as_list(w, "formats", sub["formats"])
            for f in formats:
                if not (isinstance(f, list) and len(f) == 2):
                    raise GridError(f"{w}: each format is [IW, FW], got {f!r}")
        elif "in_int_bits" in sub and "in_frac_bits" in sub:
            formats = [[a, b] for a in _as_list(w, "in_int_bits", sub["in_int_bits"])
                       for b in _as_list(w, "in_frac_bits", sub["in_frac_bits"])]
        else:
            raise GridError(f"{w}: no input formats: give 'formats' or 'in_int_bits' and 'in_frac_bits'")
        if "exp_step" in sub and "exp_depth" in sub:
            raise GridError(f"{w}: give either 'exp_step' or 'exp_depth', not both")
        table_key = "exp_depth" if "exp_depth" in sub else "exp_step"
        tables = _as_list(w, table_key, sub.get(table_key, [1]))
        axes = {a: _as_list(w, a, sub.get(a, DEFAULTS[a])) for a in DEFAULTS}
        names = _as_list(w, "dumps", sub.get("dumps", sorted(dumps)))
        for nm in names:
            if nm not in dumps:
                raise GridError(f"{w}: dump '{nm}' is not among the dumps of this run ({', '.join(sorted(dumps)) or 'none'})")
        for nm, (iw, fw), of, r, t, k, m, norm in itertools.product(
                names, formats, axes["out_frac_bits"], axes["exp_range"], tables, axes["k"], axes["ln_mant_bits"],
                axes["normalise"]):
            spec = {"iw": iw, "fw": fw, "of": of, "exp_range": r, table_key: t, "k": k, "m": m, "normalise": norm}
            p = make_point(nm, dumps[nm], spec)
            p.no_area = bool(sub.get("no_area", False))
            ident = (nm, p.key) if p.cfg is not None else (nm, json.dumps(spec, sort_keys=True))
            if ident in seen:
                continue
            seen.add(ident)
            points.append(p)
    return points


def _hw_hash(cfg: SoftmaxConfig) -> str:
    h = hashlib.sha256(json.dumps({f: getattr(cfg, f) for f in HW_FIELDS}, sort_keys=True).encode())
    for src in _hashed_sources():
        h.update(src.name.encode())
        h.update(src.read_bytes())
    return h.hexdigest()[:16]


def _hashed_sources() -> list[Path]:
    files = sorted((REPO / "rtl").glob("*.v"))
    files += [p for p in (SYNTH_SCRIPT, REPO / "scripts" / "synth_common.py") if p.is_file()]
    return files


def make_point(dump_name: str, dump: Dump, spec: dict) -> Point:
    """Turn grid values into a validated configuration (or keep the reason it is invalid)."""
    p = Point(dump=dump_name, spec=dict(spec))
    k = spec["k"]
    if k == "N":
        k = dump.n
    elif isinstance(k, bool) or not isinstance(k, int):
        p.error = f"k must be an integer or \"N\", got {k!r}"
        return p
    m, norm = spec["m"], spec.get("normalise", DEFAULTS["normalise"][0])
    if k == 1:
        norm = DEFAULTS["normalise"][0]     # K = 1 never normalises: one unit whatever the grid says
    if (k == 1 or norm == "divide") and isinstance(spec["of"], int):
        # no ln table for K = 1 or a divider unit: M has no meaning there, so every such point gets
        # the same (valid) value and identical units share one hash, one area and one table row
        m = min(DEFAULTS["ln_mant_bits"][0], spec["of"])
    fw, r = spec["fw"], spec["exp_range"]
    if "exp_step" in spec:
        step = spec["exp_step"]
        try:
            span = r * 2 ** fw
            depth = span / step
        except TypeError:
            p.error = f"exp_range, in_frac_bits and exp_step must be numbers, got {r!r}, {fw!r}, {step!r}"
            return p
        if depth != int(depth) or depth < 1:
            p.error = (f"exp_step {step} does not divide the table span exp_range*2^in_frac_bits = "
                       f"{span:g} input LSBs into a whole number of entries")
            return p
        depth = int(depth)
    else:
        depth = spec["exp_depth"]
    fields_ = {"n": dump.n, "k": k, "in_int_bits": spec["iw"], "in_frac_bits": fw,
               "out_frac_bits": spec["of"], "exp_range": r, "exp_depth": depth, "ln_mant_bits": m,
               "normalise": norm,
               "mse_vs_ideal_vector_max": BOUND_PLACEHOLDER, "mse_vs_ideal_mean_max": BOUND_PLACEHOLDER,
               "description": f"sweep point on {dump_name}"}
    try:
        cfg = config_from_dict(fields_, source=f"sweep point {_spec_text(spec)}", name="sweep_point")
    except ConfigError as e:
        p.error = str(e)
        return p
    p.key = _hw_hash(cfg)
    # every point gets a stable, unique name: the RTL flows key their build directories on it
    p.cfg = config_from_dict(fields_, source=f"sweep point {_spec_text(spec)}", name=f"sw_{p.key}")
    return p


def _spec_text(spec: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items())


def load_grid(name_or_path: str) -> list[dict]:
    if name_or_path in GRIDS:
        return GRIDS[name_or_path]
    p = Path(name_or_path)
    if p.suffix != ".toml":
        raise GridError(f"unknown grid '{name_or_path}': use one of {', '.join(GRIDS)} or a .toml file")
    if not p.is_file():
        raise GridError(f"{p}: grid file not found")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"{p}: not valid TOML: {e}") from None
    extra = sorted(set(data) - {"grid"})
    if extra or "grid" not in data:
        raise GridError(f"{p}: a grid file holds only [[grid]] tables (found keys {sorted(data)})")
    return data["grid"]


# ---- area ----------------------------------------------------------------------------------------

def area_for(cfg: SoftmaxConfig, key: str, cache_dir: Path = AREA_CACHE, timeout: float = SYNTH_TIMEOUT_S) -> dict:
    """{'cells', 'transistors', 'source': 'cache'|'synth', 'seconds'} or {'error': text}."""
    cached = cache_dir / f"{key}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
        return {**data, "source": "cache"}
    if not SYNTH_SCRIPT.is_file():
        return {"error": f"{rel(SYNTH_SCRIPT)} does not exist (the RTL part provides it); use --no-area"}
    CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    toml = CONFIG_DIR / f"{cfg.name}.toml"
    toml.write_text(cfg.to_toml())
    t0 = time.perf_counter()
    try:
        res = subprocess.run([sys.executable, "-m", "scripts.synth_area", "--config", str(toml), "--results", str(SYNTH_RESULTS),
                              "--timeout", str(timeout)], cwd=REPO, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        return {"error": f"synthesis timed out after {timeout:.0f} s"}
    out_json = SYNTH_RESULTS / cfg.name / "area.json"
    if res.returncode != 0 or not out_json.is_file():
        last = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["no output"])[-1]
        return {"error": f"synth_area.py failed (exit {res.returncode}): {last}"}
    data = json.loads(out_json.read_text())
    for f in ("cells", "transistors"):
        if isinstance(data.get(f), bool) or not isinstance(data.get(f), (int, float)):
            return {"error": f"{rel(out_json)} has no numeric '{f}'"}
    keep = {"cells": data["cells"], "transistors": data["transistors"],
            "transistors_complete": data.get("transistors_complete"), "seconds": time.perf_counter() - t0,
            "yosys": data.get("yosys_version"), "config": cfg.to_dict()}
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(keep, indent=1))
    return {**keep, "source": "synth"}


# ---- Pareto --------------------------------------------------------------------------------------

def pareto_flags(cost: list[float], err: list[float]) -> list[bool]:
    """True where no other point is at least as good on both and strictly better on one
    (both minimised). NaN entries are never on the front and never dominate."""
    c = np.asarray(cost, np.float64)
    e = np.asarray(err, np.float64)
    ok = np.isfinite(c) & np.isfinite(e)
    flags = []
    for i in range(len(c)):
        if not ok[i]:
            flags.append(False)
            continue
        dom = ok & (c <= c[i]) & (e <= e[i]) & ((c < c[i]) | (e < e[i]))
        flags.append(not bool(dom.any()))
    return flags


# ---- the sweep -----------------------------------------------------------------------------------

COLUMNS = ["dump", "n", "iw", "fw", "of", "exp_range", "exp_depth", "exp_step", "k", "variant", "m",
           "status", "vectors", "saturated", "mse_vs_softmax_mean", "mse_vs_softmax_max", "max_abs_vs_softmax",
           "kl_mean", "sum_err_mean", "mse_vs_ideal_mean", "mse_vs_ideal_max", "argmax_float", "argmax_quantized",
           "table_bits", "cells", "transistors", "area_source", "area_um2", "fmax_mhz", "cost_metric", "pareto"]
# Cost axes of the Pareto front, best first: the first that every valid point of a dump has is used.
COST_METRICS = ("area_um2", "transistors", "table_bits")
COST_LABELS = {"area_um2": "area, um^2 (OSU 0.18 um cells, scripts/timing.py)",
               "transistors": "transistors (Yosys estimate)",
               "table_bits": "exp + ln table bits (no area: --no-area or synthesis missing)"}


def measure(p: Point, dump: Dump) -> dict:
    s = p.spec
    row = {c: "" for c in COLUMNS}
    row.update(dump=p.dump, n=dump.n, iw=s["iw"], fw=s["fw"], of=s["of"], exp_range=s["exp_range"],
               k=s["k"], m=s["m"])
    if "exp_step" in s:
        row["exp_step"] = s["exp_step"]
    else:
        row["exp_depth"] = s["exp_depth"]
    if p.cfg is None:
        row["status"] = f"invalid: {p.error}"
        return row
    cfg = p.cfg
    ev = evaluate(cfg, dump)
    live = ev.live_rows
    row.update(k=cfg.k, m=cfg.ln_mant_bits if cfg.uses_ln else "-", variant=cfg.variant,
               exp_depth=cfg.exp_depth, exp_step=1 << cfg.exp_step_log2, status="ok",
               vectors=ev.vectors, saturated=ev.quant.saturated,
               mse_vs_softmax_mean=float(ev.vs_softmax.mse[live].mean()),
               mse_vs_softmax_max=float(ev.vs_softmax.mse[live].max()),
               max_abs_vs_softmax=float(ev.vs_softmax.max_abs[live].max()),
               kl_mean=float(ev.vs_softmax.kl[live].mean()),
               sum_err_mean=float(ev.vs_softmax.sum_err[live].mean()),
               mse_vs_ideal_mean=float(ev.vs_ideal.mse[live].mean()),
               mse_vs_ideal_max=float(ev.vs_ideal.mse[live].max()),
               argmax_float=ev.agree.rate_float, argmax_quantized=ev.agree.rate_quantized,
               table_bits=table_bits(cfg))
    return row


def timing_for(cfg: SoftmaxConfig) -> dict:
    """{'area_um2', 'fmax_mhz'} of the cell-library flow (scripts/timing.py), or {'error': text}."""
    from scripts.timing import TimingError, time_unit
    try:
        r = time_unit(cfg, timeout=SYNTH_TIMEOUT_S)
    except (ToolError, TimingError) as e:
        return {"error": str(e)}
    return {"area_um2": r["area_um2"], "fmax_mhz": r["fmax_mhz"]}


def run_sweep(grid: list[dict], dump_paths: list[Path], out_dir: Path, no_area: bool = False,
              jobs: int = 2, progress: bool = True, cache_dir: Path = AREA_CACHE, timing: bool = False) -> list[dict]:
    from tqdm import tqdm

    dumps: dict[str, Dump] = {}
    for path in dump_paths:
        d = load_dump(path)
        dumps[Path(path).stem] = d
    grid = [dict(sub, dumps=[n for n in sub.get("dumps", sorted(dumps)) if n in dumps]) for sub in grid]
    grid = [sub for sub in grid if sub["dumps"]]
    if not grid:
        raise GridError(f"no sub-grid applies to the dumps given ({', '.join(sorted(dumps))})")
    points = expand(grid, dumps)
    rows = []
    for p in tqdm(points, desc="sweep: model", unit="point", disable=not progress):
        p.row = measure(p, dumps[p.dump])
        rows.append(p.row)

    want_area = [p for p in points if p.cfg is not None and not (no_area or p.no_area)]
    if want_area:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
                tqdm(total=len(want_area), desc="sweep: area (yosys)", unit="config", disable=not progress) as bar:
            futs = {}
            for p in want_area:     # identical hardware (same key) is synthesised once
                futs.setdefault(p.key, pool.submit(area_for, p.cfg, p.key, cache_dir))
            for p in want_area:
                a = futs[p.key].result()
                bar.update(1)
                if "error" in a:
                    p.row["status"] = f"ok (area failed: {a['error']})"
                else:
                    p.row.update(cells=a["cells"], transistors=a["transistors"], area_source=a["source"])
    if timing and want_area:
        _add_timing(want_area, jobs, progress)
    # Pareto per dump, on the best cost axis every valid point of that dump has (COST_METRICS)
    for d in dumps:
        mine = [p.row for p in points if p.dump == d and p.cfg is not None]
        if not mine:
            continue
        metric = next(m for m in COST_METRICS if all(isinstance(r[m], (int, float)) for r in mine))
        flags = pareto_flags([r[metric] for r in mine], [r["mse_vs_softmax_mean"] for r in mine])
        for r, f in zip(mine, flags):
            r["cost_metric"] = metric
            r["pareto"] = "yes" if f else "no"
    write_outputs(rows, out_dir)
    return rows


def _add_timing(points: list[Point], jobs: int, progress: bool) -> None:
    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
            tqdm(total=len(points), desc="sweep: um^2, fmax (timing)", unit="config", disable=not progress) as bar:
        futs = {}
        for p in points:
            futs.setdefault(p.key, pool.submit(timing_for, p.cfg))
        for p in points:
            t = futs[p.key].result()
            bar.update(1)
            if "error" in t:
                p.row["status"] = f"{p.row['status']} (timing failed: {t['error']})"
            else:
                p.row.update(area_um2=t["area_um2"], fmax_mhz=t["fmax_mhz"])


# ---- outputs -------------------------------------------------------------------------------------

def write_outputs(rows: list[dict], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "sweep.csv", rows, COLUMNS)
    md_cols = ["dump", "iw", "fw", "of", "exp_range", "exp_depth", "exp_step", "k", "variant", "m",
               "saturated", "mse_vs_softmax_mean", "max_abs_vs_softmax", "kl_mean", "sum_err_mean",
               "mse_vs_ideal_max", "argmax_float", "table_bits", "cells", "transistors", "area_um2", "fmax_mhz",
               "pareto", "status"]
    L = ["# Design-space sweep\n",
         "Bit-accurate model on each dump; MSE, max abs, KL and |sum-1| against float softmax of the "
         "original logits (per-vector, averaged over vectors unless 'max'); `mse_vs_ideal_max` is the "
         "implementation's own error against the variant's float function on the quantised inputs. "
         "Area: Yosys cells and transistor estimate from `scripts/synth_area.py`; with --timing also um^2 "
         "and fmax in the OSU 0.18 um cell library (`scripts/timing.py`, each unit at its own tightest "
         "clock). `pareto` = on the accuracy (mean MSE vs softmax) versus cost front of its dump; the cost "
         "is um^2 when every point of the dump has it, else transistors, else exp+ln table bits (see "
         "`cost_metric` in sweep.csv).\n",
         "| " + " | ".join(md_cols) + " |", "|" + "---|" * len(md_cols)]
    for r in rows:
        L.append("| " + " | ".join(md_cell(r[c]) for c in md_cols) + " |")
    invalid = [r for r in rows if str(r["status"]).startswith("invalid")]
    L.append(f"\n{len(rows)} points, {len(invalid)} invalid (message in the status column).")
    (out_dir / "sweep.md").write_text("\n".join(L) + "\n")
    _plot_pareto(rows, out_dir / "pareto.png")
    _plot_fig12(rows, out_dir / "fig12.png")


def _fmt_label(r: dict) -> str:
    return f"({r['iw']},{r['fw']})"


VARIANT_COLOURS = {"decision": "tab:blue", "topk": "tab:orange", "full": "tab:green", "conventional": "tab:red"}


def variant_colour(variant: str) -> str:
    """The plot colour of a variant; a variant with none is an error, never left out of the plot."""
    if variant not in VARIANT_COLOURS:
        raise ValueError(f"sweep plot: no colour for variant {variant!r} (known: {', '.join(VARIANT_COLOURS)}); "
                         f"add it to VARIANT_COLOURS in scripts/sweep.py")
    return VARIANT_COLOURS[variant]


def _plot_pareto(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dumps = sorted({r["dump"] for r in rows if r["cost_metric"]})
    if not dumps:
        return
    fig, axes = plt.subplots(1, len(dumps), figsize=(7 * len(dumps), 5), squeeze=False)
    for ax, d in zip(axes[0], dumps):
        mine = [r for r in rows if r["dump"] == d and r["cost_metric"]]
        metric = mine[0]["cost_metric"]
        colours = {v: variant_colour(v) for v in {r["variant"] for r in mine}}
        for var in (v for v in VARIANT_COLOURS if v in colours):
            pts = [r for r in mine if r["variant"] == var]
            ax.scatter([r[metric] for r in pts], [r["mse_vs_softmax_mean"] for r in pts], c=colours[var],
                       label=var, alpha=0.7, s=28)
        front = sorted((r for r in mine if r["pareto"] == "yes"), key=lambda r: r[metric])
        ax.step([r[metric] for r in front], [r["mse_vs_softmax_mean"] for r in front], where="post",
                color="k", lw=1, label="Pareto front")
        for r in front:
            ax.annotate(f"{_fmt_label(r)} OF{r['of']} K{r['k']} D{r['exp_depth']}", (r[metric], r["mse_vs_softmax_mean"]),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(COST_LABELS[metric])
        ax.set_ylabel("mean MSE vs float softmax")
        ax.set_title(f"{d} (N={mine[0]['n']})", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_fig12(rows: list[dict], path: Path) -> None:
    """Input format versus mean MSE, one line per (K, OF, table) setting that spans >= 2 formats."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["variant"]]
    dumps = sorted({r["dump"] for r in ok})
    if not dumps:
        return
    fig, axes = plt.subplots(1, len(dumps), figsize=(7 * len(dumps), 4.8), squeeze=False)
    for ax, d in zip(axes[0], dumps):
        mine = [r for r in ok if r["dump"] == d]
        fmts = sorted({(r["iw"], r["fw"]) for r in mine}, key=lambda f: (f[0] + f[1], f[0]))
        xi = {f: i for i, f in enumerate(fmts)}
        groups: dict[tuple, list[dict]] = {}
        for r in mine:
            groups.setdefault((r["k"], r["variant"], r["of"], r["exp_range"], r["exp_step"], r["m"]), []).append(r)
        drawn = 0
        for (k, var, of, er, st, m), g in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0][2:])) + (kv[0][0],)):
            if len({(r["iw"], r["fw"]) for r in g}) < 2:
                continue
            g = sorted(g, key=lambda r: xi[(r["iw"], r["fw"])])
            ax.plot([xi[(r["iw"], r["fw"])] for r in g], [r["mse_vs_softmax_mean"] for r in g], marker="o",
                    label=f"K={k} ({var}), OF={of}, R={er:g}, step {st}")
            drawn += 1
        ax.set_xticks(range(len(fmts)), [f"({a},{b})\nW={a + b}" for a, b in fmts], fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("input format (IW, FW), IW includes the sign bit")
        ax.set_ylabel("mean MSE vs float softmax")
        ax.set_title(f"{d}: input format vs MSE (cf. paper Fig. 12)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        if drawn:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no setting spans two formats", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", default="small", help="small | full | path to a grid .toml (default small)")
    ap.add_argument("--dump", type=Path, action="append", help="dump .npz (repeatable; default: data/*.npz)")
    ap.add_argument("--no-area", action="store_true", help="skip Yosys; Pareto on table bits")
    ap.add_argument("--jobs", type=int, default=2, help="parallel synthesis runs (default 2)")
    ap.add_argument("--timing", action="store_true",
                    help="also um^2 and fmax in the OSU 0.18 um library (scripts/timing.py; make timing-deps)")
    ap.add_argument("--out", type=Path, default=None, help="default results/sweep/<grid name>")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    dumps = args.dump or discover_dumps()[0]
    args.out = args.out or REPO / "results" / "sweep" / Path(args.grid).stem
    try:
        grid = load_grid(args.grid)
        rows = run_sweep(grid, dumps, args.out, no_area=args.no_area, jobs=args.jobs,
                         progress=not args.no_progress, timing=args.timing)
    except (GridError, DumpError) as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return 2
    bad = sum(str(r["status"]).startswith("invalid") for r in rows)
    print(f"{len(rows)} points ({bad} invalid); wrote {rel(args.out / 'sweep.csv')}, sweep.md, pareto.png, fig12.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

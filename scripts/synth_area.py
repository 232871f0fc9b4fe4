#!/usr/bin/env python3
"""Synthesise softmax_unit for one or more configurations with Yosys and record the area.

    python -m scripts.synth_area --config paper_n10_decision [--config path/to/point.toml ...]
    python -m scripts.synth_area --all

Per configuration: tables written under build/<name>/tables, the Yosys script and log under
build/<name>/synth/, and results/<name>/area.json with the generic cell count, the CMOS
transistor estimate of `stat -tech cmos`, the cell breakdown, the Yosys version and the run time.

Flow: read_verilog -defer; chparam (every parameter from cfg.rtl_parameters(), strings included);
hierarchy -check; synth -flatten (generic gates); dfflegalize to plain $_DFF_P_ so that enables
and synchronous resets become gates the CMOS cost model knows (otherwise `stat -tech cmos`
leaves the flip-flops out and marks its total with '+'); then stat and stat -tech cmos.
The transistor estimate is a technology-free proxy for area: compare configurations with it,
not with the paper's um^2.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from models.config import ConfigError, list_configs
from scripts.synth_common import (
    REPO, Prepared, ToolError, prepare, run, yosys_cmd, yosys_env, yosys_frontend,
)

RESULTS_DIR = REPO / "results"


def yosys_script(prep: Prepared, out_dir: Path) -> str:
    return "\n".join([
        *yosys_frontend(prep),
        "dfflegalize -cell $_DFF_P_ x",
        "opt_clean",
        f"tee -q -o {out_dir / 'stat.json'} stat -json",
        f"tee -q -o {out_dir / 'stat_cmos.json'} stat -json -tech cmos",
        f"tee -q -o {out_dir / 'stat.txt'} stat -tech cmos",
        "",
    ])


def _design_stats(path: Path) -> dict:
    data = json.loads(path.read_text())
    mods = data["modules"]
    if len(mods) != 1:
        raise ToolError(f"{path}: expected one flattened module, got {sorted(mods)}")
    return data["creator"], next(iter(mods.values()))


def synth_one(config: str | Path, results_dir: Path = RESULTS_DIR, timeout: float | None = None) -> dict:
    prep = prepare(config)
    out_dir = prep.build_dir / "synth"
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("stat.json", "stat_cmos.json", "stat.txt"):
        (out_dir / stale).unlink(missing_ok=True)
    script = out_dir / "synth.ys"
    script.write_text(yosys_script(prep, out_dir))
    log = out_dir / "yosys.log"
    t0 = time.perf_counter()
    try:
        res, _ = run([*yosys_cmd(), "-q", "-l", str(log), "-s", str(script)], timeout=timeout,
                     env=yosys_env())
    except subprocess.TimeoutExpired:
        raise ToolError(f"yosys on '{prep.cfg.name}' did not finish within {timeout:g} s; log {log}") from None
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise ToolError(f"yosys failed on '{prep.cfg.name}' (exit {res.returncode}); log {log}:\n{tail}")

    creator, st = _design_stats(out_dir / "stat.json")
    _, st_cmos = _design_stats(out_dir / "stat_cmos.json")
    transistors = str(st_cmos.get("estimated_num_transistors", ""))
    complete = not transistors.endswith("+")    # '+': some cell had no CMOS cost
    m = re.fullmatch(r"(\d+)\+?", transistors)
    if m is None:
        raise ToolError(f"{out_dir / 'stat_cmos.json'}: no transistor estimate ({transistors!r})")
    breakdown = {k.lstrip("$"): int(v) for k, v in sorted(st["num_cells_by_type"].items())}
    flops = sum(v for k, v in breakdown.items() if "DFF" in k)
    cfg = prep.cfg
    result = {
        "config": cfg.name,
        "source": cfg.source,
        "variant": cfg.variant,
        "n": cfg.n,
        "k": cfg.k,
        "cells": int(st["num_cells"]),
        "flops": flops,
        "transistors": int(m.group(1)),
        "transistors_complete": complete,
        "cell_breakdown": breakdown,
        "yosys_version": creator,
        "seconds": round(seconds, 2),
        "flow": "synth -flatten; dfflegalize -cell $_DFF_P_ x; stat -tech cmos",
        "parameters": prep.params,
    }
    dest = Path(results_dir) / cfg.name
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "area.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def format_table(rows: list[dict]) -> str:
    head = f"{'config':<28} {'variant':<9} {'N':>5} {'K':>5} {'cells':>9} {'flops':>7} {'transistors':>12} {'seconds':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['config']:<28} {r['variant']:<9} {r['n']:>5} {r['k']:>5} {r['cells']:>9} "
                     f"{r['flops']:>7} {r['transistors']:>12}{'' if r['transistors_complete'] else '+'} "
                     f"{r['seconds']:>8.1f}")
    by_name = {r["config"]: r for r in rows}
    full = by_name.get("paper_n10_full")
    if full:
        for name, paper in (("paper_n10_decision", 0.40), ("paper_n10_top4", 0.59)):
            if name in by_name:
                r = by_name[name]
                lines.append(f"{name}/paper_n10_full: transistors {r['transistors'] / full['transistors']:.2f}, "
                             f"cells {r['cells'] / full['cells']:.2f} (paper, um^2 at 90 nm: {paper:.2f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", default=[],
                    help="configuration name (configs/NAME.toml) or path to a .toml; repeatable")
    ap.add_argument("--all", action="store_true", help="every configuration in configs/")
    ap.add_argument("--results", type=Path, default=RESULTS_DIR, help="results root (default results/)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds allowed per Yosys run")
    args = ap.parse_args(argv)
    configs = list(args.config) + (list_configs() if args.all else [])
    if not configs:
        ap.error("give --config NAME|PATH (repeatable) or --all")
    rows = []
    for c in configs:
        try:
            r = synth_one(c, args.results, args.timeout)
        except (ConfigError, ToolError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{r['config']}: {r['cells']} cells, {r['transistors']} transistors, "
              f"{r['seconds']:.1f} s -> {Path(args.results) / r['config'] / 'area.json'}", flush=True)
        rows.append(r)
    if len(rows) > 1:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Paper area check at N = 10: the decision and top-K units relative to the conventional softmax
(one divider per lane, the paper's baseline) and to our own K = N unit (log-domain normalisation).

    python -m scripts.report_area [--results results] [--synth] [--out results/report]

Reads results/<config>/area.json written by scripts/synth_area.py (Yosys) for paper_n10_decision,
paper_n10_top4, paper_n10_full and paper_n10_conventional; with --synth it first runs
synth_area.py for any of them that has no area.json. Writes area_check.md and area_check.json
beside the paper's figures (90 nm standard cells, Design Compiler, 4 ns):
17,293 / 43,576 = 0.40 (decision, Fig. 2a) and 25,597 / 43,576 = 0.59 (top-k, Fig. 2b).
With results/timing/<config>.json from scripts/timing.py (`make timing`: OSU 0.18 um standard
cells, OpenSTA), the um^2 ratios are given beside the transistor ratios, each unit at its own
tightest clock. A missing area is reported as missing, never filled in.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from models.config import load_config
from scripts.report import rel

REPO = Path(__file__).resolve().parent.parent
SYNTH_SCRIPT = REPO / "scripts" / "synth_area.py"
PAPER_UM2 = {"decision": 17293, "topk": 25597, "conventional": 43576}
CONFIGS = {"decision": "paper_n10_decision", "topk": "paper_n10_top4", "full": "paper_n10_full",
           "conventional": "paper_n10_conventional"}
BASES = ("conventional", "full")      # the paper's baseline, and our K = N unit of the same blocks
METRICS = ("cells", "transistors")
TIMING_FIELDS = ("area_um2", "min_period_ns", "fmax_mhz")


class AreaError(RuntimeError):
    """An area result that exists but cannot be used; the message names the file."""


def _positive_fields(p: Path, names) -> dict | None:
    """A JSON object whose fields `names` are all positive numbers; None when p does not exist."""
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise AreaError(f"{p}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise AreaError(f"{p}: expected a JSON object")
    for m in names:
        v = data.get(m)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise AreaError(f"{p}: field '{m}' must be a positive number, got {v!r}")
    return data


def read_area(results_dir: Path, name: str) -> dict | None:
    p = Path(results_dir) / name / "area.json"
    data = _positive_fields(p, METRICS)
    return None if data is None else {**data, "path": rel(p)}


def read_timing(results_dir: Path, name: str) -> dict | None:
    """The cell-library result of scripts/timing.py (results/timing/<name>.json), or None."""
    p = Path(results_dir) / "timing" / f"{name}.json"
    data = _positive_fields(p, TIMING_FIELDS)
    return None if data is None else {f: data[f] for f in TIMING_FIELDS} | {"path": rel(p)}


def synth(name: str) -> None:
    if not SYNTH_SCRIPT.is_file():
        raise AreaError(f"{rel(SYNTH_SCRIPT)} does not exist: no area can be synthesised")
    res = subprocess.run([sys.executable, "-m", "scripts.synth_area", "--config", name], cwd=REPO)
    if res.returncode != 0:
        raise AreaError(f"synth_area.py --config {name} failed (exit {res.returncode})")


def area_check(results_dir: Path) -> dict:
    """Ratios per base and metric, beside the paper's; missing areas are named, never filled in."""
    areas = {v: read_area(results_dir, c) for v, c in CONFIGS.items()}
    out = {"configs": CONFIGS, "paper_um2": PAPER_UM2,
           "paper_ratio": {v: PAPER_UM2[v] / PAPER_UM2["conventional"] for v in ("decision", "topk")},
           "areas": {v: ({m: a[m] for m in METRICS} | {"path": a["path"]} if a else None) for v, a in areas.items()},
           "missing": [CONFIGS[v] for v, a in areas.items() if a is None],
           "ratio": {b: {} for b in BASES}}
    timed = {v: read_timing(results_dir, c) for v, c in CONFIGS.items()}
    out["timing"] = timed
    out["um2_ratio"] = {b: {v: t["area_um2"] / timed[b]["area_um2"] for v, t in timed.items() if t and v != b}
                        for b in BASES if timed[b]}
    for b in BASES:
        if areas[b] is None:
            continue
        for v, a in areas.items():
            if v != b and a is not None:
                out["ratio"][b][v] = {m: a[m] / areas[b][m] for m in METRICS}
    return out


def markdown(c: dict) -> str:
    cfgs = {v: load_config(n) for v, n in CONFIGS.items()}

    def ratio(b, v):
        if v == b:
            return "1"
        r = c["ratio"][b].get(v)
        return f"{r['transistors']:.2f}" if r else "-"

    L = ["# Paper area check (N = 10)\n",
         "Area of the decision (K = 1) and top-K units relative to the conventional softmax (exp table, sum "
         "of all N terms, one divider per lane: the paper's baseline) and to our K = N unit of the same blocks "
         "(log-domain normalisation, no divider), from Yosys (`scripts/synth_area.py`: generic cells and a "
         "transistor estimate), beside the paper's 90 nm standard-cell areas (Design Compiler, 4 ns).\n",
         "| unit | config | K | normalisation | cells | transistors | / conventional | / K = N (log) | "
         "paper um^2 | paper / conventional |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for v in ("decision", "topk", "full", "conventional"):
        cfg, a = cfgs[v], c["areas"][v]
        norm = "-" if cfg.k == 1 else ("divider" if cfg.normalise == "divide" else "ln + exp table")
        paper = f"{PAPER_UM2[v]:,}" if v in PAPER_UM2 else "-"
        pr = f"{c['paper_ratio'][v]:.2f}" if v in c["paper_ratio"] else ("1" if v == "conventional" else "-")
        size = f"{a['cells']:,} | {a['transistors']:,}" if a else "missing | missing"
        L.append(f"| {v} | {cfg.name} | {cfg.k} | {norm} | {size} | {ratio('conventional', v)} | "
                 f"{ratio('full', v)} | {paper} | {pr} |")
    L.append("\nRatios are of transistor estimates (`area_check.json` has the cell ratios too).\n")
    if c["missing"]:
        L.append(f"**Missing:** no area.json for {', '.join(c['missing'])}: run `make area-check` (or "
                 f"`python -m scripts.report_area --synth`). No ratio is given for a missing unit.\n")
    r_top = c["ratio"]["full"].get("topk")
    if r_top and r_top["transistors"] > 1:
        L.append("The top-K unit is **larger** than our K = N unit: selecting the K largest exp values takes a "
                 "comparator network (`rtl/sm_topk_tree.v`, bitonic merging) that the K = N unit does not need, "
                 "since it simply adds all N values (`rtl/sm_adder_tree.v`). Against the conventional unit, "
                 "whose per-lane dividers dominate, both log-domain units are smaller.\n")
    L.append("The paper's design and ours differ (cell library, our ln-table normalisation instead of the "
             "paper's unrecovered circuit, input widths), so the ratios are what compares, not the absolute "
             "numbers. Sources: " + ", ".join(f"`{a['path']}`" for a in c["areas"].values() if a) + ".\n")
    L += _um2_section(c, cfgs)
    L.append("Regenerate: `make area-check`.")
    return "\n".join(L) + "\n"


def _um2_section(c: dict, cfgs: dict) -> list[str]:
    """The same check in um^2: OSU 0.18 um standard cells, each unit at its tightest clock."""
    if not any(c["timing"].values()):
        return ["No cell-library areas yet (`make timing`, docs/timing.md): um^2 ratios not given.\n"]
    L = ["## In um^2 (OSU 0.18 um standard cells, `make timing`)\n",
         "| unit | config | um^2 | min period ns | fmax MHz | / conventional | / K = N (log) | transistors "
         "/ conventional | paper / conventional |", "|---|---|---|---|---|---|---|---|---|"]
    for v in ("decision", "topk", "full", "conventional"):
        t = c["timing"][v]
        if t is None:
            L.append(f"| {v} | {cfgs[v].name} | missing | - | - | - | - | - | - |")
            continue
        ratio = {b: ("1" if v == b else (f"{c['um2_ratio'][b][v]:.2f}" if v in c["um2_ratio"].get(b, {}) else "-"))
                 for b in BASES}
        tr = c["ratio"]["conventional"].get(v)
        tr_text = "1" if v == "conventional" else (f"{tr['transistors']:.2f}" if tr else "-")
        pr = f"{c['paper_ratio'][v]:.2f}" if v in c["paper_ratio"] else ("1" if v == "conventional" else "-")
        L.append(f"| {v} | {cfgs[v].name} | {t['area_um2']:,.0f} | {t['min_period_ns']:.2f} | {t['fmax_mhz']:.0f} | "
                 f"{ratio['conventional']} | {ratio['full']} | {tr_text} | {pr} |")
    L.append("\nEach unit at its own tightest clock (one mapping per unit, no re-synthesis per clock). The "
             "library is 0.18 um (OSU, 1.8 V) against the paper's 90 nm at 4 ns: absolute um^2 and ns do not "
             "carry over; area ratios and which stage limits the clock do (docs/timing.md). Sources: "
             + ", ".join(f"`{t['path']}`" for t in c["timing"].values() if t) + ".\n")
    return L


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=REPO / "results")
    ap.add_argument("--out", type=Path, default=None, help="default RESULTS/report")
    ap.add_argument("--synth", action="store_true", help="synthesise the configurations that have no area.json")
    args = ap.parse_args(argv)
    out = args.out or args.results / "report"
    if args.synth and args.results.resolve() != (REPO / "results").resolve():
        ap.error("--synth writes through scripts/synth_area.py into results/: use the default --results")
    try:
        if args.synth:
            for name in CONFIGS.values():
                if read_area(args.results, name) is None:
                    synth(name)
        c = area_check(args.results)
    except AreaError as e:
        print(f"area check: error: {e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "area_check.json").write_text(json.dumps(c, indent=1))
    (out / "area_check.md").write_text(markdown(c))
    for b in BASES:
        for v, r in c["ratio"][b].items():
            paper = f" (paper {c['paper_ratio'][v]:.2f})" if b == "conventional" and v in c["paper_ratio"] else ""
            print(f"{CONFIGS[v]} / {CONFIGS[b]}: cells {r['cells']:.3f}, transistors {r['transistors']:.3f}{paper}")
    for b, rs in c["um2_ratio"].items():
        for v, r in rs.items():
            print(f"{CONFIGS[v]} / {CONFIGS[b]}: um^2 {r:.3f} (OSU 0.18 um, each at its tightest clock)")
    if c["missing"]:
        print(f"missing area for: {', '.join(c['missing'])}")
    print(f"wrote {rel(out / 'area_check.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Paper area check at N = 10: the decision and top-K units relative to the conventional softmax
(one divider per lane, the paper's baseline) and to our own K = N unit (log-domain normalisation).

    python scripts/report_area.py [--results results] [--synth] [--out results/report]

Reads results/<config>/area.json written by scripts/synth_area.py (Yosys) for paper_n10_decision,
paper_n10_top4, paper_n10_full and paper_n10_conventional; with --synth it first runs
synth_area.py for any of them that has no area.json. Writes area_check.md and area_check.json
beside the paper's figures (90 nm standard cells, Design Compiler, 4 ns):
17,293 / 43,576 = 0.40 (decision, Fig. 2a) and 25,597 / 43,576 = 0.59 (top-k, Fig. 2b).
A missing area is reported as missing, never filled in.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.config import load_config  # noqa: E402
from scripts.report import rel  # noqa: E402

SYNTH_SCRIPT = REPO / "scripts" / "synth_area.py"
PAPER_UM2 = {"decision": 17293, "topk": 25597, "conventional": 43576}
CONFIGS = {"decision": "paper_n10_decision", "topk": "paper_n10_top4", "full": "paper_n10_full",
           "conventional": "paper_n10_conventional"}
BASES = ("conventional", "full")      # the paper's baseline, and our K = N unit of the same blocks
METRICS = ("cells", "transistors")


class AreaError(RuntimeError):
    """An area result that exists but cannot be used; the message names the file."""


def read_area(results_dir: Path, name: str) -> dict | None:
    p = Path(results_dir) / name / "area.json"
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise AreaError(f"{p}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise AreaError(f"{p}: expected a JSON object")
    for m in METRICS:
        v = data.get(m)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise AreaError(f"{p}: field '{m}' must be a positive number, got {v!r}")
    return {**data, "path": rel(p)}


def synth(name: str) -> None:
    if not SYNTH_SCRIPT.is_file():
        raise AreaError(f"{rel(SYNTH_SCRIPT)} does not exist: no area can be synthesised")
    res = subprocess.run([sys.executable, str(SYNTH_SCRIPT), "--config", name], cwd=REPO)
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
                 f"`python scripts/report_area.py --synth`). No ratio is given for a missing unit.\n")
    r_top = c["ratio"]["full"].get("topk")
    if r_top and r_top["transistors"] > 1:
        L.append("The top-K unit is **larger** than our K = N unit: selecting the K largest exp values takes a "
                 "comparator network (`rtl/sm_topk_tree.v`, bitonic merging) that the K = N unit does not need, "
                 "since it simply adds all N values (`rtl/sm_adder_tree.v`). Against the conventional unit, "
                 "whose per-lane dividers dominate, both log-domain units are smaller.\n")
    L.append("The paper's design and ours differ (cell library, our ln-table normalisation instead of the "
             "paper's unrecovered circuit, input widths), so the ratios are what compares, not the absolute "
             "numbers. Sources: " + ", ".join(f"`{a['path']}`" for a in c["areas"].values() if a) + ".\n")
    L.append("Regenerate: `make area-check`.")
    return "\n".join(L) + "\n"


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
    if c["missing"]:
        print(f"missing area for: {', '.join(c['missing'])}")
    print(f"wrote {rel(out / 'area_check.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

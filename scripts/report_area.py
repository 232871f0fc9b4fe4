#!/usr/bin/env python3
"""Paper area check: decision and top-K units relative to the full (K = N) unit at N = 10.

    python scripts/report_area.py [--results results] [--synth] [--out results/report]

Reads results/<config>/area.json written by scripts/synth_area.py (Yosys) for
paper_n10_decision, paper_n10_top4 and paper_n10_full; with --synth it first runs
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
PAPER_UM2 = {"decision": 17293, "topk": 25597, "full": 43576}
CONFIGS = {"decision": "paper_n10_decision", "topk": "paper_n10_top4", "full": "paper_n10_full"}
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
    """Ratios to the full unit per metric, beside the paper's; missing areas are named."""
    areas = {v: read_area(results_dir, c) for v, c in CONFIGS.items()}
    out = {"configs": CONFIGS, "paper_um2": PAPER_UM2,
           "paper_ratio": {v: PAPER_UM2[v] / PAPER_UM2["full"] for v in ("decision", "topk")},
           "areas": {v: ({m: a[m] for m in METRICS} | {"path": a["path"]} if a else None) for v, a in areas.items()},
           "missing": [CONFIGS[v] for v, a in areas.items() if a is None], "ratio": {}}
    if areas["full"] is not None:
        for v in ("decision", "topk"):
            if areas[v] is not None:
                out["ratio"][v] = {m: areas[v][m] / areas["full"][m] for m in METRICS}
    return out


def markdown(c: dict) -> str:
    cfgs = {v: load_config(n) for v, n in CONFIGS.items()}
    L = ["# Paper area check (N = 10)\n",
         "Area of the decision (K = 1) and top-K units relative to the full (K = N) unit built from the "
         "same blocks, from Yosys (`scripts/synth_area.py`: generic cells and a transistor estimate), beside "
         "the paper's 90 nm standard-cell areas (Design Compiler, 4 ns).\n",
         "| unit | config | K | input | cells | transistors | cells / full | transistors / full | paper um^2 | paper / conventional |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for v in ("decision", "topk", "full"):
        cfg, a = cfgs[v], c["areas"][v]
        r = c["ratio"].get(v)
        pr = f"{c['paper_ratio'][v]:.2f}" if v in c["paper_ratio"] else "1"
        if a is None:
            L.append(f"| {v} | {cfg.name} | {cfg.k} | Q({cfg.in_int_bits},{cfg.in_frac_bits}) | missing | missing | "
                     f"- | - | {PAPER_UM2[v]:,} | {pr} |")
            continue
        rc = f"{r['cells']:.2f}" if r else ("1" if v == "full" else "-")
        rt = f"{r['transistors']:.2f}" if r else ("1" if v == "full" else "-")
        L.append(f"| {v} | {cfg.name} | {cfg.k} | Q({cfg.in_int_bits},{cfg.in_frac_bits}) | {a['cells']:,} | "
                 f"{a['transistors']:,} | {rc} | {rt} | {PAPER_UM2[v]:,} | {pr} |")
    L.append("")
    if c["missing"]:
        L.append(f"**Missing:** no area.json for {', '.join(c['missing'])}: run `make area-check` (or "
                 f"`python scripts/report_area.py --synth`). No ratio is given for a missing unit.\n")
    r_top = c["ratio"].get("topk")
    if r_top and r_top["transistors"] > 1:
        L.append("Here the top-K unit is **larger** than the K = N unit: selecting the K largest exp values "
                 "takes a comparator network (`rtl/sm_topk_tree.v`, bitonic merging) that the K = N unit does "
                 "not need, since it simply adds all N values (`rtl/sm_adder_tree.v`). The paper's 0.59 is "
                 "relative to a conventional softmax design, not to a K = N unit of the same blocks.\n")
    L.append("Our K = N unit normalises in the log domain (an ln table and a second exp look-up, "
             "docs/numerics.md), with no divider, so it is itself a cheaper baseline than a conventional softmax. "
             "The paper's design and ours differ (cell library, our ln-table normalisation instead of "
             "the paper's unrecovered circuit, input widths), so the ratios are what compares, not the "
             "absolute numbers. Sources: " + ", ".join(f"`{a['path']}`" for a in c["areas"].values() if a) + ".\n")
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
    for v, r in c["ratio"].items():
        print(f"{CONFIGS[v]} / {CONFIGS['full']}: cells {r['cells']:.3f}, transistors {r['transistors']:.3f} "
              f"(paper {c['paper_ratio'][v]:.2f})")
    if c["missing"]:
        print(f"missing area for: {', '.join(c['missing'])}")
    print(f"wrote {rel(out / 'area_check.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

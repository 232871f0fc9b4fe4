"""Regression summary: results/<config>/<sim>/summary.json files -> one Markdown page (a table
per run, the testplan features per run, the real-logit dumps)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .build import REPO
from .testplan import FEATURES


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _sci(v) -> str:
    return "-" if v is None else f"{v:.2e}"


def render(sums: list[dict]) -> str:
    sums = sorted(sums, key=lambda s: (s["config"], s["sim"]))
    out = ["# Simulation regression", "",
           "| config | sim | result | vectors | mismatches | argmax q | argmax float | MSE mean | MSE max | "
           "coverage | vectors/s | wall s | seed |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sums:
        cov = s.get("coverage_percent")
        out.append(f"| {s['config']} | {s['sim']} | {'PASS' if s['passed'] else '**FAIL**'} | {s['vectors']} | "
                   f"{s['mismatches']} | {_pct(s['argmax_agreement_quantized'])} | {_pct(s['argmax_agreement_float'])} | "
                   f"{_sci(s['mse_mean'])} | {_sci(s['mse_max'])} | {'-' if cov is None else f'{cov:.1f}%'} | "
                   f"{s['vectors_per_s']} | {s['wall_s']} | {s['seed']} |")
    fails = [s for s in sums if not s["passed"]]
    if fails:
        out += ["", "## Failures", ""]
        for s in fails:
            bad = ", ".join(f"{t} ({r['status']}, errors {r.get('errors')})"
                            for t, r in s["tests"].items() if r["status"] != "passed")
            out.append(f"- {s['config']} / {s['sim']}: {bad}; rerun `{s['rerun']}`; log `{s['log']}`")
            out += [f"  - note: {n}" for n in s.get("notes", [])]

    out += ["", "## Testplan features per run", "",
            "| feature | " + " | ".join(f"{s['config']}/{s['sim']}" for s in sums) + " |",
            "|---|" + "---|" * len(sums)]
    for i, f in enumerate(FEATURES):
        cells = []
        for s in sums:
            row = next((r for r in s.get("testplan", []) if r["feature"] == f.id), None)
            cells.append("-" if row is None else row["status"])
        out.append(f"| {f.id} {f.title} | " + " | ".join(cells) + " |")

    holes = [(s, h) for s in sums for h in [s.get("coverage_holes") or {}] if h]
    if holes:
        out += ["", "## Functional coverage holes", ""]
        for s, h in holes:
            for cp, bins in h.items():
                out.append(f"- {s['config']}/{s['sim']} `{cp}`: {', '.join(bins[:12])}{' ...' if len(bins) > 12 else ''}")

    dumps = [(s, Path(p).name, d) for s in sums for p, d in s.get("dumps", {}).items()]
    if dumps:
        out += ["", "## Real-logit dumps", "",
                "| dump | config | sim | rows replayed | argmax q | argmax float (quantisation ties / other) | "
                "MSE vs ideal p50 / p99 / max | MSE vs float softmax p50 / max | saturated values (rows) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for s, name, d in dumps:
            m, f = d["mse_vs_ideal"], d["mse_vs_softmax_float"]
            out.append(f"| {name} | {s['config']} | {s['sim']} | {d['vectors']} of {d.get('rows_in_dump', '?')} | "
                       f"{_pct(d['argmax_agreement_quantized'])} | "
                       f"{_pct(d['argmax_agreement_float'])} ({d['float_disagreements_quantisation_ties']} / "
                       f"{d['float_disagreements_other']}) | {_sci(m.get('p50'))} / {_sci(m.get('p99'))} / {_sci(m.get('max'))} | "
                       f"{_sci(f.get('p50'))} / {_sci(f.get('max'))} | "
                       f"{d.get('quantisation_saturated_values', '?')} ({d.get('quantisation_saturated_rows', '?')}) |")
    cc = [(s, s["code_coverage"]) for s in sums if s.get("code_coverage")]
    if cc:
        out += ["", "## RTL code coverage (Verilator line + toggle)", ""]
        for s, c in cc:
            kinds = ", ".join(f"{k} {d['percent']}%" for k, d in c.get("dut", {}).items())
            out.append(f"- {s['config']}/{s['sim']}: {c.get('percent', '-')}% of {c.get('points', '-')} points "
                       f"({kinds}); annotated sources in `{c.get('annotated')}`")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    files = sorted((REPO / "results").glob("*/*/summary.json"))
    print(render([json.loads(p.read_text()) for p in files]), end="")
    sys.exit(0)

"""Regression summary: results/<config>/<sim>/summary.json files -> one Markdown page (a table
per run, the testplan features per run, coverage holes, the functional coverage of each
configuration merged over its passing runs (written to results/<config>/coverage_merged.xml),
the real-logit dumps, RTL code coverage)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .build import REPO
from .coverage import merge, read_export
from .testplan import FEATURES


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _sci(v) -> str:
    return "-" if v is None else f"{v:.2e}"


def merged_coverage(sums: list[dict]) -> list[dict]:
    """The functional coverage of the passing runs of each configuration (simulators, seeds),
    merged by tb.coverage.merge into coverage_merged.xml beside the runs' folders."""
    groups: dict[Path, list[dict]] = {}
    for s in sums:
        xml = Path(s["log"]).parent / "coverage.xml"
        if s["passed"] and xml.is_file():
            groups.setdefault(xml.parent.parent, []).append(s)
    out = []
    for folder, runs in sorted(groups.items()):
        if len(runs) < 2:
            continue
        row = {"config": runs[0]["config"], "runs": [s["sim"] for s in runs],
               "file": str(folder / "coverage_merged.xml")}
        try:
            merge(Path(row["file"]), [Path(s["log"]).parent / "coverage.xml" for s in runs], log=lambda *a: None)
            row.update(read_export(Path(row["file"])))
        except ValueError as e:          # e.g. stale results of another version of the bins
            row["error"] = str(e)
        out.append(row)
    return out


def render(sums: list[dict]) -> str:
    sums = sorted(sums, key=lambda s: (s["config"], s["sim"]))
    sections = (_runs, _failures, _features, _holes, _merged, _dumps, _code_coverage)
    return "\n".join(line for section in sections for line in section(sums)) + "\n"


def _runs(sums: list[dict]) -> list[str]:
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
    return out


def _failures(sums: list[dict]) -> list[str]:
    fails = [s for s in sums if not s["passed"]]
    out = ["", "## Failures", ""] if fails else []
    for s in fails:
        bad = ", ".join(f"{t} ({r['status']}, errors {r.get('errors')})"
                        for t, r in s["tests"].items() if r["status"] != "passed")
        out.append(f"- {s['config']} / {s['sim']}: {bad}; rerun `{s['rerun']}`; log `{s['log']}`")
        out += [f"  - note: {n}" for n in s.get("notes", [])]
    return out


def _features(sums: list[dict]) -> list[str]:
    out = ["", "## Testplan features per run", "",
           "| feature | " + " | ".join(f"{s['config']}/{s['sim']}" for s in sums) + " |",
           "|---|" + "---|" * len(sums)]
    for f in FEATURES:
        cells = []
        for s in sums:
            row = next((r for r in s.get("testplan", []) if r["feature"] == f.id), None)
            cells.append("-" if row is None else row["status"])
        out.append(f"| {f.id} {f.title} | " + " | ".join(cells) + " |")
    return out


def _holes(sums: list[dict]) -> list[str]:
    holes = [(s, h) for s in sums for h in [s.get("coverage_holes") or {}] if h]
    out = ["", "## Functional coverage holes", ""] if holes else []
    for s, h in holes:
        for cp, bins in h.items():
            out.append(f"- {s['config']}/{s['sim']} `{cp}`: {', '.join(bins[:12])}{' ...' if len(bins) > 12 else ''}")
    return out


def _merged(sums: list[dict]) -> list[str]:
    merged = merged_coverage(sums)
    out = ["", "## Functional coverage merged over the passing runs of a configuration", "",
           "| config | runs | merged coverage | holes left | file |", "|---|---|---|---|---|"] if merged else []
    for m in merged:
        holes = "; ".join(f"`{cp}`: {', '.join(b[:6])}{' ...' if len(b) > 6 else ''}"
                          for cp, b in m.get("holes", {}).items()) or "-"
        pct = f"{m['percent']:.1f}%" if "percent" in m else f"not merged: {m['error']}"
        out.append(f"| {m['config']} | {', '.join(m['runs'])} | {pct} | {holes} | `{m['file']}` |")
    return out


def _dumps(sums: list[dict]) -> list[str]:
    dumps = [(s, Path(p).name, d) for s in sums for p, d in s.get("dumps", {}).items()]
    out = []
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
    return out


def _code_coverage(sums: list[dict]) -> list[str]:
    cc = [(s, s["code_coverage"]) for s in sums if s.get("code_coverage")]
    out = []
    if cc:
        out += ["", "## RTL code coverage (Verilator line + toggle)", ""]
        for s, c in cc:
            kinds = ", ".join(f"{k} {d['percent']}%" for k, d in c.get("dut", {}).items())
            out.append(f"- {s['config']}/{s['sim']}: {c.get('percent', '-')}% of {c.get('points', '-')} points "
                       f"({kinds}); annotated sources in `{c.get('annotated')}`")
    return out


if __name__ == "__main__":
    files = sorted((REPO / "results").glob("*/*/summary.json"))
    print(render([json.loads(p.read_text()) for p in files]), end="")
    sys.exit(0)

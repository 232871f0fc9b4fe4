#!/usr/bin/env python3
"""Accuracy reports: one Markdown page (with PNG plots) per dump and configuration.

    python -m scripts.report [--results results] [--out results/report]
                             [--dump data/x.npz ...] [--dump-from probabilities] [--dump-map K:logits,...]
                             [--config NAME_OR_TOML ...] [--table-rows 3]

Every per-vector figure comes from the bit-accurate model (models/) run on the dump: the RTL
matches that model bit for bit (docs/numerics.md), and the simulation summaries found under
results/<config>/<sim>/summary.json say whether it did on the runs that were made. A report
quotes those summaries and says plainly when there is none. The metrics are the model's own
(models.reference): nothing is re-implemented here.

Pairing (when --config is not given): a dump is reported on every configuration whose N equals
the dump's lane count; if there is none, on the configurations with the smallest N that fits
(the dump is padded with masked lanes by models.dumps.pad_to). With --config, a dump that does not
fit a named configuration is listed under "Not reported" and the other pairs are reported.

A simulation summary's figures are quoted as this dump's result only when the summary records
the dump with the same content hash (summary['dumps'][path]['sha256'] == sha256 of the file);
a run that replayed another file, or a file of the same name whose hash is not recorded or
differs, is named as such and never quoted as this dump's result.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.config import ConfigError, SoftmaxConfig, list_configs, load_config
from models.datapath import ModelResult, run_model, to_float
from models.dumps import Dump, DumpError, dump_sha256, load_dump, open_dump_arg, pad_to  # noqa: F401 (load_dump: tests)
from models.quantize import QuantReport, quantize
from models.reference import (ArgmaxAgreement, VectorMetrics, argmax_agreement,
                              first_argmax, ideal, softmax, vector_metrics)

REPO = Path(__file__).resolve().parent.parent

DATA_DIR = REPO / "data"
RESULTS_DIR = REPO / "results"
TOP_K_TABLE = 5                    # Table-1 style listing: the top-5 outputs
BINS_PER_DECADE = 4                # log-x histogram resolution
SUMMARY_FIELDS = ("vectors", "mismatches", "argmax_agreement_quantized", "argmax_agreement_float",
                  "mse_mean", "mse_max", "coverage_percent", "seed", "wall_s", "vectors_per_s")


class ReportError(RuntimeError):
    """A report cannot be made; the message names the file or the pairing at fault."""


# ---- evaluation on a dump (shared with scripts/sweep.py) ----------------------------------------

@dataclass(frozen=True)
class Evaluation:
    cfg: SoftmaxConfig
    dump: Dump                    # padded to cfg.n lanes
    codes: np.ndarray             # quantised inputs [M, N]
    quant: QuantReport
    result: ModelResult           # the bit-accurate unit
    y: np.ndarray                 # unit outputs as reals [M, N]
    ref_softmax: np.ndarray       # float softmax of the original logits
    ref_ideal: np.ndarray         # the variant's float function on the quantised inputs
    vs_softmax: VectorMetrics
    vs_ideal: VectorMetrics
    agree: ArgmaxAgreement        # from the argmax port
    agree_values: ArgmaxAgreement  # argmax read off the output values
    live_rows: np.ndarray         # bool [M]: rows with at least one live lane

    @property
    def vectors(self) -> int:
        return int(self.live_rows.sum())


def evaluate(cfg: SoftmaxConfig, dump: Dump) -> Evaluation:
    """Quantise a dump, run the bit-accurate model and compute the per-vector metrics."""
    if dump.n > cfg.n:
        raise ReportError(f"{dump.path}: {dump.n} lanes do not fit configuration '{cfg.name}' (N={cfg.n})")
    d = pad_to(dump, cfg.n)
    codes, quant = quantize(cfg, d.logits, d.mask)
    res = run_model(cfg, codes, d.mask)
    y = to_float(cfg, res.y)
    ref_sm = softmax(d.logits, d.mask)
    ref_id = ideal(cfg, codes * 2.0 ** -cfg.in_frac_bits, d.mask)
    return Evaluation(
        cfg=cfg, dump=d, codes=codes, quant=quant, result=res, y=y,
        ref_softmax=ref_sm, ref_ideal=ref_id,
        vs_softmax=vector_metrics(y, ref_sm, d.mask), vs_ideal=vector_metrics(y, ref_id, d.mask),
        agree=argmax_agreement(res.argmax, codes, d.logits, d.mask),
        agree_values=argmax_agreement(first_argmax(y, d.mask), codes, d.logits, d.mask),
        live_rows=d.mask.any(axis=1))


def stats(v: np.ndarray) -> dict[str, float]:
    """mean / median / 99th percentile / max of a per-vector metric (over live rows)."""
    v = np.asarray(v, np.float64)
    if v.size == 0:
        return {"mean": math.nan, "median": math.nan, "p99": math.nan, "max": math.nan}
    return {"mean": float(v.mean()), "median": float(np.median(v)),
            "p99": float(np.percentile(v, 99)), "max": float(v.max())}


def log_histogram(values: np.ndarray, bins_per_decade: int = BINS_PER_DECADE) -> dict:
    """Histogram on log-spaced bins (whole decades). Zeros cannot sit on a log axis: they are
    counted apart, so zeros + sum(counts) == len(values) always."""
    v = np.asarray(values, np.float64)
    if (v < 0).any() or not np.isfinite(v).all():
        raise ValueError("log_histogram: values must be finite and >= 0")
    pos = v[v > 0]
    if pos.size == 0:
        return {"edges": [], "counts": [], "zeros": int(v.size), "total": int(v.size)}
    lo = math.floor(math.log10(pos.min()))
    hi = math.ceil(math.log10(pos.max()))
    if hi <= lo:
        hi = lo + 1
    edges = np.logspace(lo, hi, (hi - lo) * bins_per_decade + 1)
    edges[0] = min(edges[0], pos.min())       # guard float rounding at the decade ends
    edges[-1] = max(edges[-1], pos.max())
    counts, _ = np.histogram(pos, edges)
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist(),
            "zeros": int(v.size - pos.size), "total": int(v.size)}


# ---- simulation summaries ----------------------------------------------------------------------

def find_summaries(results_dir: Path, cfg_name: str) -> list[dict]:
    """Every results/<config>/<sim>/summary.json, read and checked to be a JSON object."""
    out = []
    for p in sorted((Path(results_dir) / cfg_name).glob("*/summary.json")):
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ReportError(f"{p}: simulation summary is not readable JSON: {e}") from None
        if not isinstance(data, dict):
            raise ReportError(f"{p}: simulation summary must be a JSON object, got {type(data).__name__}")
        out.append({"sim": p.parent.name, "path": rel(p), "data": data})
    return out


def _dumps_run(data: dict) -> list[str]:
    """The dumps a summary says it replayed: keys of 'dumps' (tb format) or a 'dump' entry."""
    out = []
    if isinstance(data.get("dumps"), dict):
        out += [str(k) for k in data["dumps"]]
    if isinstance(data.get("dump"), str) and data["dump"]:
        out.append(data["dump"])
    elif isinstance(data.get("dump"), list):
        out += [str(x) for x in data["dump"]]
    return out


def replay_status(data: dict, dump_path: Path | None) -> tuple[str, dict | None]:
    """Whether a run summary replayed this very dump: ('this', its figures for it) when it lists a
    file of the same name with the same sha256; otherwise ('unverified' | 'different' | 'other' |
    'none', None): same name without a recorded hash, same name with another hash, other files
    only, no dump at all."""
    ran = _dumps_run(data)
    if dump_path is None or not ran:
        return "none", None
    entries = data.get("dumps") if isinstance(data.get("dumps"), dict) else {}
    same = [(k, v) for k, v in entries.items() if Path(str(k)).name == Path(dump_path).name]
    if not same and Path(dump_path).name in [Path(x).name for x in ran]:
        return "unverified", None
    if not same:
        return "other", None
    want = dump_sha256(dump_path)
    for _, v in same:
        if isinstance(v, dict) and v.get("sha256") == want:
            return "this", v
    if any(isinstance(v, dict) and v.get("sha256") for _, v in same):
        return "different", None
    return "unverified", None


def summary_verdict(s: dict, dump_path: Path | None) -> str:
    d = s["data"]
    mm, vec = d.get("mismatches"), d.get("vectors")
    if isinstance(mm, bool) or isinstance(vec, bool) or not isinstance(mm, int) or not isinstance(vec, int):
        verdict = "does not report integer 'vectors' and 'mismatches': no verdict can be drawn from it"
    elif vec == 0:
        verdict = "ran **0 vectors**: it proves nothing"
    elif mm == 0:
        verdict = f"**0 mismatches** on {vec} vectors: the RTL matched the model bit for bit"
    else:
        verdict = f"**{mm} mismatches** on {vec} vectors: the RTL does NOT match the model"
    tests = d.get("tests")
    if isinstance(tests, dict):
        bad = sorted(t for t, v in tests.items() if isinstance(v, dict) and v.get("status") != "passed")
        if bad:
            verdict += f"; tests not passed: {', '.join(bad)}"
    names = ", ".join(Path(x).name for x in _dumps_run(d))
    status, _ = replay_status(d, dump_path)
    verdict += {
        "none": "; it names no dump, so it is not known to have run this one",
        "this": f"; it replayed this dump ({Path(str(dump_path)).name}, same sha256)",
        "unverified": f"; it replayed a file named {Path(str(dump_path)).name} but records no sha256, so it is not "
                      "known to be this dump's content",
        "different": f"; it replayed a different file named {Path(str(dump_path)).name} (another sha256), not this dump",
        "other": f"; it replayed other stimulus ({names}), not this dump",
    }[status]
    return verdict


# ---- plots -------------------------------------------------------------------------------------

def _plot_histograms(path: Path, title: str, hists: list[tuple[str, dict]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(hists), figsize=(6.2 * len(hists), 4.2), squeeze=False)
    for ax, (label, h) in zip(axes[0], hists):
        if h["counts"]:
            ax.stairs(h["counts"], h["edges"], fill=True, alpha=0.75)
            ax.set_xscale("log")
        else:
            ax.text(0.5, 0.5, "every vector has MSE = 0", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("MSE per inference")
        ax.set_ylabel("inferences")
        extra = f"\n({h['zeros']} of {h['total']} with MSE = 0, not on the log axis)" if h["zeros"] else ""
        ax.set_title(label + extra, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- the Table-1 style listing -----------------------------------------------------------------

def table_rows(ev: Evaluation, n_rows: int) -> list[int]:
    """The first n_rows live rows, then the row with the largest MSE against softmax."""
    live = np.flatnonzero(ev.live_rows)
    rows = [int(r) for r in live[:n_rows]]
    if live.size:
        worst = int(live[np.argmax(ev.vs_softmax.mse[live])])
        if worst not in rows:
            rows.append(worst)
    return rows


def class_name(dump: Dump, lane: int) -> str | None:
    """The lane's class name when the dump's meta lists them (meta['classes'], one per lane; the
    first of comma-separated synonyms), else None."""
    names = dump.meta.get("classes")
    if isinstance(names, list) and lane < len(names) and isinstance(names[lane], str):
        return names[lane].split(",")[0].strip()
    return None


def top_k_listing(ev: Evaluation, row: int, k: int = TOP_K_TABLE) -> list[dict]:
    """The k largest softmax outputs of a row (lowest lane first on ties) beside the unit's."""
    live = ev.dump.mask[row]
    sm = np.where(live, ev.ref_softmax[row], -np.inf)
    order = np.argsort(-sm, kind="stable")[: min(k, int(live.sum()))]
    lsb = 2.0 ** -ev.cfg.in_frac_bits
    return [{"rank": i + 1, "lane": int(j), "class": class_name(ev.dump, int(j)), "logit": float(ev.dump.logits[row, j]),
             "input": float(ev.codes[row, j] * lsb), "softmax": float(ev.ref_softmax[row, j]),
             "unit": float(ev.y[row, j]), "code": int(ev.result.y[row, j])}
            for i, j in enumerate(order)]


# ---- one report --------------------------------------------------------------------------------

def _fmt(v: float, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{v:.{digits}g}"


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100.0 * a / b:.2f}%)" if b else "n/a (no live vector)"


def rel(p) -> str:
    """A path relative to the repository when it is inside it (for readable, portable pages)."""
    p = Path(p).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """One CSV writer for the report, sweep and peer tables."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def md_cell(v) -> str:
    """A table cell: floats to 4 significant digits, NaN as n/a."""
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _dump_label(dump: Dump) -> str:
    return Path(dump.path).stem if dump.path is not None else "dump"


def make_report(cfg: SoftmaxConfig, dump: Dump, out_dir: Path, results_dir: Path = RESULTS_DIR,
                n_table_rows: int = 3) -> dict:
    """Write report.md, mse_hist.png and report.json under out_dir; return the JSON content."""
    ev = evaluate(cfg, dump)
    out_dir.mkdir(parents=True, exist_ok=True)
    live = ev.live_rows
    metrics = {
        "vs_softmax": {name: stats(getattr(ev.vs_softmax, name)[live]) for name in ("mse", "max_abs", "kl", "sum_err")},
        "vs_ideal": {name: stats(getattr(ev.vs_ideal, name)[live]) for name in ("mse", "max_abs")},
    }
    hist_sm = log_histogram(ev.vs_softmax.mse[live])
    hist_id = log_histogram(ev.vs_ideal.mse[live])
    _plot_histograms(out_dir / "mse_hist.png",
                     f"{_dump_label(dump)} on {cfg.name} ({cfg.variant}, K={cfg.k}, N={cfg.n}): "
                     f"{ev.vectors} inferences",
                     [("MSE vs float softmax of the logits (paper Figs. 6-11)", hist_sm),
                      (f"MSE vs the {cfg.variant} variant's float function on the quantised inputs", hist_id)])

    agree = {"vectors": ev.agree.vectors, "port_vs_quantized": ev.agree.vs_quantized,
             "port_vs_float": ev.agree.vs_float, "float_tie_disagreements": ev.agree.float_tie_disagreements,
             "float_other_disagreements": ev.agree.float_other_disagreements,
             "values_vs_quantized": ev.agree_values.vs_quantized, "values_vs_float": ev.agree_values.vs_float,
             "value_argmax_exact": bool(cfg.value_argmax_exact)}
    labels = None
    if ev.dump.labels is not None:
        lab = ev.dump.labels[live]
        labels = {"vectors": int(live.sum()),
                  "softmax_correct": int((first_argmax(ev.ref_softmax, ev.dump.mask)[live] == lab).sum()),
                  "unit_correct": int((ev.result.argmax[live] == lab).sum())}
    rows = table_rows(ev, n_table_rows)
    listing = [{"row": r, "label": (int(ev.dump.labels[r]) if ev.dump.labels is not None else None),
                "mse_vs_softmax": float(ev.vs_softmax.mse[r]), "top": top_k_listing(ev, r)} for r in rows]
    sims = find_summaries(results_dir, cfg.name)
    for s in sims:
        s["verdict"] = summary_verdict(s, dump.path)

    content = {
        "dump": rel(dump.path) if dump.path is not None else None,
        "dump_sha256": dump_sha256(dump.path) if dump.path is not None else None, "dump_meta": {k: dump.meta.get(k) for k in ("model", "dataset", "captured", "date")},
        "dump_notes": list(ev.dump.notes), "config": cfg.name, "config_fields": cfg.to_dict(),
        "variant": cfg.variant, "rows": int(ev.dump.m), "vectors": ev.vectors,
        "empty_rows": int((~live).sum()),
        "quantization": {"values": ev.quant.values, "saturated_high": ev.quant.saturated_high,
                         "saturated_low": ev.quant.saturated_low, "rows_saturated": ev.quant.rows_saturated,
                         "max_abs_input": ev.quant.max_abs_input},
        "metrics": metrics, "histogram_vs_softmax": hist_sm, "histogram_vs_ideal": hist_id,
        "argmax": agree, "labels": labels, "table": listing,
        "simulations": [{"sim": s["sim"], "path": s["path"], "verdict": s["verdict"],
                         "figures": {f: s["data"].get(f) for f in SUMMARY_FIELDS},
                         "dumps_run": _dumps_run(s["data"]),
                         "replay": replay_status(s["data"], dump.path)[0],
                         "this_dump": replay_status(s["data"], dump.path)[1]} for s in sims],
    }
    (out_dir / "report.json").write_text(json.dumps(content, indent=1))
    (out_dir / "report.md").write_text(_markdown(cfg, dump, ev, content, results_dir))
    return content


def _markdown(cfg: SoftmaxConfig, dump: Dump, ev: Evaluation, c: dict, results_dir: Path) -> str:
    L: list[str] = []
    meta = c["dump_meta"]
    L.append(f"# {_dump_label(dump)} on `{cfg.name}`\n")
    L.append(f"- Dump: `{c['dump']}`: {c['rows']} rows of {dump.n} lanes"
             + (f" (padded to N = {cfg.n} with masked lanes)" if dump.n < cfg.n else "")
             + f"; model `{meta.get('model')}`, dataset {meta.get('dataset')}.")
    if c["empty_rows"]:
        L.append(f"- {c['empty_rows']} rows have no live lane (all outputs 0 by contract) and are left out "
                 f"of every figure below: {c['vectors']} vectors are measured.")
    L.append(f"- Configuration `{cfg.name}`: {cfg.variant} variant, N = {cfg.n}, K = {cfg.k}, input Q({cfg.in_int_bits},"
             f"{cfg.in_frac_bits}) (sign included), {cfg.out_frac_bits} output fraction bits, exp table "
             f"{cfg.exp_depth} entries over [0, {cfg.exp_range:g})"
             + (f", ln table {cfg.ln_depth} entries" if cfg.uses_ln else "") + ".")
    q = c["quantization"]
    L.append(f"- Quantisation: {q['values']} live values, {q['saturated_high']} saturated high and "
             f"{q['saturated_low']} low (in {q['rows_saturated']} rows); largest |x| = {q['max_abs_input']:.4g}, "
             f"representable range [{cfg.code_min * 2.0 ** -cfg.in_frac_bits:g}, {cfg.code_max * 2.0 ** -cfg.in_frac_bits:g}].")
    L.append("")
    L.append("## Simulation (RTL)\n")
    sims = c["simulations"]
    if not sims:
        L.append(f"**No simulation summary exists** for `{cfg.name}` (nothing under "
                 f"`{rel(Path(results_dir) / cfg.name)}/*/summary.json`). The figures below come from the "
                 f"bit-accurate model only; no RTL run backs them in this report. "
                 f"Run `make sim CONFIG={cfg.name} DUMP={c['dump']}` to produce one.\n")
    else:
        L.append("Figures below come from the bit-accurate model; these RTL runs were found:\n")
        for s in sims:
            L.append(f"- `{s['sim']}` (`{s['path']}`): {s['verdict']}.")
        L.append("")
        L.append("| simulator | " + " | ".join(SUMMARY_FIELDS) + " |")
        L.append("|---|" + "---|" * len(SUMMARY_FIELDS))
        for s in sims:
            L.append(f"| {s['sim']} | " + " | ".join(
                "not reported" if s["figures"][f] is None else _fmt(s["figures"][f]) for f in SUMMARY_FIELDS) + " |")
        L.append("")
        L.append("These are the runs' totals over every test (random, corner and replayed vectors). "
                 "Where a run reports figures for this dump, they stand beside the model's:\n")
        model_mse = c["metrics"]["vs_softmax"]["mse"]
        for s in sims:
            f = s["this_dump"]
            if not f:
                continue
            sm = f.get("mse_vs_softmax_float") or {}
            L.append(f"- `{s['sim']}` on this dump: {f.get('vectors', 'n/a')} vectors, argmax agreement "
                     f"{_fmt(f.get('argmax_agreement_quantized'))} (quantised) / {_fmt(f.get('argmax_agreement_float'))} "
                     f"(float), MSE vs softmax mean {_fmt(sm.get('mean'))}, max {_fmt(sm.get('max'))} "
                     f"(model here: {c['vectors']} vectors, mean {_fmt(model_mse['mean'])}, max {_fmt(model_mse['max'])}).")
        L.append("")
    L.append("## Accuracy (bit-accurate model on the dump)\n")
    L.append("Per-vector metrics over live lanes; 'vs softmax' is against float softmax of the original "
             "logits, 'vs ideal' against the variant's own float function (eq. 18 / eq. 30) on the "
             "quantised inputs, i.e. the implementation's own error (docs/numerics.md section 5).\n")
    L.append("| metric | mean | median | p99 | max |")
    L.append("|---|---|---|---|---|")
    names = {("vs_softmax", "mse"): "MSE vs softmax", ("vs_softmax", "max_abs"): "max abs error vs softmax",
             ("vs_softmax", "kl"): "KL(softmax, y / sum y)", ("vs_softmax", "sum_err"): "abs(sum y - 1)",
             ("vs_ideal", "mse"): "MSE vs ideal", ("vs_ideal", "max_abs"): "max abs error vs ideal"}
    for ref, block in c["metrics"].items():
        for name, s in block.items():
            L.append(f"| {names[ref, name]} | {_fmt(s['mean'])} | {_fmt(s['median'])} | "
                     f"{_fmt(s['p99'])} | {_fmt(s['max'])} |")
    L.append("")
    if cfg.variant == "decision":
        L.append("The decision variant (eq. 18) outputs exp(z - z_max), not a distribution: its distance "
                 "to softmax, KL and |sum - 1| are large by design; only its argmax is meant to match.\n")
    a = c["argmax"]
    L.append("## Argmax agreement\n")
    L.append("| decision | vs softmax of the quantised inputs | vs softmax of the float logits |")
    L.append("|---|---|---|")
    L.append(f"| argmax port | {_pct(a['port_vs_quantized'], a['vectors'])} | {_pct(a['port_vs_float'], a['vectors'])} |")
    L.append(f"| read off the output values | {_pct(a['values_vs_quantized'], a['vectors'])} | "
             f"{_pct(a['values_vs_float'], a['vectors'])} |")
    L.append("")
    L.append(f"Disagreements with the float decision: {a['float_tie_disagreements']} caused by quantisation "
             f"ties (two lanes rounding to the same code), {a['float_other_disagreements']} otherwise "
             f"(e.g. saturation). The tables {'guarantee' if a['value_argmax_exact'] else 'do NOT guarantee'} "
             f"that the argmax read off the output values equals the port's (`value_argmax_exact`).")
    if c["labels"]:
        lb = c["labels"]
        L.append(f"\nAgainst the dump's labels: float softmax {_pct(lb['softmax_correct'], lb['vectors'])} correct, "
                 f"the unit {_pct(lb['unit_correct'], lb['vectors'])} correct.")
    L.append("")
    L.append("## MSE per inference\n")
    hs, hi = c["histogram_vs_softmax"], c["histogram_vs_ideal"]
    L.append("![MSE histograms](mse_hist.png)\n")
    for label, h in (("vs softmax", hs), ("vs ideal", hi)):
        if h["counts"]:
            L.append(f"MSE {label}: {h['total']} inferences; {h['zeros']} exactly 0; the others on "
                     f"{len(h['counts'])} log bins from {h['edges'][0]:.3g} to {h['edges'][-1]:.3g}; "
                     f"counts {h['counts']}.\n")
        else:
            L.append(f"MSE {label}: all {h['total']} inferences are exactly 0.\n")
    L.append("## Top-5 outputs (Table 1 style)\n")
    one = cfg.one
    for t in c["table"]:
        lab = f", label {t['label']}" if t["label"] is not None else ""
        L.append(f"Row {t['row']}{lab}, MSE vs softmax {t['mse_vs_softmax']:.3g}:\n")
        named = any(e.get("class") for e in t["top"])
        L.append("| rank | lane |" + (" class |" if named else "") + " logit | quantised input | softmax | unit | unit code |")
        L.append("|---|---|" + ("---|" if named else "") + "---|---|---|---|---|")
        for e in t["top"]:
            L.append(f"| {e['rank']} | {e['lane']} |" + (f" {e.get('class') or ''} |" if named else "")
                     + f" {e['logit']:.5g} | {e['input']:.5g} | {e['softmax']:.8f} | {e['unit']:.9f} | {e['code']}/{one} |")
        L.append("")
    if c["dump_notes"]:
        L.append("## Dump notes\n")
        L.extend(f"- {n}" for n in c["dump_notes"])
        L.append("")
    L.append(f"Regenerate: `make report` (or `python -m scripts.report --dump {c['dump']} --config {cfg.name}`).\n")
    return "\n".join(L)


# ---- pairing and the index ---------------------------------------------------------------------

def discover_dumps(data_dir: Path = DATA_DIR) -> tuple[list[Path], list[str]]:
    """data/*.npz files that hold a 'logits' array; the others are listed with the reason."""
    dumps, skipped = [], []
    for p in sorted(Path(data_dir).glob("*.npz")):
        try:
            with np.load(p, allow_pickle=False) as z:
                has = "logits" in z.files
        except Exception as e:  # an unreadable file is named, not hidden
            skipped.append(f"{rel(p)}: not readable as .npz ({e})")
            continue
        if has:
            dumps.append(p)
        else:
            skipped.append(f"{rel(p)}: not a logit dump (no 'logits' array)")
    return dumps, skipped


def default_configs(n: int, configs: list[SoftmaxConfig]) -> list[SoftmaxConfig]:
    exact = [c for c in configs if c.n == n]
    if exact:
        return exact
    fits = [c for c in configs if c.n >= n]
    if not fits:
        return []
    smallest = min(c.n for c in fits)
    return [c for c in fits if c.n == smallest]


def pair_dumps(dumps: list[Dump], config_names: list[str] | None) -> tuple[list[tuple[Dump, SoftmaxConfig]], list[str]]:
    """(dump, configuration) pairs to report, and a note for every named pair that does not fit."""
    all_cfgs = [load_config(c) for c in (config_names or list_configs())]
    pairs, notes = [], []
    for dump in dumps:
        cfgs = all_cfgs if config_names else default_configs(dump.n, all_cfgs)
        if not cfgs:
            notes.append(f"{rel(dump.path)}: no configuration has N >= {dump.n}")
        for c in cfgs:
            if dump.n > c.n:
                notes.append(f"{rel(dump.path)} ({dump.n} lanes) on {c.name}: does not fit N = {c.n}")
            else:
                pairs.append((dump, c))
    return pairs, notes


def run_reports(dump_paths: list[Path], config_names: list[str] | None, out_root: Path,
                results_dir: Path, n_table_rows: int = 3, skipped: list[str] | None = None,
                progress: bool = True, from_probabilities: bool = False, key_map: str | None = None) -> list[dict]:
    dumps = [open_dump_arg(p, from_probabilities=from_probabilities, key_map=key_map) for p in dump_paths]
    pairs, fit_notes = pair_dumps(dumps, config_names)
    notes = list(skipped or []) + fit_notes
    if not pairs:
        raise ReportError("nothing to report: no dump/configuration pair fits"
                          + (f" ({'; '.join(fit_notes)})" if fit_notes else " (see --dump and --config)"))
    from tqdm import tqdm
    made = []
    for dump, c in tqdm(pairs, desc="reports", unit="report", disable=not progress):
        out = out_root / _dump_label(dump) / c.name
        content = make_report(c, dump, out, results_dir, n_table_rows)
        content["report_dir"] = str(out)
        made.append(content)
    _write_index(out_root, made, notes, results_dir)
    return made


def _index_rtl_cell(s: dict) -> str:
    """A run's figures only when it verifiably replayed this dump (see replay_status)."""
    if s.get("replay") == "this":
        f, d = s["figures"], s["this_dump"] or {}
        return (f"{s['sim']}: {f.get('mismatches')} mismatches / {f.get('vectors')} vectors, "
                f"{d.get('vectors', 'n/a')} of them from this dump")
    why = {"unverified": "same file name, no sha256 recorded", "different": "same name, other content",
           "other": "other stimulus", "none": "names no dump"}.get(s.get("replay"), "unknown")
    return f"{s['sim']}: not this dump ({why})"


def _write_index(out_root: Path, made: list[dict], notes: list[str], results_dir: Path) -> None:
    L = ["# Accuracy reports\n",
         "One report per dump and configuration, from the bit-accurate model; the RTL column quotes "
         "the simulation summaries under `results/<config>/<sim>/summary.json`.\n",
         "| dump | config | vectors | MSE vs softmax (mean) | MSE vs ideal (max) | argmax vs float | RTL runs |",
         "|---|---|---|---|---|---|---|"]
    for c in made:
        link = Path(c["report_dir"]).relative_to(out_root) / "report.md"
        a = c["argmax"]
        sims = c["simulations"]
        rtl = "; ".join(_index_rtl_cell(s) for s in sims) if sims else "none found"
        L.append(f"| {Path(c['dump']).stem} | [{c['config']}]({link}) | {c['vectors']} | "
                 f"{_fmt(c['metrics']['vs_softmax']['mse']['mean'])} | {_fmt(c['metrics']['vs_ideal']['mse']['max'])} | "
                 f"{_pct(a['port_vs_float'], a['vectors'])} | {rtl} |")
    L.append("")
    for extra, title in ((Path(results_dir) / "report" / "area_check.md", "Paper area check"),
                         (Path(results_dir) / "sweep" / "small" / "sweep.md", "Design-space sweep (small grid)"),
                         (Path(results_dir) / "sweep" / "full" / "sweep.md", "Design-space sweep (full grid)"),
                         (Path(results_dir) / "peer" / "peer.md", "Peer comparison (hls4ml)")):
        if extra.is_file():
            L.append(f"- {title}: `{rel(extra)}`")
        else:
            L.append(f"- {title}: not generated yet (`{rel(extra)}` does not exist)")
    if notes:
        L.append("\n## Not reported\n")
        L.extend(f"- {n}" for n in notes)
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / "index.md").write_text("\n".join(L) + "\n")


def add_dump_options(ap: argparse.ArgumentParser) -> None:
    """--dump-from / --dump-map: replay another tool's file directly (models.dumps.open_dump_arg)."""
    ap.add_argument("--dump-from", choices=("logits", "probabilities"), default="logits",
                    help="the dumps hold softmax probabilities: convert with ln (docs/dumps.md)")
    ap.add_argument("--dump-map", default=None, help="key map for another tool's file, e.g. predictions:logits,ground_truth:labels")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS_DIR, help="where the runs' summaries are")
    ap.add_argument("--out", type=Path, default=None, help="report directory (default RESULTS/report)")
    ap.add_argument("--dump", type=Path, action="append", help="dump .npz (repeatable; default: data/*.npz)")
    add_dump_options(ap)
    ap.add_argument("--config", action="append", help="configuration name or TOML (repeatable)")
    ap.add_argument("--table-rows", type=int, default=3, help="rows in the top-5 listing (plus the worst)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.table_rows < 0:
        ap.error("--table-rows must be >= 0")
    out = args.out or args.results / "report"
    if args.dump:
        dumps, skipped = args.dump, []
    else:
        dumps, skipped = discover_dumps()
    try:
        made = run_reports(dumps, args.config, out, args.results, args.table_rows, skipped,
                           progress=not args.no_progress, from_probabilities=args.dump_from == "probabilities",
                           key_map=args.dump_map)
    except (ReportError, DumpError, ConfigError) as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(made)} report(s); index: {rel(out / 'index.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

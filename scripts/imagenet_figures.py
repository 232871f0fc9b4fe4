"""The paper's accuracy figures at N = 1000 on the ImageNet dump, from the bit-accurate model.

    python -m scripts.imagenet_figures [--dump data/imagenet_lite0_logits.npz]
        [--config imagenet_n1000_decision --config imagenet_n1000_top5 --config imagenet_n1000_full]
        [--image chelsea] [--out results/imagenet]

Writes to --out: `mse_hist.png` (per-inference MSE against float softmax, one panel per unit:
the paper's Figs. 6-11), `figures.md` (a Table-1 style top-5 listing of one image's standard
view with class names and every unit's outputs; MSE, max abs error, |sum - 1| and argmax
agreement, Theorem 1, per unit; mean MSE per photograph) and `figures.json`. Every figure comes
from scripts.report.evaluate (models/: quantise, run the model, models.reference metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from models.config import ConfigError, load_config
from models.dumps import DumpError, load_dump
from scripts.report import (
    Evaluation, ReportError, _plot_histograms, class_name, evaluate, log_histogram, md_cell, rel, stats,
)

DEFAULT_DUMP = Path("data/imagenet_lite0_logits.npz")
DEFAULT_CONFIGS = ("imagenet_n1000_decision", "imagenet_n1000_top5", "imagenet_n1000_full")
STANDARD_VIEW = "s0.875_g1_x0_y0_plain"


def unit_summary(ev: Evaluation) -> dict:
    live = ev.live_rows
    a = ev.agree
    return {
        "config": ev.cfg.name, "variant": ev.cfg.variant, "k": ev.cfg.k, "out_frac_bits": ev.cfg.out_frac_bits,
        "vectors": ev.vectors,
        "mse_vs_softmax": stats(ev.vs_softmax.mse[live]), "max_abs_vs_softmax": stats(ev.vs_softmax.max_abs[live]),
        "abs_sum_err": stats(np.abs(ev.vs_softmax.sum_err[live])), "mse_vs_ideal": stats(ev.vs_ideal.mse[live]),
        "argmax_port_vs_quantized": a.vs_quantized, "argmax_port_vs_float": a.vs_float,
        "float_tie_disagreements": a.float_tie_disagreements, "float_other_disagreements": a.float_other_disagreements,
        "saturated_values": ev.quant.saturated_high + ev.quant.saturated_low,
    }


def pick_row(images: np.ndarray, views: np.ndarray, image: str) -> int:
    hits = np.flatnonzero((images == image) & (views == STANDARD_VIEW))
    if hits.size != 1:
        raise ReportError(f"the dump has {hits.size} standard view(s) of image {image!r}, need exactly one")
    return int(hits[0])


def listing(evs: list[Evaluation], row: int, k: int = 5) -> list[dict]:
    """Top-k classes of float softmax for one row, with every unit's output on them."""
    ev0 = evs[0]
    order = np.argsort(-ev0.ref_softmax[row], kind="stable")[:k]
    return [{"lane": int(j), "class": class_name(ev0.dump, int(j)), "logit": float(ev0.dump.logits[row, j]),
             "softmax": float(ev0.ref_softmax[row, j]),
             **{ev.cfg.name: float(ev.y[row, j]) for ev in evs}} for j in order]


def per_image(evs: list[Evaluation], images: np.ndarray) -> list[dict]:
    out = []
    for name in sorted(set(images.tolist())):
        rows = images == name
        out.append({"image": name, "rows": int(rows.sum()),
                    "top1_softmax_mean": float(evs[0].ref_softmax[rows].max(axis=1).mean()),
                    **{ev.cfg.name: float(ev.vs_softmax.mse[rows].mean()) for ev in evs}})
    return out


def markdown(dump_path: Path, units: list[dict], row: int, image: str, top: list[dict], images: list[dict]) -> str:
    names = [u["config"] for u in units]
    L = [f"# N = 1000 figures: `{rel(dump_path)}`\n",
         f"Bit-accurate model (models/) on {units[0]['vectors']} rows; errors against float softmax of the "
         "original logits. Regenerate: `make imagenet-figures`.\n",
         "![MSE histograms](mse_hist.png)\n",
         "| config | variant | K | OF | MSE mean | MSE median | MSE p99 | MSE max | max abs (max) | mean abs(sum-1) "
         "| argmax port = softmax(quantised) | = float softmax (ties / other) | MSE vs ideal, max |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for u in units:
        m = u["mse_vs_softmax"]
        L.append(f"| {u['config']} | {u['variant']} | {u['k']} | {u['out_frac_bits']} | {md_cell(m['mean'])} | "
                 f"{md_cell(m['median'])} | {md_cell(m['p99'])} | {md_cell(m['max'])} | "
                 f"{md_cell(u['max_abs_vs_softmax']['max'])} | {md_cell(u['abs_sum_err']['mean'])} | "
                 f"{u['argmax_port_vs_quantized']}/{u['vectors']} | {u['argmax_port_vs_float']}/{u['vectors']} "
                 f"({u['float_tie_disagreements']} / {u['float_other_disagreements']}) | {md_cell(u['mse_vs_ideal']['max'])} |")
    L += ["", f"## Top-5 of `{image}`, standard view (row {row})\n",
          "| lane | class | logit | softmax | " + " | ".join(names) + " |",
          "|---|---|---|---|" + "---|" * len(names)]
    for e in top:
        L.append(f"| {e['lane']} | {e['class'] or ''} | {e['logit']:.4f} | {e['softmax']:.6f} | "
                 + " | ".join(f"{e[n]:.6f}" for n in names) + " |")
    L += ["", "## Mean MSE vs softmax per photograph (all its views)\n",
          "| image | rows | mean top-1 softmax | " + " | ".join(names) + " |",
          "|---|---|---|" + "---|" * len(names)]
    for r in images:
        L.append(f"| {r['image']} | {r['rows']} | {r['top1_softmax_mean']:.3f} | " + " | ".join(md_cell(r[n]) for n in names) + " |")
    return "\n".join(L) + "\n"


def make_figures(dump_path: Path, config_names: list[str], image: str, out: Path) -> dict:
    dump = load_dump(dump_path)
    for key in ("row_image", "row_view"):
        if key not in dump.rows:
            raise ReportError(f"{dump_path}: no '{key}' per-row array (an ImageNet capture dump has it)")
    images, views = dump.rows["row_image"].astype(str), dump.rows["row_view"].astype(str)
    evs = [evaluate(load_config(c), dump) for c in config_names]
    row = pick_row(images, views, image)
    units = [unit_summary(ev) for ev in evs]
    out.mkdir(parents=True, exist_ok=True)
    _plot_histograms(out / "mse_hist.png", f"{dump_path.stem}: {evs[0].vectors} inferences, N = {evs[0].cfg.n}",
                     [(f"{ev.cfg.name} ({ev.cfg.variant}, K={ev.cfg.k}): MSE vs softmax",
                       log_histogram(ev.vs_softmax.mse[ev.live_rows])) for ev in evs])
    content = {"dump": rel(dump_path), "units": units, "row": row, "image": image,
               "top5": listing(evs, row), "per_image": per_image(evs, images)}
    (out / "figures.json").write_text(json.dumps(content, indent=1))
    (out / "figures.md").write_text(markdown(dump_path, units, row, image, content["top5"], content["per_image"]))
    return content


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dump", type=Path, default=DEFAULT_DUMP)
    ap.add_argument("--config", action="append", help=f"configuration (repeatable; default {', '.join(DEFAULT_CONFIGS)})")
    ap.add_argument("--image", default="chelsea", help="the photograph whose standard view is listed")
    ap.add_argument("--out", type=Path, default=Path("results/imagenet"))
    args = ap.parse_args(argv)
    try:
        make_figures(args.dump, args.config or list(DEFAULT_CONFIGS), args.image, args.out)
    except (ReportError, DumpError, ConfigError) as exc:
        print(f"imagenet_figures: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {rel(args.out / 'figures.md')}, mse_hist.png, figures.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

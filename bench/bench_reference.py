"""Benchmark: the fxpmath reference (models.fxp_reference) beside the numpy model
(models.datapath), in one run, on the same blocks.

    .venv/bin/python -m bench.bench_reference [--repeat 5]

Prints microseconds per vector for both and their ratio: the cost of checking a simulation
with the reference instead of the model (the scoreboard calls one of them per block of
observed inputs).
"""
import argparse

import numpy as np

from bench.bench_quantize import best_seconds
from models.config import load_config
from models.datapath import run_model
from models.fxp_reference import run_reference

CASES = [("paper_n10_decision", 4096), ("paper_n10_top4", 4096), ("paper_n10_full", 4096),
         ("paper_n10_conventional", 4096), ("attn_n64_top8", 1024), ("attn_n64_full", 1024),
         ("imagenet_n1000_decision", 128)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'config':26s} {'vectors':>7s} {'model us/vec':>13s} {'fxp us/vec':>11s} {'ratio':>7s}")
    for name, m in CASES:
        cfg = load_config(name)
        codes = rng.integers(cfg.code_min, cfg.code_max + 1, (m, cfg.n))
        codes[::2] = rng.integers(-64, 64, (len(codes[::2]), cfg.n))      # close values, live sums
        mask = rng.random((m, cfg.n)) < 0.9
        model, ref = best_seconds([lambda: run_model(cfg, codes, mask), lambda: run_reference(cfg, codes, mask)],
                                  args.repeat)
        print(f"{name:26s} {m:7d} {model / m * 1e6:13.2f} {ref / m * 1e6:11.1f} {ref / model:6.0f}x")


if __name__ == "__main__":
    main()

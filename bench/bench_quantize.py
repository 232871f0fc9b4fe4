"""Benchmark: the fast numpy quantiser beside its fxpmath reference, in one run.

    .venv/bin/python -m bench.bench_quantize [--repeat 5]

Prints million values per second for models.quantize.quantize and quantize_fxp on the same
batches (gaussian logits, 5% beyond the input range), and their ratio. Both give identical
codes (tests/test_quantize.py); the ratio is why the stimulus uses the numpy one.
"""
import argparse
import time

import numpy as np

from models.config import load_config
from models.quantize import quantize, quantize_fxp

CASES = [("paper_n10_decision", 20_000), ("attn_n64_full", 4_000), ("imagenet_n1000_decision", 200)]


def best_seconds(fns, repeat: int) -> list[float]:
    """Best time of each function over `repeat` rounds, the functions taking turns in each round
    (so that a change of load on a shared machine hits both sides of a ratio alike)."""
    for fn in fns:
        fn()                                               # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'config':26s} {'values':>8s} {'numpy Mval/s':>13s} {'fxpmath Mval/s':>15s} {'ratio':>7s}")
    for name, m in CASES:
        cfg = load_config(name)
        top = (cfg.code_max + 1) * 2.0 ** -cfg.in_frac_bits
        x = rng.normal(0, top / 2, (m, cfg.n))              # about 5% of the values saturate
        mask = rng.random(x.shape) < 0.9
        fast, ref = best_seconds([lambda: quantize(cfg, x, mask), lambda: quantize_fxp(cfg, x, mask)],
                                 args.repeat)
        print(f"{name:26s} {x.size:8d} {x.size / fast / 1e6:13.1f} {x.size / ref / 1e6:15.2f} "
              f"{ref / fast:6.0f}x")


if __name__ == "__main__":
    main()

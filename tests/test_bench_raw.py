"""The raw simulator reference of bench/bench_raw.py drives the DUT it claims to: on Icarus, the
XOR of its outputs equals the one predicted from the reference model (models.datapath) fed with
the same xorshift sequence, recomputed here from the generator's definition in raw_top.v."""
from __future__ import annotations

import numpy as np
import pytest

from bench.bench_raw import build_raw, run_raw
from models.config import load_config
from models.datapath import run_model

MASK64 = (1 << 64) - 1


def _xorshift64(x: int) -> int:
    x ^= (x << 13) & MASK64
    x ^= x >> 7
    return x ^ ((x << 17) & MASK64)


def _inputs(cfg, vectors: int) -> np.ndarray:
    """The codes raw_top.v drives: generator g holds input bits [64g, 64g+64), seeded as in the top."""
    gens = (cfg.n * cfg.width + 63) // 64
    state = [0x9E3779B97F4A7C15 ^ (((1 + g) * 0xBF58476D1CE4E5B9) & MASK64) for g in range(gens)]
    codes = np.zeros((vectors, cfg.n), np.int64)
    for v in range(vectors):
        word = sum(s << (64 * g) for g, s in enumerate(state))
        lanes = [(word >> (i * cfg.width)) & ((1 << cfg.width) - 1) for i in range(cfg.n)]
        codes[v] = [c - (1 << cfg.width) if c >> (cfg.width - 1) else c for c in lanes]
        state = [_xorshift64(s) for s in state]
    return codes


def _expected_xor(cfg, vectors: int) -> tuple[str, str]:
    res = run_model(cfg, _inputs(cfg, vectors))
    acc, acc_argmax = 0, 0
    for y, a in zip(res.y, res.argmax):
        acc ^= sum(int(c) << (i * cfg.out_width) for i, c in enumerate(y))
        acc_argmax ^= int(a)
    fold = 0
    for i in range(cfg.n * cfg.out_width):
        fold ^= ((acc >> i) & 1) << (i % 64)
    return f"{fold:016x}", f"{acc_argmax:x}"


@pytest.mark.parametrize("config", ["paper_n10_decision", "paper_n10_top4"])
def test_raw_icarus_outputs_match_the_model(config):
    cfg = load_config(config)
    r = run_raw(build_raw(cfg, "icarus", log=lambda *a: None), "icarus", 300)
    assert (r["xor"], r["argmax_xor"]) == _expected_xor(cfg, 300)

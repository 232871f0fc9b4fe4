"""The vectors of each test: corner vectors first (ties for the max, all equal, the extreme
codes, one live lane, all masked), then random vectors of two kinds (uniform over the code
range, and logit-like values around zero where softmax is neither flat nor one-hot).
Replays quantise a logit dump (models.dumps.load_dump, models.quantize)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.dumps import load_dump
from models.quantize import quantize

from .design import Design, DesignError, Format

TESTS = ("byo_random", "byo_flow", "byo_reset", "byo_replay")


def corners(d: Design) -> tuple[np.ndarray, np.ndarray]:
    n, f = d.lanes, d.fmt_in
    lo, hi, one = f.code_min, f.code_max, 1 << f.frac_bits
    zero = max(lo, 0)
    rows = [np.full(n, zero), np.full(n, hi), np.full(n, lo),
            np.r_[hi, np.full(n - 1, lo)], np.r_[np.full(n - 1, lo), hi],
            np.r_[zero + one, zero + one, np.full(n - 2, zero)],           # tie for the max at 0, 1
            np.r_[np.full(n - 2, zero), hi, hi],                           # tie at the end
            np.clip(zero + np.arange(n) * max(1, one // 4), lo, hi),
            np.clip(zero + np.arange(n)[::-1], lo, hi)]
    codes = np.array(rows, np.int64)
    mask = np.ones_like(codes, bool)
    if d.mask != "none":
        codes = np.concatenate([codes, codes[:3]])
        one_live = np.zeros((3, n), bool)
        one_live[0, 0] = one_live[1, n - 1] = True               # the last row stays all masked
        mask = np.concatenate([mask, one_live])
    return codes, mask


def random_vectors(d: Design, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    f = d.fmt_in
    uniform = rng.integers(f.code_min, f.code_max + 1, size=(m, d.lanes))
    centre = 0 if f.signed else (f.code_max + 1) // 2
    spread = min(3.0 * (1 << f.frac_bits), (f.code_max - f.code_min) / 4)
    logit = np.clip(np.rint(centre + rng.normal(0, spread, size=(m, d.lanes))), f.code_min, f.code_max)
    codes = np.where(rng.random((m, 1)) < 0.5, uniform, logit).astype(np.int64)
    mask = np.ones_like(codes, bool)
    if d.mask != "none":
        mask = rng.random(codes.shape) < 0.85
    return codes, mask


class _Quant:
    """The few numbers models.quantize reads from a configuration, for a signed input format."""
    def __init__(self, f: Format):
        self.width, self.in_frac_bits, self.code_min, self.code_max = f.width, f.frac_bits, f.code_min, f.code_max


def replay_vectors(d: Design, dump: Path, max_rows: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """A dump's logits quantised to the design's input format: (codes, mask, floats, report)."""
    if not d.fmt_in.signed:
        raise DesignError(f"{d.path}: replaying logits needs a signed input format, the unit's is {d.fmt_in.text()}")
    dd = load_dump(dump)
    if dd.n != d.lanes:
        raise DesignError(f"dump {dump} has N = {dd.n} lanes, the design has {d.lanes}")
    x, mask = dd.logits[:max_rows], dd.mask[:max_rows]
    if d.mask == "none" and not mask.all():
        raise DesignError(f"dump {dump} masks lanes, but the design has no mask input")
    codes, rep = quantize(_Quant(d.fmt_in), x, mask)
    return codes, mask, x, rep.summary()


def vectors_for(d: Design, test: str, seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, TESTS.index(test)])
    c0, m0 = corners(d) if test == "byo_random" else (np.zeros((0, d.lanes), np.int64), np.zeros((0, d.lanes), bool))
    c1, m1 = random_vectors(d, max(count - len(c0), 1), rng)
    return np.concatenate([c0, c1]), np.concatenate([m0, m1])

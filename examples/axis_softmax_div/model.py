"""Bit-exact model of examples/axis_softmax_div/rtl/axis_softmax_div.v (the numbers in the
header comment of that file), written from that description, not from the project's models.

    run(codes, mask) -> (y, argmax)
codes: int [M, N] signed input codes; mask: bool [M, N] (True = live lane).
y: int64 [M, N] output codes (1.0 = 2^OUT_FRAC); argmax: int64 [M].
"""
from __future__ import annotations

import numpy as np

FW = 4
OUT_FRAC = 12
L2E = 5909                                   # round(log2(e) * 2^12)
EXP2 = np.floor(16384.0 * 2.0 ** (-np.arange(64) / 64.0) + 0.5).astype(np.int64)


def exp_codes(d: np.ndarray) -> np.ndarray:
    """e = 2^-(d * log2 e) in Q(1,14), d in input LSBs (>= 0)."""
    t = d * L2E + (1 << (FW + 11))
    return EXP2[(t >> (FW + 6)) & 63] >> np.minimum(t >> (FW + 12), 62)


def run(codes: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes, np.int64)
    mask = np.asarray(mask, bool)
    live_rows = mask.any(axis=1)
    masked = np.where(mask, codes, np.iinfo(np.int64).min)
    argmax = np.where(live_rows, masked.argmax(axis=1), 0)
    xmax = np.where(live_rows, masked.max(axis=1), 0)
    d = np.where(mask, xmax[:, None] - codes, 0)
    e = np.where(mask, exp_codes(d), 0)
    s = e.sum(axis=1, keepdims=True)
    y = np.where(s > 0, (e * (1 << OUT_FRAC) + (s >> 1)) // np.maximum(s, 1), 0)
    return y, argmax

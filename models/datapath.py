"""Bit-accurate model of the softmax unit datapath (docs/numerics.md section 3).

Vectorised over a batch with numpy integer arithmetic: no per-vector Python loops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SoftmaxConfig
from .tables import build_tables, exp_lookup


@dataclass(frozen=True)
class ModelResult:
    y: np.ndarray          # int64 [M, N]: output codes (OF fraction bits, 1.0 = cfg.one)
    argmax: np.ndarray     # int64 [M]: lowest index among the live lanes holding the max
    zmax: np.ndarray       # int64 [M]: max code (0 when no lane is live)
    e: np.ndarray          # int64 [M, N]: first exp look-up (the output for K = 1)
    s: np.ndarray | None   # int64 [M]: top-K sum (K > 1)
    l: np.ndarray | None   # int64 [M]: ln(S) in input LSBs (K > 1)


def check_codes(cfg: SoftmaxConfig, codes: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != cfg.n:
        raise ValueError(f"codes must have shape [M, {cfg.n}] for config '{cfg.name}', got {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be integers (quantise floats with models.quantize), got {codes.dtype}")
    codes = codes.astype(np.int64, copy=False)
    if codes.size and (codes.min() < cfg.code_min or codes.max() > cfg.code_max):
        raise ValueError(f"codes outside the {cfg.width}-bit signed range "
                         f"[{cfg.code_min}, {cfg.code_max}]: [{codes.min()}, {codes.max()}]")
    if mask is None:
        mask = np.ones(codes.shape, bool)
    mask = np.asarray(mask, bool)
    if mask.shape != codes.shape:
        raise ValueError(f"mask shape {mask.shape} differs from codes shape {codes.shape}")
    return codes, mask


def ln_address(cfg: SoftmaxConfig, s: np.ndarray) -> np.ndarray:
    """ln-table address of top-K sums S >= ONE (section 3 step 5): {ex, mt}.

    p = leading-one position; frexp is exact here because S < 2^53.
    """
    s = np.asarray(s, np.int64)
    p = np.frexp(s.astype(np.float64))[1].astype(np.int64) - 1
    m = cfg.ln_mant_bits
    return ((p - cfg.out_frac_bits) << m) + ((s >> (p - m)) & ((1 << m) - 1))


def divide_round(cfg: SoftmaxConfig, e: np.ndarray, s: np.ndarray) -> np.ndarray:
    """round(e * ONE / S), halves up, in integers: floor((e * ONE + floor(S / 2)) / S)."""
    return (np.asarray(e, np.int64) * cfg.one + (np.asarray(s, np.int64) >> 1)) // s


def run_model(cfg: SoftmaxConfig, codes: np.ndarray, mask: np.ndarray | None = None) -> ModelResult:
    codes, mask = check_codes(cfg, codes, mask)
    t = build_tables(cfg)
    any_live = mask.any(axis=1)

    # 1. max over live lanes; argmax returns the first (lowest) index among equal maxima.
    masked = np.where(mask, codes, cfg.code_min - 1)
    argmax = np.where(any_live, masked.argmax(axis=1), 0)
    zmax = np.where(any_live, masked.max(axis=1), 0)

    # 2-3. difference and exp look-up; masked lanes output 0.
    delta = np.where(mask, zmax[:, None] - codes, 0)
    e = np.where(mask, exp_lookup(cfg, t.exp, delta), 0)
    if cfg.k == 1:
        return ModelResult(y=e, argmax=argmax, zmax=zmax, e=e, s=None, l=None)

    # 4. sum of the K largest e (masked lanes are 0 and add nothing).
    if cfg.k == cfg.n:
        s = e.sum(axis=1)
    else:
        s = np.partition(e, cfg.n - cfg.k, axis=1)[:, cfg.n - cfg.k:].sum(axis=1)

    s_safe = np.maximum(s, cfg.one)                  # S >= ONE whenever a lane is live
    if cfg.normalise == "divide":
        # conventional softmax: y_i = round(e_i * ONE / S), one divider per lane
        y = np.where(mask, divide_round(cfg, e, s_safe[:, None]), 0)
        return ModelResult(y=y, argmax=argmax, zmax=zmax, e=e, s=s, l=None)

    # 5. ln(S) from the leading one and the M mantissa bits below it.
    l = np.where(any_live, t.ln[ln_address(cfg, s_safe)], 0)

    # 6. normalise in the log domain: exp_lookup(delta + L).
    y = np.where(mask, exp_lookup(cfg, t.exp, delta + l[:, None]), 0)
    return ModelResult(y=y, argmax=argmax, zmax=zmax, e=e, s=s, l=l)


def to_float(cfg: SoftmaxConfig, y: np.ndarray) -> np.ndarray:
    """Output codes as real values."""
    return np.asarray(y, np.float64) / cfg.one

"""Bit-accurate model of the softmax unit datapath (docs/numerics.md section 3).

Vectorised over a batch with numpy integer arithmetic: no per-vector Python loops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SoftmaxConfig
from .tables import build_tables, exp_lookup
from .variants.divide import divide_round          # noqa: F401  (re-exported: one definition)
from .variants.log_domain import ln_address        # noqa: F401  (re-exported: one definition)


@dataclass(frozen=True)
class ModelResult:
    y: np.ndarray          # int64 [M, N]: output codes (OF fraction bits, 1.0 = cfg.one)
    argmax: np.ndarray     # int64 [M]: lowest index among the live lanes holding the max
    zmax: np.ndarray       # int64 [M]: max code (0 when no lane is live)
    e: np.ndarray          # int64 [M, N]: first exp look-up (the output for K = 1)
    s: np.ndarray | None   # int64 [M]: top-K sum (K > 1)
    l: np.ndarray | None   # int64 [M]: ln(S) in input LSBs (K > 1)

    def head(self, k: int) -> "ModelResult":
        """The results of the first k vectors."""
        return ModelResult(*(None if v is None else v[:k] for v in (self.y, self.argmax, self.zmax, self.e,
                                                                      self.s, self.l)))


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

    # 4-6. the variant's normalisation (none for K = 1; the top-K sum, then ln + exp again or
    # one divider per lane): models/variants/
    norm = cfg.unit.normalise(cfg, t, e, delta, mask, any_live)
    return ModelResult(y=norm.y, argmax=argmax, zmax=zmax, e=e, s=norm.s, l=norm.l)


def to_float(cfg: SoftmaxConfig, y: np.ndarray) -> np.ndarray:
    """Output codes as real values."""
    return np.asarray(y, np.float64) / cfg.one

"""Float references (softmax, the variant's ideal function) and accuracy metrics.

All functions are vectorised over a batch [M, N]; masked lanes (mask False) take no part and
are 0 in every float output. See docs/numerics.md section 5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SoftmaxConfig

KL_FLOOR = 1e-12     # probabilities below this are floored in KL so that a 0 output stays finite


def _live(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return np.ones(np.shape(x), bool) if mask is None else np.asarray(mask, bool)


def softmax(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Exact softmax over live lanes (float64); all-masked rows give all zeros."""
    x = np.asarray(x, np.float64)
    live = _live(x, mask)
    xm = np.where(live, x, -np.inf)
    mx = np.max(xm, axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    ex = np.where(live, np.exp(xm - mx), 0.0)
    tot = ex.sum(axis=1, keepdims=True)
    return np.divide(ex, tot, out=np.zeros_like(ex), where=tot > 0)


def ideal(cfg: SoftmaxConfig, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The float function the configured variant approximates: eq. 18 (K = 1) or eq. 30 (K > 1).

    x is in real units (pass codes * 2^-FW to compare with the unit on its quantised inputs).
    """
    x = np.asarray(x, np.float64)
    live = _live(x, mask)
    xm = np.where(live, x, -np.inf)
    mx = np.max(xm, axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    ex = np.where(live, np.exp(xm - mx), 0.0)                 # eq. 18
    return cfg.unit.ideal(cfg, ex)                            # eq. 18, or eq. 30 for K > 1


def first_argmax(v: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Lowest index among the largest live values, per row (0 for an all-masked row)."""
    v = np.asarray(v)
    # integer codes stay integers (no float copy); masked lanes take a value below any code
    v = v.astype(np.int64, copy=False) if v.dtype.kind in "iub" else v.astype(np.float64, copy=False)
    low = np.iinfo(np.int64).min if v.dtype.kind == "i" else -np.inf
    live = _live(v, mask)
    return np.where(live.any(axis=1), np.where(live, v, low).argmax(axis=1), 0)


@dataclass(frozen=True)
class VectorMetrics:
    mse: np.ndarray          # [M] mean over live lanes of (y - ref)^2
    max_abs: np.ndarray      # [M] max over live lanes of |y - ref|
    kl: np.ndarray           # [M] KL(ref || y / sum y)
    sum_err: np.ndarray      # [M] |sum(y) - 1|


def vector_errors(y: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(MSE over live lanes, max |y - ref| over live lanes) per vector: the part of
    vector_metrics the scoreboard needs on every block."""
    y = np.asarray(y, np.float64)
    ref = np.asarray(ref, np.float64)
    live = _live(y, mask)
    nlive = np.maximum(live.sum(axis=1), 1)
    diff = np.where(live, y - ref, 0.0)
    return np.einsum("ij,ij->i", diff, diff) / nlive, np.abs(diff).max(axis=1)


def vector_metrics(y: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> VectorMetrics:
    """Per-vector errors of outputs y (real units) against a reference distribution ref."""
    y = np.asarray(y, np.float64)
    ref = np.asarray(ref, np.float64)
    live = _live(y, mask)
    mse, max_abs = vector_errors(y, ref, live)
    ysum = np.where(live, y, 0.0).sum(axis=1, keepdims=True)
    q = np.divide(y, ysum, out=np.zeros_like(y), where=ysum > 0)
    p = np.where(live, ref, 0.0)
    kl = np.where(p > 0, p * (np.log(np.maximum(p, KL_FLOOR)) - np.log(np.maximum(q, KL_FLOOR))), 0.0).sum(axis=1)
    return VectorMetrics(mse=mse, max_abs=max_abs, kl=kl, sum_err=np.abs(ysum[:, 0] - 1.0))


@dataclass(frozen=True)
class ArgmaxAgreement:
    vectors: int
    vs_quantized: int            # unit argmax == argmax of softmax of the quantised inputs
    vs_float: int                # unit argmax == argmax of softmax of the original floats
    float_tie_disagreements: int     # disagreements because quantisation made the top lanes equal
    float_other_disagreements: int   # any other disagreement with the float decision

    @property
    def rate_quantized(self) -> float:
        return self.vs_quantized / self.vectors if self.vectors else float("nan")

    @property
    def rate_float(self) -> float:
        return self.vs_float / self.vectors if self.vectors else float("nan")


def argmax_agreement(unit_argmax: np.ndarray, codes: np.ndarray, x_float: np.ndarray,
                     mask: np.ndarray | None = None, q_arg: np.ndarray | None = None) -> ArgmaxAgreement:
    """Compare the unit's decisions with softmax's on the quantised codes and on the floats.

    Softmax is monotone, so its argmax is the input argmax (lowest index on ties). A float
    disagreement is a quantisation tie when the float winner's code equals the max code.
    q_arg: first_argmax(codes, mask), when the caller has it already.
    """
    unit_argmax = np.asarray(unit_argmax)
    codes = np.asarray(codes)
    live = _live(codes, mask)
    rows = live.any(axis=1)            # an all-masked row has no decision to compare
    q_arg = first_argmax(codes, live) if q_arg is None else q_arg
    f_arg = first_argmax(x_float, live)
    agree_q = (unit_argmax == q_arg) & rows
    agree_f = (unit_argmax == f_arg) & rows
    # the max live code: the code at q_arg (rows without a live lane are not counted below)
    qmax = np.take_along_axis(codes, q_arg[:, None], axis=1)[:, 0]
    f_code = np.take_along_axis(codes, f_arg[:, None], axis=1)[:, 0]
    tie = rows & ~agree_f & (f_code == qmax)
    return ArgmaxAgreement(vectors=int(rows.sum()), vs_quantized=int(agree_q.sum()),
                           vs_float=int(agree_f.sum()), float_tie_disagreements=int(tie.sum()),
                           float_other_disagreements=int((rows & ~agree_f & ~tie).sum()))

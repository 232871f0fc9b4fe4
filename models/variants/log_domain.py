"""Top-K and K = N normalised in the log domain (eq. 30 without a divider):
S = sum of the K largest e -> leading one + M mantissa bits -> ln table -> L, then
y_i = exp_lookup(delta_i + L) through the exp table again (docs/numerics.md section 3)."""
from __future__ import annotations

import numpy as np

from ..tables import build_tables, exp_lookup
from .base import Normalised, Variant, topk_ideal, topk_sum
from .sums import LaneSums


def ln_address(cfg, s: np.ndarray, frac_bits: int | None = None) -> np.ndarray:
    """ln-table address of top-K sums S >= 2^F (section 3 step 5): {ex, mt}, where F is the
    sum's fraction bits (the configuration's sum_frac_bits, OF + G).

    p = leading-one position; frexp is exact here because S < 2^53.
    """
    s = np.asarray(s, np.int64)
    f = getattr(cfg, "sum_frac_bits", cfg.out_frac_bits) if frac_bits is None else frac_bits
    p = np.frexp(s.astype(np.float64))[1].astype(np.int64) - 1
    m = cfg.ln_mant_bits
    return ((p - f) << m) + ((s >> (p - m)) & ((1 << m) - 1))


class LogDomain(Variant):
    latency = 5
    uses_ln = True

    def __init__(self, name: str):
        if name not in ("topk", "full"):
            raise ValueError(f"log-domain variant is 'topk' or 'full', got {name!r}")
        self.name = name

    def normalise(self, cfg, tables, e, delta, mask, any_live) -> Normalised:
        if cfg.has_sum_table:           # the sum from its own table: OF+G fraction bits
            e = np.where(mask, exp_lookup(cfg.sum_view, tables.sum_exp, delta), 0)
        s = topk_sum(cfg, e)
        s_safe = np.maximum(s, 1 << cfg.sum_frac_bits)   # S >= ONE whenever a lane is live
        l = np.where(any_live, tables.ln[ln_address(cfg, s_safe)], 0)
        y = np.where(mask, exp_lookup(cfg, tables.exp, delta + l[:, None]), 0)
        return Normalised(y=y, s=s, l=l)

    def ideal(self, cfg, ex: np.ndarray) -> np.ndarray:
        return topk_ideal(cfg, ex)

    def value_argmax_exact(self, cfg, tables) -> bool:
        # the max lane (delta = 0) must stay above a lane one LSB below it for every offset L
        offsets = np.unique(tables.ln)
        top = exp_lookup(cfg, tables.exp, offsets)
        below = exp_lookup(cfg, tables.exp, offsets + 1)
        return bool((top > below).all())

    def directed_vectors(self, rng, cfg):
        codes, mask = ln_sweep_vectors(rng, cfg)
        return [("ln_sweep", codes, mask)] if len(codes) else []


def ln_sweep_vectors(rng: np.random.Generator, cfg, max_vectors: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Vectors whose top-K sums land in as many ln-table entries as possible.

    The max lane contributes ONE; K-1 more lanes get differences drawn so that the sum spreads
    over [ONE, K*ONE]; the model tells which entry each candidate reaches, and one vector per
    entry is kept. Entries no candidate reaches are left to the coverage report.
    """
    n, k = cfg.n, cfg.k
    t = build_tables(cfg)
    exp = t.exp
    step = 1 << cfg.exp_step_log2
    span = cfg.code_max - cfg.code_min
    cand = 40 * cfg.ln_depth
    # target share per extra lane, then the difference whose table value is closest below it
    # half the candidates aim at a mean share log-uniform over [ONE/2^16, ONE] (the sum then
    # spreads over every leading-one range), half at skewed per-lane shares
    total = np.exp2(rng.uniform(-16, 0, size=(cand, 1))) * cfg.one
    skew = rng.uniform(0, 1, size=(cand, 1)) ** rng.uniform(0.3, 3, size=(cand, 1)) * cfg.one
    share = np.where(np.arange(cand)[:, None] % 2 == 0, total, skew)
    share = share * rng.uniform(0.7, 1.3, size=(cand, k - 1))
    order = np.argsort(-exp)                             # exp is non-increasing; be explicit
    pos = np.searchsorted(-exp[order], -share)           # first entry <= share
    beyond = cfg.exp_depth * step                        # a difference past the table: e = 0
    d = order[np.minimum(pos, len(exp) - 1)] * step + rng.integers(0, step, size=share.shape)
    d = np.where((pos == len(exp)) & (beyond <= span), beyond, d)
    # some ties with the max; in a third of the candidates many (up to all K), which with small
    # differences elsewhere reaches the top of each leading-one range (S just below 2^p)
    tie_p = np.where(rng.random((cand, 1)) < 1 / 3, rng.uniform(0, 1, (cand, 1)), 0.0)
    small_p = np.where(rng.random((cand, 1)) < 1 / 3, rng.uniform(0, 0.3, (cand, 1)), 0.0)
    small = rng.integers(1, 4 * step + 1, size=share.shape)
    d = np.where(rng.random(share.shape) < small_p, small, d)
    d = np.where(rng.random(share.shape) < tie_p, 0, d).clip(0, span)
    zmax = np.minimum(cfg.code_max, cfg.code_min + span)
    zmax = np.full(cand, zmax) - rng.integers(0, 3, size=cand)
    d = np.minimum(d, zmax[:, None] - cfg.code_min)
    codes = np.full((cand, n), cfg.code_min, np.int64)
    codes[:, 0] = zmax
    codes[:, 1:k] = zmax[:, None] - d
    mask = np.ones((cand, n), bool)
    # lanes beyond the K-th sit below the table (e = 0) or are masked
    far = zmax[:, None] - (cfg.exp_depth * step)
    codes[:, k:] = np.where(far >= cfg.code_min, far, cfg.code_min)
    mask[:, k:] = far >= cfg.code_min
    # which ln entry each candidate reaches: the top-K sum of its first exp look-up
    delta = codes.max(axis=1, initial=cfg.code_min, where=mask)[:, None] - codes
    e = np.where(mask, exp_lookup(cfg.sum_view, t.sum_exp, delta), 0)
    idx = ln_address(cfg, np.maximum(topk_sum(cfg, e), 1 << cfg.sum_frac_bits))
    _, first = np.unique(idx, return_index=True)
    first = first[:max_vectors]
    perm = np.argsort(rng.random((len(first), n)), axis=1)
    return (np.take_along_axis(codes[first], perm, axis=1), np.take_along_axis(mask[first], perm, axis=1))


def reachable_ln_entries(cfg: SoftmaxConfig) -> list[int]:
    """ln-table entries some input can reach: S = ONE (the max lane) + the sum of K-1 lane values.
    The address grows with S, so a run of sums reaches every address between its ends'."""
    if not cfg.uses_ln:
        return []
    if cfg.has_sum_table:
        # the sums are 2^G times finer than the exp table's values (and LaneSums' bitsets that
        # much longer): the goal is every address between S = ONE and S = K*ONE, an upper set
        # whose unreachable entries, if any, show as holes rather than as undefined bins
        one = 1 << cfg.sum_frac_bits
        return list(range(int(ln_address(cfg, one)), int(ln_address(cfg, cfg.k * one)) + 1))
    starts, ends = LaneSums(cfg, cfg.k - 1).runs(cfg.k - 1)
    a, b = ln_address(cfg, cfg.one + starts), ln_address(cfg, cfg.one + ends)
    marks = np.zeros(int(b.max()) + 2, np.int64)
    np.add.at(marks, a, 1)
    np.add.at(marks, b + 1, -1)
    return np.flatnonzero(np.cumsum(marks) > 0).tolist()

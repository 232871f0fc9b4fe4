"""The conventional full softmax the paper compares against (normalise = "divide", K = N):
y_i = round(e_i * ONE / S), one divider per lane."""
from __future__ import annotations

import numpy as np

from ..tables import build_tables, exp_lookup
from .base import Normalised, Variant, topk_ideal, topk_sum
from .sums import LaneSums, lane_values

ROUNDING = ("exact", "down", "half_up", "up")      # of the divider's quotient e * ONE / S


def divide_round(cfg, e: np.ndarray, s: np.ndarray) -> np.ndarray:
    """round(e * ONE / S), halves up, in integers: floor((e * ONE + floor(S / 2)) / S)."""
    return (np.asarray(e, np.int64) * cfg.one + (np.asarray(s, np.int64) >> 1)) // s


class Divide(Variant):
    name = "conventional"
    latency = 5

    def validate(self, cfg) -> list[tuple[str, str]]:
        if cfg.k != cfg.n:
            return [("normalise", f"'divide' is the conventional full softmax: it needs k = n = {cfg.n}, "
                                  f"got k = {cfg.k}")]
        return []

    def normalise(self, cfg, tables, e, delta, mask, any_live) -> Normalised:
        s = topk_sum(cfg, e)
        s_safe = np.maximum(s, cfg.one)                  # S >= ONE whenever a lane is live
        y = np.where(mask, divide_round(cfg, e, s_safe[:, None]), 0)
        return Normalised(y=y, s=s, l=None)

    def ideal(self, cfg, ex: np.ndarray) -> np.ndarray:
        return topk_ideal(cfg, ex)

    def value_argmax_exact(self, cfg, tables) -> bool:
        # y is monotone in e; the max lane (e = ONE) must stay above a lane one LSB below it
        # for every sum S the unit can see (ONE <= S <= K*ONE)
        s = np.arange(cfg.one, cfg.k * cfg.one + 1, dtype=np.int64)
        below = int(exp_lookup(cfg, tables.exp, np.array([1]))[0])
        return bool((divide_round(cfg, cfg.one, s) > divide_round(cfg, below, s)).all())

    def rtl_parameters(self, cfg) -> dict[str, int]:
        return {"NORM_DIVIDE": 1}

    def directed_vectors(self, rng, cfg):
        """The divider over its whole range: sums S from ONE (one live lane) to N*ONE (all lanes
        tied), log-spaced, built from ties with the max plus one lane at a chosen difference."""
        n = cfg.n
        ties = np.unique(np.geomspace(1, n, num=min(n, 32)).astype(np.int64))
        zmax = cfg.code_max
        step = 1 << cfg.exp_step_log2
        rows = []
        for t in ties:
            for d in (0, 1, step, step * cfg.exp_depth // 2):
                c = np.full(n, cfg.code_min, np.int64)
                c[:t] = zmax
                if t < n:
                    c[t] = max(zmax - d, cfg.code_min)
                rows.append(rng.permutation(c))
        codes = np.array(rows, np.int64)
        return [("divide_sum_sweep", codes, np.ones(codes.shape, bool)),
                ("divide_rounding_sweep", *divider_witness_vectors(cfg))]


def divider_sum_bins(cfg: SoftmaxConfig) -> list[tuple[int, int, str]]:
    """Log-spaced ranges (lo, hi, label) of the divisor S over [ONE, N*ONE], labelled in units of
    1.0: "1" (only the max lane adds), "(1,2)", "[2,4)", ... "[2^j,N)", "N" (all lanes tied)."""
    one, n = cfg.one, cfg.n
    points = sorted({1 << i for i in range(n.bit_length()) if 1 << i <= n} | {n})
    bins = [(one, one, "1")]
    for a, b in zip(points, points[1:]):
        bins.append((a * one + (a == 1), b * one - 1, f"({a},{b})" if a == 1 else f"[{a},{b})"))
    return bins + [(n * one, n * one, str(n))]


def divider_classes(cfg: SoftmaxConfig, e: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into divider_sum_bins of S, index into ROUNDING of e * ONE / S): exact, rounded
    down (remainder below S/2), a half (rounded up by the halves-up rule), rounded up."""
    lo = np.array([b[0] for b in divider_sum_bins(cfg)])
    s_bin = np.searchsorted(lo, s, side="right") - 1
    # numpy's int32 remainder is several times faster than int64's; e * ONE <= ONE^2 decides
    dt = np.int32 if cfg.one * cfg.one < 2**31 else np.int64
    s = np.asarray(s).astype(dt)
    twice_r = 2 * ((np.asarray(e).astype(dt) * dt(cfg.one)) % s)
    rounding = (twice_r != 0) * (1 + (twice_r >= s) + (twice_r > s))
    return s_bin, rounding


def divider_witnesses(cfg: SoftmaxConfig) -> dict[tuple[str, str], list[int]]:
    """For every (sum range, rounding) pair some live lane can reach, the first exp look-up's
    values of one vector that reaches it, the classified lane first: the max lane (e = ONE,
    S = ONE + a sum of N-1 lane values) or another live lane holding a live value e (then the
    max lane, S = ONE + e + a sum of N-2 lane values)."""
    labels = [b[2] for b in divider_sum_bins(cfg)]
    sums = LaneSums(cfg, cfg.n - 1)
    cases = [([cfg.one], cfg.n - 1)] + [([e, cfg.one], cfg.n - 2) for e in lane_values(cfg)[1]]
    found: dict[tuple[str, str], list[int]] = {}
    for head, terms in cases:
        rest = sums.sums(terms)
        s_bin, rounding = divider_classes(cfg, np.full(len(rest), head[0]), sum(head) + rest)
        pair = s_bin * len(ROUNDING) + rounding
        for p, at in zip(*np.unique(pair, return_index=True)):
            key = (labels[p // len(ROUNDING)], ROUNDING[p % len(ROUNDING)])
            if key not in found:
                found[key] = head + sums.split(terms, int(rest[at]))
    return found


def divider_witness_vectors(cfg: SoftmaxConfig) -> tuple[np.ndarray, np.ndarray]:
    """The witnesses as input codes and masks: one vector per reachable (sum range, rounding)
    pair. A lane holding ONE sits at the max, one holding a table value (a live 0 included) at
    the smallest difference that reads it, a live 0 with no 0 entry beyond the table; the other
    0s are masked lanes."""
    exp, step = build_tables(cfg).exp, 1 << cfg.exp_step_log2
    first = 1 if cfg.exp_step_log2 == 0 else 0             # s = 0: entry 0 is never read
    # entry i is read by d in [i*step, (i+1)*step), except d = 0 (ONE); smallest d wins
    diff = {int(v): max(i * step, 1) for i, v in reversed(list(enumerate(exp.tolist()))) if i >= first}
    diff[cfg.one] = 0
    diff.setdefault(0, cfg.exp_depth * step)       # no 0 entry: a live 0 lies beyond the table
    rows = list(divider_witnesses(cfg).values())
    codes = np.full((len(rows), cfg.n), cfg.code_max, np.int64)
    mask = np.ones((len(rows), cfg.n), bool)
    for r, vals in enumerate(rows):
        for lane, v in enumerate(vals):
            if v == 0 and lane > 0:
                mask[r, lane] = False
            else:
                codes[r, lane] = cfg.code_max - diff[v]
    return codes, mask


def reachable_divider_pairs(cfg: SoftmaxConfig) -> set[tuple[str, str]]:
    """(sum range, rounding) pairs some live lane can reach (divider_witnesses)."""
    return set(divider_witnesses(cfg))

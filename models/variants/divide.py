"""The conventional full softmax the paper compares against (normalise = "divide", K = N):
y_i = round(e_i * ONE / S), one divider per lane."""
from __future__ import annotations

import numpy as np

from ..tables import exp_lookup
from .base import Normalised, Variant, topk_ideal, topk_sum


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
        return [("divide_sum_sweep", codes, np.ones(codes.shape, bool))]

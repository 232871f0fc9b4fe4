"""The decision unit (eq. 18, K = 1): y_i = exp(z_i - z_max) from the exp table, no normalisation."""
from __future__ import annotations

import numpy as np

from .base import Normalised, Variant


class Decision(Variant):
    name = "decision"
    latency = 3

    def normalise(self, cfg, tables, e, delta, mask, any_live) -> Normalised:
        return Normalised(y=e, s=None, l=None)

    def ideal(self, cfg, ex: np.ndarray) -> np.ndarray:
        return ex

    def value_argmax_exact(self, cfg, tables) -> bool:
        return True        # d == 0 -> ONE, every other lane <= ONE - 1 (docs/numerics.md)

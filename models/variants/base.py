"""The Variant interface shared by every unit of the family."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalised:
    """What a variant's normalise step returns (docs/numerics.md section 3, steps 4-6)."""
    y: np.ndarray               # int64 [M, N]: output codes
    s: np.ndarray | None        # int64 [M]: the top-K sum (K > 1)
    l: np.ndarray | None        # int64 [M]: ln(S) in input LSBs (log-domain units)


class Variant:
    """Base class. Subclasses set `name`, `latency` and override the hooks they need."""

    name: str = ""
    latency: int = 0            # clock edges from acceptance to out_valid (rtl/softmax_unit.v)
    uses_ln: bool = False       # has an ln table (and a second exp look-up)

    # ---- contract ------------------------------------------------------------------------------
    def validate(self, cfg) -> list[tuple[str, str]]:
        """Variant-specific rules: a list of (field, why) problems, empty when valid."""
        return []

    def normalise(self, cfg, tables, e: np.ndarray, delta: np.ndarray, mask: np.ndarray,
                  any_live: np.ndarray) -> Normalised:
        """Steps 4-6 of the datapath: from the first exp look-up e to the output codes."""
        raise NotImplementedError

    def ideal(self, cfg, ex: np.ndarray) -> np.ndarray:
        """The float function the variant approximates, from ex = exp(x - x_max) over live
        lanes (0 on masked lanes)."""
        raise NotImplementedError

    def value_argmax_exact(self, cfg, tables) -> bool:
        """True when the argmax read off the output values (lowest index among the largest)
        always equals the true argmax."""
        raise NotImplementedError

    # ---- hardware --------------------------------------------------------------------------------
    def rtl_parameters(self, cfg) -> dict[str, int]:
        """The RTL parameters this variant selects (beyond the shared ones)."""
        return {"NORM_DIVIDE": 0}

    # ---- verification ------------------------------------------------------------------------
    def directed_vectors(self, rng: np.random.Generator, cfg) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Directed stimulus of this variant's own block, as (name, codes [m, N], mask [m, N])."""
        return []

    def __repr__(self) -> str:
        return f"<variant {self.name}>"


def topk_sum(cfg, e: np.ndarray) -> np.ndarray:
    """Sum of the K largest e per row (masked lanes are 0 and add nothing)."""
    if cfg.k == cfg.n:
        return e.sum(axis=1)
    return np.partition(e, cfg.n - cfg.k, axis=1)[:, cfg.n - cfg.k:].sum(axis=1)


def topk_ideal(cfg, ex: np.ndarray) -> np.ndarray:
    """eq. 30: exp(x_i - x_max) divided by the sum of the K largest such terms."""
    topk = -np.sort(-ex, axis=1)[:, :cfg.k].sum(axis=1, keepdims=True)
    return np.divide(ex, topk, out=np.zeros_like(ex), where=topk > 0)

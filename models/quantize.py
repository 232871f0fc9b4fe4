"""Quantisation of float logits into the unit's signed Q(IW, FW) input codes (fxpmath)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fxpmath import Fxp

from .config import SoftmaxConfig


@dataclass(frozen=True)
class QuantReport:
    """What quantisation did to a batch: nothing is clipped without being counted here."""
    values: int                 # live values quantised
    saturated_high: int         # live values above the largest code
    saturated_low: int          # live values below the smallest code
    rows_saturated: int         # rows with at least one saturated live value
    max_abs_input: float        # largest |x| among live values
    max_abs_error: float        # largest |x - q*2^-FW| among live values that did not saturate

    @property
    def saturated(self) -> int:
        return self.saturated_high + self.saturated_low

    def summary(self) -> str:
        return (f"{self.values} values, {self.saturated} saturated "
                f"({self.saturated_high} high, {self.saturated_low} low) in {self.rows_saturated} rows, "
                f"max |x| = {self.max_abs_input:.4g}")


def quantize(cfg: SoftmaxConfig, x: np.ndarray, mask: np.ndarray | None = None
             ) -> tuple[np.ndarray, QuantReport]:
    """Round to nearest (ties to even) and saturate into W-bit two's complement codes.

    x: float [M, N] (or [N]). Masked lanes (mask False) are quantised too but not counted.
    Returns int64 codes of the same shape and a QuantReport.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("quantize: input contains NaN or Inf (the dump loader should have rejected it)")
    live = np.ones(x.shape, bool) if mask is None else np.asarray(mask, bool)
    codes = Fxp(x, signed=True, n_word=cfg.width, n_frac=cfg.in_frac_bits,
                rounding="around", overflow="saturate").val.astype(np.int64)
    scaled = np.round(x * 2.0 ** cfg.in_frac_bits)
    high = (scaled > cfg.code_max) & live
    low = (scaled < cfg.code_min) & live
    sat = high | low
    rows = int(sat.reshape(-1, x.shape[-1]).any(axis=1).sum()) if x.size else 0
    err = np.abs(x - codes * 2.0 ** -cfg.in_frac_bits)[live & ~sat]
    report = QuantReport(
        values=int(live.sum()), saturated_high=int(high.sum()), saturated_low=int(low.sum()),
        rows_saturated=rows, max_abs_input=float(np.abs(x[live]).max()) if live.any() else 0.0,
        max_abs_error=float(err.max()) if err.size else 0.0)
    return codes, report

"""Quantisation of float logits into the unit's signed Q(IW, FW) input codes.

Round to nearest with ties to even, saturate (docs/numerics.md section 2). `quantize` is the fast
numpy quantiser the stimulus uses; `quantize_fxp` states the same thing with fxpmath and is its
reference (tests/test_quantize.py proves them equal). Both return the same QuantReport, and
both read only cfg.width, in_frac_bits, code_min and code_max (tb/byo passes a format that has
just these).
"""
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


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("quantize: input contains NaN or Inf (the dump loader should have rejected it)")
    return x


def _scaled(cfg: SoftmaxConfig, x: np.ndarray) -> np.ndarray:
    """x * 2^FW rounded to the nearest integer, ties to even (np.round), before saturation.
    Scaling by a power of two is exact; beyond float64's range it gives +-inf, which saturates."""
    with np.errstate(over="ignore"):
        return np.round(x * 2.0 ** cfg.in_frac_bits)


def quantize(cfg: SoftmaxConfig, x: np.ndarray, mask: np.ndarray | None = None
             ) -> tuple[np.ndarray, QuantReport]:
    """Round to nearest (ties to even) and saturate into W-bit two's complement codes.

    x: float [M, N] (or [N]). Masked lanes (mask False) are quantised too but not counted.
    Returns int64 codes of the same shape and a QuantReport.
    """
    x = _finite(x)
    scaled = _scaled(cfg, x)
    codes = np.clip(scaled, cfg.code_min, cfg.code_max).astype(np.int64)
    return codes, _report(cfg, x, codes, scaled > cfg.code_max, scaled < cfg.code_min, mask)


def quantize_fxp(cfg: SoftmaxConfig, x: np.ndarray, mask: np.ndarray | None = None
                 ) -> tuple[np.ndarray, QuantReport]:
    """The reference of `quantize`, in fxpmath: Fxp(signed, W, FW, rounding='around' (ties to
    even), overflow='saturate'). 20 to 100 times slower (bench/bench_quantize.py).

    Values are first limited to +-2^IW (twice the input range: they saturate either way) because
    fxpmath 0.4.10 stops rounding the whole array (it truncates every element) as soon as one
    |value| reaches 2^64 (its object-dtype path; see Fxp._round).
    """
    x = _finite(x)
    bound = 2.0 ** (cfg.width - cfg.in_frac_bits)
    fxp = Fxp(np.clip(x, -bound, bound), signed=True, n_word=cfg.width, n_frac=cfg.in_frac_bits,
              rounding="around", overflow="saturate")
    codes = np.asarray(fxp.val, dtype=np.int64).reshape(x.shape)
    # what saturated, stated on x itself: half an LSB or more beyond the range. A tie at the top
    # goes to the even 2^(W-1), out of range; at the bottom to the even -2^(W-1), which fits.
    lsb = 2.0 ** -cfg.in_frac_bits
    high, low = x >= (cfg.code_max + 0.5) * lsb, x < (cfg.code_min - 0.5) * lsb
    return codes, _report(cfg, x, codes, high, low, mask)


def _report(cfg: SoftmaxConfig, x: np.ndarray, codes: np.ndarray, high: np.ndarray, low: np.ndarray,
            mask: np.ndarray | None) -> QuantReport:
    """high, low: the values that saturated (masked lanes included; they are not counted)."""
    live = np.ones(x.shape, bool) if mask is None else np.asarray(mask, bool)
    high, low = high & live, low & live
    sat = high | low
    rows = int(np.count_nonzero(sat.reshape(-1, x.shape[-1]).any(axis=1))) if x.size else 0
    # maxima of |.| over the selected values: the others multiplied by 0 (x is finite), no gather
    err = np.abs(x - codes * 2.0 ** -cfg.in_frac_bits) * (live & ~sat)
    return QuantReport(
        values=int(np.count_nonzero(live)), saturated_high=int(np.count_nonzero(high)),
        saturated_low=int(np.count_nonzero(low)), rows_saturated=rows,
        max_abs_input=float((np.abs(x) * live).max(initial=0.0)), max_abs_error=float(err.max(initial=0.0)))

"""Which sums of lane values a unit can form: the reachable ln-table entries (log-domain units)
and the divider's (sum range, rounding) pairs (the conventional unit) follow from them. Used for
coverage goals that hold only reachable bins, and for the directed vectors that reach them."""
from __future__ import annotations

import numpy as np

from ..tables import build_tables


def lane_values(cfg: SoftmaxConfig) -> tuple[list[int], list[int]]:
    """The first exp look-up's values: (what a lane adds to a sum: 0 for masked lanes, ONE, the
    used table entries; what a live lane holds: the same without 0 unless a difference can fall
    beyond the table)."""
    exp = build_tables(cfg).exp
    used = exp[1:] if cfg.exp_step_log2 == 0 else exp      # s = 0: EXP[0] is never read
    beyond = cfg.exp_depth << cfg.exp_step_log2 <= cfg.code_max - cfg.code_min
    live = sorted({cfg.one, *used.tolist()} | ({0} if beyond else set()))
    return sorted({0, *live}), live


def _bit_positions(bits: int) -> np.ndarray:
    raw = np.frombuffer(bits.to_bytes((bits.bit_length() + 7) // 8, "little"), np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little"))


def _runs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct integers -> (starts, ends) of their runs of consecutive values."""
    cut = np.flatnonzero(np.diff(x) > 1)
    return np.r_[x[:1], x[cut + 1]], np.r_[x[cut], x[-1:]]


class LaneSums:
    """The sums of j lane values (lane_values), j = 0..terms, exactly, and one way to make each
    (`split`): the vectors that reach a bin.

    Exact big-integer bitsets while they are small. Once layer t0 (t0 >= 3) holds every sum in
    [B, t0*ONE - B] with (t0 - 1)*ONE >= 2B - 1, every later layer j holds all of [B, j*ONE - B]
    (adding 0 or ONE to that run covers the next one), so only the fringes are kept: the sums
    up to B (bitsets of B bits) and j*ONE minus the sums of j deficits ONE - v up to B. K = 1000
    units need this: their exact bitsets would take minutes."""

    def __init__(self, cfg: SoftmaxConfig, terms: int, fringes: bool = True):
        self.one, self.vals, self.terms = cfg.one, lane_values(cfg)[0], terms
        self.exact = [1]                         # bit x of exact[j]: x is a sum of j values
        self.low, self.high = {}, {}             # fringes of the layers after the exact ones
        for j in range(1, terms + 1):
            t = j - 1
            if fringes and t >= 3:
                self.b = self._fringe_width(t)
                if (t - 1) * self.one >= 2 * self.b - 1:
                    self._grow_fringes(t)
                    break
            self.exact.append(self._step(self.exact[-1], self.vals, None))

    def _fringe_width(self, t: int) -> int:
        """The smallest B with every sum of t values in [B, t*ONE - B]."""
        top = t * self.one
        missing = np.setdiff1d(np.arange(top + 1), _bit_positions(self.exact[t]))
        low, high = missing[missing < top // 2], missing[missing >= top // 2]
        return max(1, int(low.max()) + 1 if low.size else 0, top - int(high.min()) + 1 if high.size else 0)

    @staticmethod
    def _step(bits: int, vals: list[int], width: int | None) -> int:
        new = 0
        for v in vals:
            new |= bits << v
        return new if width is None else new & ((1 << (width + 1)) - 1)

    def _grow_fringes(self, t0: int) -> None:
        top = t0 * self.one
        low = self.exact[t0] & ((1 << (self.b + 1)) - 1)
        high = sum(1 << (top - int(x)) for x in _bit_positions(self.exact[t0] >> (top - self.b)) + top - self.b)
        deficits = sorted({self.one - v for v in self.vals})
        for j in range(t0 + 1, self.terms + 1):
            low, high = self._step(low, self.vals, self.b), self._step(high, deficits, self.b)
            self.low[j], self.high[j] = low, high

    def has(self, j: int, x: int) -> bool:
        if j < len(self.exact):
            return x >= 0 and bool(self.exact[j] >> x & 1)
        top = j * self.one
        if not 0 <= x <= top:
            return False
        if x <= self.b:
            return bool(self.low[j] >> x & 1)
        if x >= top - self.b:
            return bool(self.high[j] >> (top - x) & 1)
        return True

    def runs(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """The sums of j values as runs of consecutive integers (starts, ends)."""
        if j < len(self.exact):
            return _runs(_bit_positions(self.exact[j]))
        lo_s, lo_e = _runs(_bit_positions(self.low[j]))
        hi_s, hi_e = _runs(j * self.one - _bit_positions(self.high[j])[::-1])
        # the middle run [B, j*ONE - B] joins the last low run (it holds B) and the first high one
        return np.r_[lo_s, hi_s[1:]], np.r_[lo_e[:-1], hi_e]

    def sums(self, j: int) -> np.ndarray:
        starts, ends = self.runs(j)
        return np.concatenate([np.arange(a, b + 1) for a, b in zip(starts.tolist(), ends.tolist())])

    def split(self, j: int, x: int) -> list[int]:
        """j lane values that add up to x (a sum `has` accepts)."""
        out = []
        for left in range(j, 0, -1):
            v = next(v for v in reversed(self.vals) if self.has(left - 1, x - v))
            out.append(v)
            x -= v
        return out

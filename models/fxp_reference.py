"""The fxpmath reference of the unit family: docs/numerics.md section 3, equation by equation.

A second, independent statement of the contract beside the vectorised numpy model
(models/datapath.py, which the scoreboard runs); tests/test_fxp_reference.py proves the two
bit-equal. It shares only the table *values* (models.tables) and the configuration's widths
(models.config): every address, sum, shift and rounding is computed here again.

Every intermediate is an fxpmath `Fxp` in a format stated below (signed, n_word, n_frac, rounding).
The arithmetic between two steps is done on the exact real values (float64 holds all of them
exactly: the widest word, the top-K sum, has at most 35 bits), and each result is put into its
format by fxpmath, which rounds as the format says; the divider is fxpmath's integer division.
A format marked `exact` must hold its value without rounding, and no format may overflow:
fxpmath's status flags are checked after every step, so a width in the contract that is too
small raises instead of wrapping or saturating silently.

    Variant          steps                          (docs/numerics.md section 3)
    decision K = 1   1 max, 2 diff, 3 exp table     y = e                          (eq. 18)
    top-K, K = N     + 4 top-K sum, 5 ln table, 6 exp table again on diff + L    (eq. 30)
    divide (K = N)   + 4 sum, y = e / S rounded half up (one divider per lane)

Slow next to the numpy model (bench/bench_reference.py); fast enough to check blocks of a few
thousand vectors, and to drive the scoreboard: `run_reference(cfg, codes, mask)`.
The formats of a configuration: `python -m models.fxp_reference <config>`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fxpmath import Fxp
from fxpmath.functions import truediv

from .config import SoftmaxConfig
from .tables import build_tables


@dataclass(frozen=True)
class Fmt:
    """One fixed-point format of the datapath and how a value enters it.

    rounding: fxpmath's mode for a value off the grid ('floor', 'nearest_posinf' = half up).
    exact: the value must already be on the grid (a rounding there is a bug, and raises).
    Overflow: never allowed (fxpmath's 'wrap' mode, and its overflow flag raises).
    """
    name: str
    signed: bool
    n_word: int
    n_frac: int
    rounding: str = "floor"
    exact: bool = True

    def fxp(self) -> Fxp:
        return Fxp(None, signed=self.signed, n_word=self.n_word, n_frac=self.n_frac,
                   rounding=self.rounding, overflow="wrap")

    def __call__(self, value) -> Fxp:
        """The real value(s) `value` in this format."""
        return self.check(self.fxp().set_val(np.asarray(value, np.float64)))

    def from_raw(self, raw) -> Fxp:
        """Integer codes (value * 2^n_frac) in this format."""
        return self.check(self.fxp().set_val(np.asarray(raw, np.int64), raw=True))

    def check(self, x: Fxp) -> Fxp:
        """x, after fxpmath's status flags say that it fits (and is exact where it must be)."""
        if x.status["overflow"] or x.status["underflow"]:
            raise OverflowError(f"fxp reference: a value of '{self.name}' does not fit {self}")
        if self.exact and x.status["inaccuracy"]:
            raise ArithmeticError(f"fxp reference: a value of '{self.name}' is not on the grid of {self}")
        return x

    def __str__(self) -> str:
        sign = "signed" if self.signed else "unsigned"
        how = "exact" if self.exact else f"rounding '{self.rounding}'"
        return f"{sign} {self.n_word} bits, {self.n_frac} fraction bits ({how})"


@dataclass(frozen=True)
class Formats:
    """Every intermediate of section 3 for one configuration."""
    z: Fmt          # step 1: input code and max, signed W bits, FW fraction bits
    diff: Fmt       # step 2: zmax - z_i >= 0, W bits
    exp: Fmt        # step 3: exp-table value, unsigned, 1 integer bit, OF fraction bits
    term: Fmt       # step 4: a term of the sum: the sum table's value, OF + G fraction bits
    sum: Fmt        # step 4: top-K sum S <= K, OF + G fraction bits
    lead: Fmt       # step 5: leading-one exponent ex of S
    mant: Fmt       # step 5: S / 2^ex in [1, 2), truncated to M fraction bits
    ln_addr: Fmt    # step 5: ln-table address {ex, the M mantissa bits}
    ln: Fmt         # step 5: ln-table value L, in input units
    norm_diff: Fmt  # step 6: diff + L
    quotient: Fmt   # divide: e / S with one guard bit, truncated
    rounded: Fmt    # divide: the quotient rounded half up to OF fraction bits
    y: Fmt          # output, the exp format


def formats(cfg: SoftmaxConfig) -> Formats:
    fw, of, m = cfg.in_frac_bits, cfg.out_frac_bits, cfg.ln_mant_bits
    return Formats(
        z=Fmt("z", True, cfg.width, fw),
        diff=Fmt("diff", False, cfg.width, fw),
        exp=Fmt("exp", False, cfg.out_width, of),
        term=Fmt("sum term", False, cfg.sum_frac_bits + 1, cfg.sum_frac_bits),
        sum=Fmt("top-k sum", False, cfg.sum_width, cfg.sum_frac_bits),
        lead=Fmt("leading one", False, cfg.ln_exp_bits, 0),
        mant=Fmt("mantissa", False, m + 1, m, rounding="floor", exact=False),
        ln_addr=Fmt("ln address", False, cfg.ln_exp_bits + m, 0),
        ln=Fmt("ln", False, cfg.ln_width, fw),
        norm_diff=Fmt("diff + L", False, max(cfg.width, cfg.ln_width) + 1, fw),
        quotient=Fmt("e / S", False, of + 2, of + 1, rounding="floor", exact=False),
        rounded=Fmt("e / S rounded", False, cfg.out_width, of, rounding="nearest_posinf", exact=False),
        y=Fmt("y", False, cfg.out_width, of),
    )


def address_fmt(d: Fmt, cfg: SoftmaxConfig) -> Fmt:
    """The exp-table address of a difference in format d: floor(d / 2^s LSBs), an integer."""
    return Fmt(f"exp address of {d.name}", False, d.n_word - cfg.exp_step_log2, 0,
               rounding="floor", exact=False)


@dataclass(frozen=True)
class Trace:
    """The intermediates of one run (None where the variant has no such step)."""
    z: Fxp
    zmax: Fxp
    argmax: np.ndarray
    diff: Fxp
    e: Fxp
    s: Fxp | None
    ex: Fxp | None
    mant: Fxp | None
    l: Fxp | None
    y: Fxp


def run_reference(cfg: SoftmaxConfig, codes: np.ndarray, mask: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Output codes y (int64 [M, N], OF fraction bits) and argmax (int64 [M])."""
    if _live_lanes(cfg, codes, mask).size == 0:        # fxpmath holds no empty arrays
        return np.zeros((0, cfg.n), np.int64), np.zeros(0, np.int64)
    t = trace(cfg, codes, mask)
    return raw(t.y), t.argmax


def raw(x: Fxp) -> np.ndarray:
    """An Fxp's integer codes (value * 2^n_frac) as int64."""
    return np.asarray(x.val).astype(np.int64)


def trace(cfg: SoftmaxConfig, codes: np.ndarray, mask: np.ndarray | None = None) -> Trace:
    """Every intermediate of section 3 for codes [M >= 1, N] (signed W-bit integers) and a lane
    mask (True = live; None = all live)."""
    f = formats(cfg)
    live = _live_lanes(cfg, codes, mask)
    z = f.z.from_raw(codes)
    zmax, argmax = max_tree(f, z(), live)
    diff = f.diff(np.where(live, zmax()[:, None] - z(), 0))                 # step 2
    e = f.exp(np.where(live, exp_lookup(cfg, f.diff, diff()), 0))            # step 3
    if cfg.k == 1:                                                           # eq. 18
        return Trace(z, zmax, argmax, diff, e, None, None, None, None, y=e)
    terms = e
    if cfg.has_sum_table:           # the terms from the sum table (G guard bits, wider range)
        terms = f.term(np.where(live, exp_lookup(cfg, f.diff, diff(), table="sum"), 0))
    s = f.sum(top_k_sum(cfg, terms()))                                       # step 4
    if cfg.normalise == "divide":
        return Trace(z, zmax, argmax, diff, e, s, None, None, None, y=divide(f, e, s, live))
    ex, mant, l = ln_lookup(cfg, f, s(), live.any(axis=1))                   # step 5
    y = normalise_log(cfg, f, diff(), l(), live)                             # step 6
    return Trace(z, zmax, argmax, diff, e, s, ex, mant, l, y)


def _live_lanes(cfg: SoftmaxConfig, codes: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != cfg.n:
        raise ValueError(f"fxp reference: codes must have shape [M, {cfg.n}], got {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"fxp reference: codes must be integers, got {codes.dtype}")
    if codes.size and (codes.min() < cfg.code_min or codes.max() > cfg.code_max):
        raise ValueError(f"fxp reference: codes outside [{cfg.code_min}, {cfg.code_max}]")
    live = np.ones(codes.shape, bool) if mask is None else np.asarray(mask, bool)
    if live.shape != codes.shape:
        raise ValueError(f"fxp reference: mask shape {live.shape} differs from codes shape {codes.shape}")
    return live


def max_tree(f: Formats, z: np.ndarray, live: np.ndarray) -> tuple[Fxp, np.ndarray]:
    """Step 1: zmax over live lanes; argmax = the lowest live lane holding it; 0 and 0 when no
    lane is live."""
    any_live = live.any(axis=1)
    zmax = np.where(any_live, np.where(live, z, -np.inf).max(axis=1), 0.0)
    at_max = live & (z == zmax[:, None])
    argmax = np.where(any_live, at_max.argmax(axis=1), 0)      # argmax of bools: the first True
    return f.z(zmax), argmax.astype(np.int64)


def exp_lookup(cfg: SoftmaxConfig, d_fmt: Fmt, d: np.ndarray, table: str = "exp") -> np.ndarray:
    """Step 3 (and 4, 6): exp(-d) from the exp table (or the sum table), real values. 1.0 at
    d = 0 exactly; TABLE[addr] with addr = floor(d / bin width) inside the table; 0 beyond it."""
    t = build_tables(cfg)
    if table == "sum":
        exp_vals, depth = t.sum_exp * 2.0 ** -cfg.sum_frac_bits, cfg.sum_depth
    else:
        exp_vals, depth = t.exp * 2.0 ** -cfg.out_frac_bits, cfg.exp_depth
    bin_width = 2.0 ** (cfg.exp_step_log2 - cfg.in_frac_bits)       # 2^s input LSBs
    addr = raw(address_fmt(d_fmt, cfg)(d / bin_width))
    inside = addr < depth
    table = np.where(inside, exp_vals[np.where(inside, addr, 0)], 0.0)
    return np.where(d == 0, 1.0, table)


def top_k_sum(cfg: SoftmaxConfig, e: np.ndarray) -> np.ndarray:
    """Step 4: the sum of the K largest e of each vector (masked lanes have e = 0)."""
    return np.sort(e, axis=1)[:, cfg.n - cfg.k:].sum(axis=1)


def ln_lookup(cfg: SoftmaxConfig, f: Formats, s: np.ndarray, any_live: np.ndarray
              ) -> tuple[Fxp, Fxp, Fxp]:
    """Step 5: S = 2^ex * mant with 1 <= mant < 2; L = LN[ex * 2^M + the M bits of mant below
    its leading one] in input units. L = 0 for a vector with no live lane (S = 0)."""
    m = cfg.ln_mant_bits
    s = np.where(any_live, s, 1.0)                     # no live lane: any address, L is forced to 0
    ex = f.lead(sum((s >= 2.0 ** j).astype(np.int64) for j in range(1, cfg.ln_exp_count)))
    mant = f.mant(s * 2.0 ** -ex())
    mt = raw(mant) - (1 << m)                          # drop the leading one
    addr = f.ln_addr.from_raw(raw(ex) * (1 << m) + mt)
    l = f.ln.from_raw(np.where(any_live, build_tables(cfg).ln[raw(addr)], 0))
    return ex, mant, l


def normalise_log(cfg: SoftmaxConfig, f: Formats, diff: np.ndarray, l: np.ndarray,
                  live: np.ndarray) -> Fxp:
    """Step 6 (eq. 30 in the log domain): y_i = exp_lookup(diff_i + L) on live lanes."""
    d = f.norm_diff(np.where(live, diff + l[:, None], 0))
    return f.y(np.where(live, exp_lookup(cfg, f.norm_diff, d()), 0))


def divide(f: Formats, e: Fxp, s: Fxp, live: np.ndarray) -> Fxp:
    """Conventional normalisation: y_i = e_i / S rounded half up to OF fraction bits, as a
    divider with one guard bit does it: the quotient truncated to OF + 1 bits (fxpmath's raw
    integer division), then rounded half up. 0 on masked lanes and when S = 0.
    The contract writes it floor((e * ONE + floor(S / 2)) / S); both are floor(e * ONE / S + 1/2)
    in output LSBs (with S odd, e * ONE / S is never a half)."""
    s_safe = f.sum(np.maximum(s(), 1.0)[:, None])              # S >= 1 when a lane is live
    q = f.quotient.check(truediv(e, s_safe, out_like=f.quotient.fxp()))
    return f.y(np.where(live, f.rounded(q())(), 0.0))


def describe(cfg: SoftmaxConfig) -> str:
    """The formats of one configuration, one line each (the steps its variant uses)."""
    f = formats(cfg)
    used = ["z", "diff", "exp"]
    if cfg.k > 1:
        used += ["sum", "quotient", "rounded"] if cfg.normalise == "divide" else \
                ["term", "sum", "lead", "mant", "ln_addr", "ln", "norm_diff"]
    lines = [f"{cfg.name} ({cfg.variant}; in every format an overflow raises):"]
    lines += [f"  {name:10s} {getattr(f, name)}" for name in used + ["y"]]
    lines.append(f"  {'exp addr':10s} {address_fmt(f.diff, cfg)}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    from .config import list_configs, load_config
    for name in sys.argv[1:] or list_configs():
        print(describe(load_config(name)))

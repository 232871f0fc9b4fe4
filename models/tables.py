"""The exp and ln tables: generated here once, written as $readmemh files for the RTL.

This module is the single source of truth for every table value (docs/numerics.md section 4).
The RTL reads the files written by write_tables(); it never computes a table value itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:                      # the configuration imports this module, not the reverse
    from .config import SoftmaxConfig


@dataclass(frozen=True)
class Tables:
    exp: np.ndarray            # int64 [D]: output codes, OF fraction bits
    ln: np.ndarray | None      # int64 [E * 2^M]: ln values in input LSBs (K > 1 only)
    sum_exp: np.ndarray        # int64 [D_s]: the sum table, OF+G fraction bits (the exp table
                               # itself when the unit has none)


@dataclass(frozen=True)
class TableView:
    """The fields an exp table is generated from: a configuration's own exp table, or a table of
    another format (the sum table with its guard bits, the streaming unit's tables)."""
    in_frac_bits: int
    out_frac_bits: int
    exp_depth: int
    exp_step_log2: int

    @property
    def one(self) -> int:
        return 1 << self.out_frac_bits


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def exp_table(cfg: SoftmaxConfig | TableView) -> np.ndarray:
    """EXP[j] = min(round(exp(-c_j) * 2^OF), ONE-1), c_j = midpoint of bin j in input units."""
    step = 1 << cfg.exp_step_log2
    j = np.arange(cfg.exp_depth, dtype=np.float64)
    mid = (j * step + (step - 1) / 2.0) * 2.0 ** -cfg.in_frac_bits
    codes = _round_half_up(np.exp(-mid) * cfg.one)
    return np.minimum(codes, cfg.one - 1)


def ln_table(cfg: SoftmaxConfig) -> np.ndarray | None:
    """LN[ex*2^M + mt] = round(ln(2^ex * (1 + (mt + 0.5)/2^M)) * 2^FW); None without a log-domain
    normalisation (K = 1, or normalise = "divide")."""
    if not cfg.uses_ln:
        return None
    m = cfg.ln_mant_bits
    ex, mt = np.divmod(np.arange(cfg.ln_depth, dtype=np.int64), 1 << m)
    val = ex * np.log(2.0) + np.log1p((mt + 0.5) / (1 << m))
    return _round_half_up(val * 2.0 ** cfg.in_frac_bits)


@lru_cache(maxsize=64)
def build_tables(cfg: SoftmaxConfig) -> Tables:
    exp = exp_table(cfg)
    ln = ln_table(cfg)
    sum_exp = exp_table(cfg.sum_view) if cfg.has_sum_table else exp
    for t in (exp, ln, sum_exp):
        if t is not None:
            t.setflags(write=False)
    return Tables(exp=exp, ln=ln, sum_exp=sum_exp)


def ln_width(cfg: SoftmaxConfig) -> int:
    """Width of an ln-table entry (L, in input LSBs); 1 when the unit has no ln table."""
    t = build_tables(cfg)
    return max(1, int(t.ln.max()).bit_length()) if t.ln is not None else 1


def exp_lookup(cfg: SoftmaxConfig | TableView, exp: np.ndarray, d: np.ndarray) -> np.ndarray:
    """exp_lookup(d): ONE for d == 0, EXP[d >> s] inside the table, 0 beyond it (d >= 0)."""
    idx = np.asarray(d, dtype=np.int64) >> cfg.exp_step_log2
    inside = idx < cfg.exp_depth
    out = np.where(inside, exp[np.where(inside, idx, 0)], 0)
    return np.where(d == 0, cfg.one, out)


def write_hex(path: Path, values: np.ndarray, bits: int) -> None:
    digits = max(1, (bits + 3) // 4)
    path.write_text("".join(f"{int(v):0{digits}x}\n" for v in values))


def write_tables(cfg: SoftmaxConfig, outdir: str | Path) -> dict[str, Path | None]:
    """Write exp_table.hex, ln_table.hex and sum_table.hex for $readmemh; returns their paths.

    Without an ln table (K = 1, or division) an ln_table.hex with a single zero word is still
    written, and without a sum table a copy of the exp table, so that the RTL's file parameters
    always name readable files (the RTL does not use them then).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t = build_tables(cfg)
    exp_path, ln_path, sum_path = outdir / "exp_table.hex", outdir / "ln_table.hex", outdir / "sum_table.hex"
    write_hex(exp_path, t.exp, cfg.out_width)
    write_hex(ln_path, t.ln if t.ln is not None else np.zeros(1, np.int64), ln_width(cfg))
    write_hex(sum_path, t.sum_exp, cfg.sum_frac_bits + 1)
    return {"exp": exp_path, "ln": ln_path if t.ln is not None else None,
            "sum": sum_path if cfg.has_sum_table else None}

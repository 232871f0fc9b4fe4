"""The streaming softmax unit (rtl/stream/): rows of 1..N_MAX values arrive as beats of P lanes.

A second architecture of the unit family (docs/stream.md). The datapath is the one of
docs/numerics.md section 3 applied to a whole row, with two differences that long rows need:

* the full-softmax sum S is accumulated from a second exp table, the *sum table*, with G guard
  fraction bits (`sum_guard_bits`) and a wider range (`sum_exp_range`), so that the rounding and
  the dropped tail of up to N_MAX terms stay below half an output LSB whatever the row length;
* the ln table is addressed from that wider sum (OF+G fraction bits, floor(log2 T)+1
  exponents, T = N_MAX for K = N and T = K for top-K: the most terms S can hold).

Top-K (eq. 30 with K < N, variant "topk"): S is the sum of the K largest sum-table terms of the
row, exactly the parallel unit's top-K sum (models.variants.base.topk_sum); a row with fewer than
K live lanes sums them all, as the parallel unit does (masked and absent lanes add 0).

Every table comes from models.tables (exp_table, ln_table, exp_lookup) through its table views
(models.tables.TableView, and LnView for the ln table); nothing here computes a table value.
The field names (sum_guard_bits, sum_exp_range, sum_frac_bits, sum_depth) are those of the
parallel unit's sum table (models.config): the two units share that contract.

`StreamUnit` is the variant object: validation of rows, tables, the bit-exact model step, the
ideal float function and the RTL parameters of rtl/stream/sm_stream_unit.v.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .config import ConfigError, Formats, from_fields, is_pow2, load_toml
from .reference import softmax
from .tables import TableView, write_hex, exp_lookup, exp_table, ln_table
from .variants.base import topk_ideal, topk_sum
from .variants.log_domain import ln_address

STREAM_CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs" / "stream"
# eq. 18; K = N in the log domain (eq. 30 with K = N); top-K in the log domain (eq. 30, K < N)
VARIANTS = ("decision", "full", "topk")
LANES = (1, 4, 8, 16)


@dataclass(frozen=True)
class LnView(TableView):
    """models.tables.TableView plus the fields ln_table reads: the stream unit's ln table, addressed
    from the guarded sum (OF+G fraction bits, E exponents)."""
    ln_mant_bits: int = 1
    ln_depth: int = 0

    @property
    def uses_ln(self) -> bool:
        return self.ln_depth > 0


@dataclass(frozen=True)
class StreamConfig(Formats):
    name: str
    variant: str
    p: int
    n_max: int
    in_int_bits: int
    in_frac_bits: int
    out_frac_bits: int
    exp_range: float
    exp_depth: int
    mse_vs_ideal_vector_max: float
    mse_vs_ideal_mean_max: float
    ln_mant_bits: int = 8
    k: int = 0                      # top-K only: terms of the normalising sum, 2..n_max-1
    sum_guard_bits: int = 0
    sum_exp_range: float = 0.0      # 0: the output table's range (no extension)
    description: str = ""
    source: str = field(default="<dict>", compare=False)

    def __post_init__(self) -> None:
        def bad(fld: str, why: str) -> ConfigError:
            return ConfigError(f"{self.source}: field '{fld}': {why}")

        self.check_field_types(bad)
        if self.variant not in VARIANTS:
            raise bad("variant", f"must be one of {', '.join(map(repr, VARIANTS))}, got {self.variant!r}")
        if self.p not in LANES:
            raise bad("p", f"must be one of {LANES}, got {self.p}")
        if not 2 * self.p <= self.n_max <= 65536 or self.n_max % self.p:
            raise bad("n_max", f"must be a multiple of p={self.p} in {2 * self.p}..65536, got {self.n_max}")
        if self.in_int_bits < 1 or self.in_frac_bits < 0 or not 2 <= self.width <= 32:
            raise bad("in_frac_bits", f"need in_int_bits >= 1, in_frac_bits >= 0 and a width in 2..32, "
                                      f"got {self.in_int_bits}+{self.in_frac_bits}")
        if not 1 <= self.out_frac_bits <= 24:
            raise bad("out_frac_bits", f"must be in 1..24, got {self.out_frac_bits}")
        if not 2 <= self.exp_depth <= 65536 or not is_pow2(self.exp_depth):
            raise bad("exp_depth", f"must be a power of two in 2..65536, got {self.exp_depth}")
        step = self.exp_range * 2 ** self.in_frac_bits / self.exp_depth
        if step != int(step) or not is_pow2(int(step)):
            raise bad("exp_range", f"exp_range*2^in_frac_bits/exp_depth = {step:g} input LSBs per entry; "
                                   f"it must be a power of two >= 1")
        if self.exp_range > 2 ** self.in_int_bits:
            raise bad("exp_range", f"{self.exp_range:g} exceeds the difference range 2^in_int_bits")
        self._check_k(bad)
        if not 1 <= self.ln_mant_bits <= self.out_frac_bits:
            raise bad("ln_mant_bits", f"must be in 1..out_frac_bits={self.out_frac_bits}, got {self.ln_mant_bits}")
        # the guard bits the longest rows need (G >= log2 N_MAX) are within 24
        self.check_sum_table(bad, max_guard_bits=24)
        for f in ("mse_vs_ideal_vector_max", "mse_vs_ideal_mean_max"):
            if getattr(self, f) <= 0:
                raise bad(f, "must be > 0")

    def _check_k(self, bad) -> None:
        """k: the top-K unit's K in 2..n_max-1; no other variant takes one."""
        if self.variant == "topk" and not 2 <= self.k < self.n_max:
            raise bad("k", f"variant 'topk' needs 2 <= k < n_max={self.n_max} (k = n_max is variant "
                           f"'full'), got {self.k}")
        if self.variant != "topk" and self.k != 0:
            raise bad("k", f"only variant 'topk' takes k (variant {self.variant!r} sums "
                           f"{'no terms' if self.variant == 'decision' else 'every term'}), got {self.k}")

    # ---- derived quantities (each computed here only) -----------------------------------------
    @property
    def beats_max(self) -> int:
        return self.n_max // self.p



    @property
    def sum_terms(self) -> int:
        """T: the most terms the normalising sum adds (N_MAX for K = N, K for top-K)."""
        return self.k if self.variant == "topk" else self.n_max

    @property
    def sum_width(self) -> int:
        """S <= T * 2^(OF+G): OF+G + ceil(log2(T+1)) bits (the parallel unit's rule with K = T)."""
        return self.sum_frac_bits + self.sum_terms.bit_length()

    @property
    def ln_exponents(self) -> int:
        """E: exponents of the ln table, p - (OF+G) in 0..E-1 for ONE_s <= S <= T*ONE_s."""
        return self.sum_terms.bit_length()

    @property
    def list_beats(self) -> int:
        """Beats of P entries the top-K list is read in by the sum pass (top-K only)."""
        return -(-self.k // self.p)

    @property
    def idx_width(self) -> int:
        return max(1, (self.n_max - 1).bit_length())

    @property
    def guarded(self) -> bool:
        """The sum's own error (rounding of its T terms + the terms beyond the sum table) is at
        most 2^-OF relative to S >= 1: half an output LSB each (docs/stream.md, guard bits).
        The decision unit has no sum: always True."""
        if self.variant == "decision":
            return True
        rounding = self.sum_terms * 2.0 ** -(self.sum_frac_bits + 1)
        tail = self.sum_terms * math.exp(-self.sum_range)
        return rounding <= 2.0 ** -(self.out_frac_bits + 1) and tail <= 2.0 ** -(self.out_frac_bits + 1)

    @property
    def error_eps(self) -> float:
        """eps of the output bound of a guarded unit (docs/stream.md section 3), against float
        softmax (K = N) or eq. 30 (top-K) of the quantised row: |y_i - p_i| <= eps p_i + 2^-(OF+1),
        eps = exp(2^-FW + 2^-(M+1) + 2^-OF + (2^s - 1) 2^-FW) - 1 (L rounded to an input LSB, the
        ln table's mantissa bin, the guarded sum, the table bins of 2^s LSBs)."""
        fw = 2.0 ** -self.in_frac_bits
        return math.exp(fw + 2.0 ** -(self.ln_mant_bits + 1) + 2.0 ** -self.out_frac_bits
                        + ((1 << self.exp_step_log2) - 1) * fw) - 1

    # ---- table views for models.tables ---------------------------------------------------------
    @property
    def out_view(self) -> TableView:
        return TableView(self.in_frac_bits, self.out_frac_bits, self.exp_depth, self.exp_step_log2)

    @property
    def sum_view(self) -> TableView:
        return TableView(self.in_frac_bits, self.sum_frac_bits, self.sum_depth, self.exp_step_log2)

    @property
    def ln_view(self) -> LnView:
        return LnView(self.in_frac_bits, self.sum_frac_bits, self.sum_depth, self.exp_step_log2,
                         ln_mant_bits=self.ln_mant_bits,
                         ln_depth=self.ln_exponents << self.ln_mant_bits)


@dataclass(frozen=True)
class _SumShape:
    """The two fields models.variants.base.topk_sum reads (K, lanes)."""
    k: int
    n: int


def stream_config_from_dict(data: dict, source: str = "<dict>", name: str | None = None) -> StreamConfig:
    return from_fields(StreamConfig, data, source, name)


def list_stream_configs() -> list[str]:
    return sorted(p.stem for p in STREAM_CONFIG_DIR.glob("*.toml"))


def load_stream_config(name_or_path: str | Path) -> StreamConfig:
    """A stream configuration by name (configs/stream/<name>.toml) or by path."""
    return load_toml(StreamConfig, STREAM_CONFIG_DIR, name_or_path, "stream configuration")


# ---- rows ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rows:
    """A batch of rows, padded to a common number of lanes: lanes >= length[r] are not part of
    row r (keep = 0 on the tail beat); mask False = a masked lane inside the row."""
    codes: np.ndarray      # int64 [M, L]
    mask: np.ndarray       # bool [M, L]
    length: np.ndarray     # int64 [M], 1..N_MAX

    @property
    def keep(self) -> np.ndarray:
        return np.arange(self.codes.shape[1])[None, :] < self.length[:, None]

    @property
    def live(self) -> np.ndarray:
        return self.keep & self.mask


@dataclass(frozen=True)
class StreamResult:
    y: np.ndarray          # int64 [M, L]: output codes (0 on masked and absent lanes)
    argmax: np.ndarray     # int64 [M]: lowest lane index holding the max (0 if no lane is live)
    zmax: np.ndarray       # int64 [M]
    s: np.ndarray | None   # int64 [M]: guarded sum, OF+G fraction bits (full, topk)
    l: np.ndarray | None   # int64 [M]: ln(S) in input LSBs (full, topk)


class StreamUnit:
    """The streaming unit as a variant: validation, tables, model step, ideal, RTL parameters."""

    def __init__(self, cfg: StreamConfig):
        self.cfg = cfg

    # ---- tables (models.tables is the one source) -----------------------------------------------
    @cached_property
    def exp_out(self) -> np.ndarray:
        return exp_table(self.cfg.out_view)

    @cached_property
    def exp_sum(self) -> np.ndarray:
        return exp_table(self.cfg.sum_view)

    @cached_property
    def ln(self) -> np.ndarray:
        return ln_table(self.cfg.ln_view)

    @cached_property
    def ln_width(self) -> int:
        return max(1, int(self.ln.max()).bit_length())

    def write_tables(self, outdir: str | Path) -> dict[str, Path]:
        """exp_table.hex (output), sum_table.hex and ln_table.hex for $readmemh."""
        c, outdir = self.cfg, Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        paths = {k: outdir / f"{k}_table.hex" for k in ("exp", "sum", "ln")}
        write_hex(paths["exp"], self.exp_out, c.out_width)
        write_hex(paths["sum"], self.exp_sum, c.sum_frac_bits + 1)
        write_hex(paths["ln"], self.ln, self.ln_width)
        return paths

    # ---- validation -----------------------------------------------------------------------------
    def rows(self, codes: np.ndarray, length: np.ndarray, mask: np.ndarray | None = None) -> Rows:
        """Validate a padded batch of rows; one ValueError naming the problem otherwise."""
        c = self.cfg
        codes = np.asarray(codes)
        if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must be an integer array [M, L], got {codes.dtype} {codes.shape}")
        codes = codes.astype(np.int64)
        length = np.asarray(length, np.int64).reshape(-1)
        if length.shape != (codes.shape[0],):
            raise ValueError(f"length must have one entry per row ({codes.shape[0]}), got {length.shape}")
        if length.size and (length.min() < 1 or length.max() > min(c.n_max, codes.shape[1])):
            raise ValueError(f"row lengths must be in 1..N_MAX={c.n_max} (and <= the {codes.shape[1]} "
                             f"lanes given), got {length.min()}..{length.max()}")
        mask = np.ones(codes.shape, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != codes.shape:
            raise ValueError(f"mask shape {mask.shape} differs from codes shape {codes.shape}")
        rows = Rows(codes=codes, mask=mask, length=length)
        inside = codes[rows.keep]
        if inside.size and (inside.min() < c.code_min or inside.max() > c.code_max):
            raise ValueError(f"codes outside the {c.width}-bit signed range [{c.code_min}, {c.code_max}]")
        return rows

    # ---- the model step -------------------------------------------------------------------------
    def run(self, rows: Rows) -> StreamResult:
        """Bit-exact outputs of rtl/stream/sm_stream_unit.v for a batch of rows."""
        c, live = self.cfg, rows.live
        any_live = live.any(axis=1)
        masked = np.where(live, rows.codes, c.code_min - 1)
        argmax = np.where(any_live, masked.argmax(axis=1), 0)
        zmax = np.where(any_live, masked.max(axis=1), 0)
        delta = np.where(live, zmax[:, None] - rows.codes, 0)
        if c.variant == "decision":
            y = np.where(live, exp_lookup(c.out_view, self.exp_out, delta), 0)
            return StreamResult(y=y, argmax=argmax, zmax=zmax, s=None, l=None)
        # full / topk: guarded sum over the row (its K largest terms for topk), ln of it, exp
        # table again with the offset
        es = np.where(live, exp_lookup(c.sum_view, self.exp_sum, delta), 0)
        s = es.sum(axis=1) if c.variant == "full" else self.topk_sum(es)
        s_safe = np.maximum(s, c.sum_view.one)
        l = np.where(any_live, self.ln[ln_address(c.ln_view, s_safe, frac_bits=c.sum_frac_bits)], 0)
        y = np.where(live, exp_lookup(c.out_view, self.exp_out, delta + l[:, None]), 0)
        return StreamResult(y=y, argmax=argmax, zmax=zmax, s=s, l=l)

    def topk_sum(self, es: np.ndarray) -> np.ndarray:
        """Sum of the K largest terms per row: the parallel unit's definition
        (models.variants.base.topk_sum) on rows padded with zero terms to at least K lanes
        (a row with fewer than K live lanes sums them all)."""
        k = self.cfg.k
        es = np.pad(es, ((0, 0), (0, max(0, k - es.shape[1]))))
        return topk_sum(_SumShape(k=k, n=es.shape[1]), es)

    def ideal(self, rows: Rows) -> np.ndarray:
        """The float function approximated, on the quantised inputs: exp(z - zmax) (eq. 18),
        softmax over the row's live lanes (K = N), or eq. 30 with the K largest terms (top-K)."""
        x = rows.codes * 2.0 ** -self.cfg.in_frac_bits
        live = rows.live
        if self.cfg.variant == "full":
            return softmax(x, live)
        xm = np.where(live, x, -np.inf)
        mx = np.max(xm, axis=1, keepdims=True)
        mx = np.where(np.isfinite(mx), mx, 0.0)
        ex = np.where(live, np.exp(xm - mx), 0.0)
        return topk_ideal(self.cfg, ex) if self.cfg.variant == "topk" else ex

    # ---- RTL ------------------------------------------------------------------------------------
    def rtl_parameters(self, table_dir: str | Path) -> dict[str, int | str]:
        """Every parameter of rtl/stream/sm_stream_unit.v, tables in table_dir."""
        c, table_dir = self.cfg, Path(table_dir).resolve()
        return {
            "P": c.p,
            "N_MAX": c.n_max,
            "FULL": int(c.variant != "decision"),
            "TOPK": c.k,
            "IN_W": c.width,
            "OUT_FRAC": c.out_frac_bits,
            "OUT_W": c.out_width,
            "EXP_ADDR_W": c.exp_depth.bit_length() - 1,
            "EXP_STEP_LOG2": c.exp_step_log2,
            "SUM_FRAC": c.sum_frac_bits,
            "SUM_ADDR_W": c.sum_depth.bit_length() - 1,
            "SUM_W": c.sum_width,
            "LN_MANT_BITS": c.ln_mant_bits,
            "LN_EXP_BITS": max(1, (c.ln_exponents - 1).bit_length()),
            "LN_DEPTH": c.ln_exponents << c.ln_mant_bits,
            "LN_W": self.ln_width,
            "IDX_W": c.idx_width,
            "EXP_TABLE_FILE": str(table_dir / "exp_table.hex"),
            "SUM_TABLE_FILE": str(table_dir / "sum_table.hex"),
            "LN_TABLE_FILE": str(table_dir / "ln_table.hex"),
        }

    def cycles_per_row(self, length: int) -> int:
        """Cycles from the first input beat to the last output beat with no stall (the RTL's
        latency, docs/stream.md): the input pass, the sum pass (over the row buffer for K = N,
        over the top-K list for top-K; none for the decision unit), then the output pass."""
        c = self.cfg
        beats = -(-length // c.p)
        sum_pass = {"decision": 0, "full": beats + 3, "topk": c.list_beats + 3}[c.variant]
        return beats + sum_pass + beats + 2


def unpad(codes: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows padded with a mask whose live lanes are a prefix (e.g. the MiniLM dump) -> their
    real lengths; a mask with holes is an error (it is not padding)."""
    mask = np.asarray(mask, bool)
    length = mask.sum(axis=1)
    prefix = np.arange(mask.shape[1])[None, :] < length[:, None]
    if not np.array_equal(prefix, mask):
        bad = int(np.flatnonzero((prefix != mask).any(axis=1))[0])
        raise ValueError(f"row {bad}: the mask is not a prefix of live lanes, so it is not padding")
    if length.min() < 1:
        raise ValueError(f"row {int(np.argmin(length))} has no live lane")
    return np.asarray(codes), length.astype(np.int64)

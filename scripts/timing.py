"""Area and timing of softmax_unit in a real standard-cell library (OSU 0.18 um, Debian's
qflow-tech-osu018): Yosys maps to the liberty, OpenSTA (Debian's opensta) times the netlist.

    python -m scripts.timing --config paper_n10_decision [--config NAME|PATH ...] [--all]
                             [--liberty FILE] [--allow-large] [--results results/timing]

Per configuration: area in um^2 and cell count (Yosys `stat -liberty`), the tightest clock the
unit meets (min period = probe period - worst slack; every path is register to register or
port to register with zero I/O delay, so slack moves one for one with the period), the critical
path with its start and end points, and per pipeline stage S0..S4 (the registers of
rtl/softmax_unit.v) the worst path ending in that stage's registers. Results:
results/timing/<config>.json and results/timing/timing.md. Netlists are cached under
build/timing/cache/ by a hash of the sources, tables, parameters, liberty, Yosys version and
this flow; STA is rerun every time (it takes well under a second at N = 10).
"""
from __future__ import annotations

import argparse
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
from scripts.synth_common import (
    BUILD_DIR, REPO, TOP, Prepared, ToolError, estimate_cells, prepare, rtl_sources, run, yosys_cmd,
    yosys_env, yosys_frontend,
)

LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")
LIBERTY_PACKAGE = "qflow-tech-osu018"
STA_PACKAGE = "opensta"
TIMING_BUILD = BUILD_DIR / "timing"
CACHE_DIR = TIMING_BUILD / "cache"
RESULTS_DIR = REPO / "results" / "timing"
# Environment of every path: the cell that drives each input (and that ABC assumes drives each
# of its inputs) and the load on each output, in the liberty's units (pF).
DRIVING_CELL = "INVX1"
OUTPUT_LOAD_PF = 0.01
PROBE_PERIOD_NS = 20.0
# The N = 64 units (about 170k and 220k estimated) pass; N = 1000 (about 560k, whose generic-cell
# synthesis alone took 19 min here) is refused without --allow-large.
MAX_EST_CELLS = 250_000
# Pipeline stages of rtl/softmax_unit.v: a stage register is named <letters><stage digit>
# (q0, d1, e2, s3, y4, ...); the valid bits are the control stage.
STAGE_REG = re.compile(r"([a-z]+)([0-4])")
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

def check_size(cfg: SoftmaxConfig, allow_large: bool) -> int:
    est = estimate_cells(cfg)
    if est > MAX_EST_CELLS and not allow_large:
        raise ToolError(f"'{cfg.name}' is too large for the timing flow's budget: about {est:,} generic cells "
                        f"estimated (N = {cfg.n}, {cfg.exp_depth}-entry exp table x {cfg.out_frac_bits} bits per "
                        f"look-up), limit {MAX_EST_CELLS:,}; pass --allow-large to synthesise it anyway "
                        f"(the generic-cell synthesis of N = 1000 alone takes about 19 min)")
    return est


def synth_key(prep: Prepared, lib: Path, yosys_version: str) -> str:
    """Hash of everything the netlist depends on: RTL, tables (by content), parameters,
    liberty, Yosys version and the flow's own commands."""
    h = hashlib.sha256()
    for p in [*rtl_sources(), lib]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    for k, v in sorted(prep.params.items()):
        h.update(k.encode() + b"=" + (Path(v).read_bytes() if isinstance(v, str) else str(v).encode()))
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
        # Only the top module's names survive (its generate blocks g_* included), so every flop's
        # Q net is named after its stage register (q0, d1, g_norm.g_log.d3, ...); OpenSTA's
        # Verilog reader also rejects some of the flattened instances' (u_*) aliases.
        "rename -hide w:u_* w:*.u_*",
        "opt_clean -purge",
        f"tee -q -o {out / 'stat.json'} stat -json -liberty {lib}",
        f"write_verilog -noattr -noexpr -nohex -nodec {out / 'netlist.v'}",
        "",
    ])


def synthesise(prep: Prepared, lib: Path, yosys_version: str, timeout: float | None) -> Path:
    """The mapped netlist directory (netlist.v, stat.json, yosys.log), from the cache if present.
    Built in a private directory and renamed into place, so parallel runs never see half a netlist."""
    out = CACHE_DIR / synth_key(prep, lib, yosys_version)
    if (out / "netlist.v").is_file() and (out / "stat.json").is_file():
        return out
    work = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp.", dir=_mkdir(CACHE_DIR)))
    local_lib = work / lib.name        # the yowasp sandbox sees the repository only
    shutil.copyfile(lib, local_lib)
    (work / "abc.constr").write_text(abc_constr())
    (work / "synth.ys").write_text(synth_script(prep, local_lib, work))
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


def netlist_flops(netlist: Path) -> dict[str, str]:
    """{flip-flop instance: the net its Q drives}, for every cell with a CLK pin."""
    flops = {}
    for _cell, inst, body in INSTANCE.findall(netlist.read_text()):
        pins = dict(PIN.findall(body))
        if "CLK" in pins:
            if "Q" not in pins or "D" not in pins:
                raise TimingError(f"{netlist}: flip-flop {inst} has no D or Q connection")
            flops[inst] = pins["Q"].strip()
    if not flops:
        raise TimingError(f"{netlist}: no flip-flops found")
    return flops


def stage_of(net: str, last_stage: str) -> str:
    """'S0'..'S4' or 'valid' for a register bit's net name (e.g. e2[5], \\g_norm.g_log.d3 [4])."""
    base = re.sub(r"\s*\[\d+\]$", "", net.lstrip("\\")).rsplit(".", 1)[-1]
    if base in CONTROL_REGS:
        return "valid"
    if base in ("out_data", "out_argmax"):      # the output register drives the port directly
        return last_stage
    m = STAGE_REG.fullmatch(base)
    if m is None:
        raise TimingError(f"flip-flop output net {net!r} is not a stage register of rtl/{TOP}.v "
                          f"(expected <name><stage 0-4>, vld, or an output port)")
    return f"S{m.group(2)}"


def stage_groups(flops: dict[str, str], cfg: SoftmaxConfig) -> dict[str, list[str]]:
    last = "S2" if cfg.k == 1 else "S4"
    groups: dict[str, list[str]] = {}
    for inst, net in flops.items():
        groups.setdefault(stage_of(net, last), []).append(inst)
    return dict(sorted(groups.items()))


# ---- OpenSTA -------------------------------------------------------------------------------------

def sta_script(netdir: Path, lib: Path, period: float, groups: dict[str, list[str]]) -> str:
    L = [f"read_liberty {lib}", f"read_verilog {netdir / 'netlist.v'}", f"link_design {TOP}",
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


# ---- one configuration ---------------------------------------------------------------------------

def _pretty(name: str, flops: dict[str, str]) -> str:
    """An instance name as the register bit it holds (flops), else unchanged (ports)."""
    return flops.get(name, name).lstrip("\\").replace(" [", "[")


def time_unit(config: str | Path | SoftmaxConfig, liberty: Path | None = None, allow_large: bool = False,
              timeout: float | None = None) -> dict:
    """Synthesise one configuration to the liberty (or take its cached netlist) and time it."""
    cfg = config if isinstance(config, SoftmaxConfig) else load_config(config)
    est = check_size(cfg, allow_large)
    lib = liberty_file(liberty)
    versions = tool_versions()
    netdir = synthesise(prepare(cfg, TIMING_BUILD), lib, versions["yosys"], timeout)
    return {**time_netlist(cfg, netdir, lib), "estimated_generic_cells": est, "tools": versions}


def time_netlist(cfg: SoftmaxConfig, netdir: Path, lib: Path) -> dict:
    """Area, tightest clock, critical path and per-stage paths of a mapped netlist directory."""
    flops = netlist_flops(netdir / "netlist.v")
    groups = stage_groups(flops, cfg)
    probe = run_sta(netdir, lib, PROBE_PERIOD_NS, groups)
    # 1 ps resolution, rounded up so the period met is never below what STA computed
    min_period = math.ceil((PROBE_PERIOD_NS - probe["all"].slack_ns) * 1000) / 1000
    crit = run_sta(netdir, lib, min_period, groups)["all"]
    logic = stage_logic(cfg)
    stages = {g: {"logic": logic.get(g, g), "period_needed_ns": round(PROBE_PERIOD_NS - p.slack_ns, 4),
                  "arrival_ns": p.arrival_ns, "start": _pretty(p.start, flops), "end": _pretty(p.end, flops),
                  "flops": len(groups.get(g, []))}
              for g, p in probe.items() if g != "all"}
    seconds = netdir / "synth_seconds.txt"
    return {"config": cfg.name, "variant": cfg.variant, "n": cfg.n, "k": cfg.k, "normalise": cfg.normalise,
            **read_stat(netdir / "stat.json"), "flops": len(flops),
            "min_period_ns": min_period, "fmax_mhz": round(1000 / min_period, 2),
            "slack_at_min_period_ns": crit.slack_ns,
            "critical_path": {"start": _pretty(crit.start, flops), "end": _pretty(crit.end, flops),
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
            check_size(load_config(c), args.allow_large)
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

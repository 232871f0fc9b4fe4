"""Verify a softmax unit described by a design file (docs/byo.md):

    python -m tb.byo.run --design path/to/design.toml [--sim icarus|verilator] [--seed N]
                         [--test byo_random ...] [--dump file.npz] [--mode auto|exact|tolerance]
                         [--vectors N] [--waves]

Builds the design in build/byo/<name>-<hash8>/<sim>/ (reused while the design file, its sources
and its model file are unchanged), runs the tests in one simulator invocation, judges each
recording (tb.byo.scoreboard) and writes results/byo/<name>-<hash8>/<sim>/summary.json.
Exit status: 0 passed, 1 failed, 2 the design file or the design is unusable.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from models.tables import write_tables
from tb.build import TIMESCALE, VERILATOR_MAKEFLAGS, SimulatorMissing, require_simulator, scoped_environ
from tb.run import user_path

from .design import Design, DesignError, load_design, load_model
from .scoreboard import judge
from .stimulus import TESTS, replay_vectors, vectors_for

REPO = Path(__file__).resolve().parents[2]
MODES = ("auto", "exact", "tolerance")


def parameters(d: Design, build_root: Path) -> dict:
    """The top's parameters, strings quoted for the simulators; our own units' from their
    configuration (tables written beside the build)."""
    params = dict(d.parameters)
    if d.config is not None:
        tdir = build_root / d.label / "tables"
        write_tables(d.config, tdir)
        params = d.config.rtl_parameters(tdir)
    return {k: (f'"{v}"' if isinstance(v, str) else v) for k, v in params.items()}


def build(d: Design, sim: str, waves: bool, build_root: Path, log=print) -> Path:
    from cocotb_tools.runner import get_runner
    require_simulator(sim)
    params = parameters(d, build_root)
    bdir = build_root / d.label / (sim + ("-waves" if waves else ""))
    args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"] if sim == "verilator" else []
    stamp = hashlib.sha256(json.dumps([d.digest, sim, params, args, waves, VERILATOR_MAKEFLAGS]).encode()).hexdigest()
    if (bdir / ".byo_stamp").is_file() and (bdir / ".byo_stamp").read_text() == stamp:
        return bdir
    bdir.mkdir(parents=True, exist_ok=True)
    log(f"building {d.name} ({d.top}) on {sim} in {bdir}")
    env = {"MAKEFLAGS": VERILATOR_MAKEFLAGS} if sim == "verilator" else {}
    try:
        with scoped_environ(env):
            get_runner(sim).build(sources=list(d.sources), hdl_toplevel=d.top, build_dir=bdir, parameters=params,
                                  build_args=args, timescale=TIMESCALE, waves=waves, always=True,
                                  log_file=bdir / "build.log")
    except (RuntimeError, SystemExit) as e:
        tail = "".join((bdir / "build.log").read_text(errors="replace").splitlines(True)[-25:])
        raise DesignError(f"{sim} could not build {d.top} from {d.path} ({e}); {bdir / 'build.log'}:\n{tail}") from None
    (bdir / ".byo_stamp").write_text(stamp)
    return bdir


def _junit(xml: Path) -> dict[str, str]:
    if not xml.is_file():
        return {}
    out = {}
    for tc in ET.parse(xml).getroot().iter("testcase"):
        fail = tc.find("failure") is not None or tc.find("error") is not None
        out[tc.get("name")] = "failed" if fail else "passed"
    return out


def stimulus(d: Design, tests: list[str], seed: int, vectors: int, dump: Path | None, work: Path) -> dict:
    notes = {}
    for t in tests:
        if t == "byo_replay":
            codes, mask, _, rep = replay_vectors(d, dump, vectors)
            notes[t] = f"{dump}: {rep}"
        else:
            codes, mask = vectors_for(d, t, seed, vectors if t == "byo_random" else max(vectors // 2, 1))
        np.savez(work / f"stim_{t}.npz", codes=codes, mask=mask)
    return notes


def run(design: str | Path, sim: str = "icarus", seed: int | None = None, tests: list[str] | None = None,
        dump: str | Path | None = None, mode: str = "auto", vectors: int | None = None, waves: bool = False,
        results_root: Path | None = None, build_root: Path | None = None, log=print) -> dict:
    t0 = time.perf_counter()
    d = load_design(design)
    if mode not in MODES:
        raise ValueError(f"unknown mode '{mode}'; use one of {', '.join(MODES)}")
    model = load_model(d) if mode != "tolerance" else None
    if mode == "exact" and model is None:
        raise DesignError(f"{d.path}: --mode exact needs a model = '...' in the design file")
    seed = random.randrange(1, 2**31) if seed is None else int(seed)
    tests = list(tests) if tests else [t for t in TESTS if t != "byo_replay" or dump]
    unknown = [t for t in tests if t not in TESTS]
    if unknown:
        raise ValueError(f"unknown test(s) {unknown}; known: {', '.join(TESTS)}")
    if "byo_replay" in tests and not dump:
        raise ValueError("byo_replay needs --dump file.npz")
    build_root = Path(build_root) if build_root else REPO / "build" / "byo"
    results = (Path(results_root) if results_root else REPO / "results" / "byo") / d.label / sim
    work = results / "work"
    work.mkdir(parents=True, exist_ok=True)
    for f in list(work.glob("obs_*")) + list(work.glob("bind_error.txt")):
        f.unlink()
    bdir = build(d, sim, waves, build_root, log)
    t_build = time.perf_counter() - t0
    notes = stimulus(d, tests, seed, vectors or d.vectors, Path(dump) if dump else None, work)
    spec = {**d.to_json(), "seed": seed}
    (work / "spec.json").write_text(json.dumps(spec))

    from cocotb_tools.runner import get_runner
    xml = results / "results.xml"
    env = {"BYO_SPEC": str(work / "spec.json"), "BYO_WORK": str(work),
           "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING")}
    plusargs, waves_file = [], None
    if waves:     # Icarus: cocotb's dump module takes the path as a plusarg; Verilator: dump.vcd in work/
        waves_file = results / "waves.fst" if sim == "icarus" else work / "dump.vcd"
        if sim == "icarus":
            plusargs.append(f"+dumpfile_path={waves_file}")
    log(f"running {d.name} on {sim}: {', '.join(tests)}; seed {seed}; log {results / 'sim.log'}")
    t1 = time.perf_counter()
    with scoped_environ(env, drop=("PYTEST_CURRENT_TEST", "COVERAGE", "COCOTB_USER_COVERAGE")):
        try:
            get_runner(sim).test(test_module="tb.byo.cocotb_tests", hdl_toplevel=d.top, hdl_toplevel_lang="verilog",
                                 build_dir=bdir, test_dir=work, testcase=tests, seed=seed, extra_env=env, plusargs=plusargs,
                                 waves=waves, results_xml=str(xml), log_file=results / "sim.log", timescale=None)
        except (SystemExit, RuntimeError):
            pass                     # judged from what was written
    t_sim = time.perf_counter() - t1
    if (work / "bind_error.txt").is_file():
        raise DesignError((work / "bind_error.txt").read_text())
    status = _junit(xml)
    per_test = {}
    for t in tests:
        per_test[t] = judge_test(d, model, work, t, status.get(t, "not run"))
        if t in notes:
            per_test[t]["note"] = notes[t]
    errors: dict[str, int] = {}
    for r in per_test.values():
        for k, n in r["errors"].items():
            errors[k] = errors.get(k, 0) + n
    summary = {"design": str(d.path), "name": d.name, "label": d.label, "top": d.top, "sim": sim, "seed": seed,
               "mode": "exact" if model is not None else "tolerance", "claims": d.claims,
               "bounds": {k: getattr(d.bounds, k) for k in ("max_abs_error", "mse_vector", "mse_mean", "sum_error", "argmax")},
               "bounds_from": d.bounds.derivation,
               "passed": all(r["passed"] for r in per_test.values()), "errors": errors,
               "vectors": sum(r.get("checked", 0) for r in per_test.values()),
               "tests": per_test, "build_s": round(t_build, 2), "sim_s": round(t_sim, 2),
               "wall_s": round(time.perf_counter() - t0, 2), "log": str(results / "sim.log"),
               "waves": str(waves_file) if waves_file and waves_file.is_file() else None,
               "rerun": f"python -m tb.byo.run --design {d.path} --sim {sim} --seed {seed}"
                        + (f" --dump {dump}" if dump else "") + (f" --mode {mode}" if mode != "auto" else "")}
    (results / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def judge_test(d: Design, model, work: Path, test: str, status: str) -> dict:
    npz, js = work / f"obs_{test}.npz", work / f"obs_{test}.json"
    if not npz.is_file():
        return {"passed": False, "status": status, "errors": {"sim_error": 1},
                "details": {"sim_error": [f"{test} wrote no recording (simulator status: {status}); see sim.log"]}}
    with np.load(npz) as z:
        obs = {k: z[k] for k in z.files}
    meta = json.loads(js.read_text())
    t0 = time.perf_counter()
    r = judge(d, model, obs, meta["events"], test)
    r["status"], r["cycles"], r["run_s"], r["loop_s"] = status, meta["cycles"], round(meta["run_s"], 4), meta["loop_s"]
    r["judge_s"] = round(time.perf_counter() - t0, 4)
    r["vectors_per_s"] = round(r.get("checked", 0) / (meta["run_s"] + r["judge_s"]), 1) if meta["run_s"] else None
    if status != "passed":
        r["passed"] = False
        r["errors"]["sim_error"] = 1
        r.setdefault("details", {})["sim_error"] = [f"the cocotb test {test} {status}; see sim.log"]
    return r


def format_summary(s: dict) -> str:
    lines = [f"{s['name']} ({s['top']}) on {s['sim']}, {s['mode']} mode, seed {s['seed']}: "
             f"{'PASSED' if s['passed'] else 'FAILED'}, {s['vectors']} vectors checked"]
    for t, r in s["tests"].items():
        m = r.get("metrics", {})
        lines.append(f"  {t}: {r.get('checked', 0)} checked of {r.get('inputs', 0)} accepted, "
                     f"{r.get('lost_at_reset', 0)} lost at reset; max|err| {m.get('max_abs_error', float('nan')):.3g}, "
                     f"mean MSE {m.get('mse_mean', float('nan')):.3g}, argmax ok {m.get('argmax_agree', 0)}"
                     f" (+{m.get('argmax_agree_tied', 0)} tied); errors {r['errors'] or 'none'}")
        for kind, msgs in r.get("details", {}).items():
            for msg in msgs[:3]:
                lines.append(f"    {kind}: {msg}")
    lines.append(f"  rerun: {s['rerun']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", required=True, help="the design file (TOML)")
    ap.add_argument("--sim", default="icarus", choices=("icarus", "verilator"))
    ap.add_argument("--seed", type=int)
    ap.add_argument("--test", nargs="+", choices=TESTS, help="default: all (byo_replay with --dump)")
    ap.add_argument("--dump", help="a logit dump (.npz, docs/dumps.md) replayed as byo_replay")
    ap.add_argument("--mode", default="auto", choices=MODES, help="auto: exact when the design file names a model")
    ap.add_argument("--vectors", type=int, help="vectors of byo_random (others: half); default: the design file's")
    ap.add_argument("--waves", action="store_true")
    a = ap.parse_args(argv)
    try:
        design = user_path(a.design, "design file")            # relative to where make was typed
        dump = str(user_path(a.dump, "dump")) if a.dump else None
        s = run(design, a.sim, a.seed, a.test, dump, a.mode, a.vectors, a.waves)
    except (DesignError, SimulatorMissing, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_summary(s))
    print(f"(summary: {REPO / 'results' / 'byo' / s['label'] / s['sim'] / 'summary.json'})")
    return 0 if s["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

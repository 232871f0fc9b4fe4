"""Launcher: check a run request, build (or reuse) the design on a simulator, run its cocotb
tests in one simulator invocation, and write results/<design>/<sim>/summary.json.

Used by `make sim` (python -m tb.run ...) and by the simulation tests. Every input is checked
before anything is built or cleared (RunRequest.make); the summary is written atomically at the
end, after the previous one was removed at the start, so a failed run never leaves an earlier
verdict looking current (docs/verification.md, "Trusting a verdict").
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import shlex
import shutil
import signal
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from models.config import ConfigError, SoftmaxConfig, list_configs, load_config
from models.dumps import Dump, DumpError, load_dump, open_dump_arg

from . import provenance, testplan
from .build import REPO, TOPLEVEL, design_identity, prepare, rtl_sources, scoped_environ
from .codecov import code_coverage
from .protocol import CHECKS, block_depth
from .simulators import SIMULATORS, Simulator, simulator
from .summary import format_summary, summarise

TESTS = tuple(testplan.TESTS)
PROFILES = ("quick", "full")
MODELS = ("numpy", "fxp")      # the scoreboard's reference: models.datapath, models.fxp_reference
SEED_MAX = 2**32 - 1
BUDGET_S = {   # seconds of simulation per test: quick (make test) / full (make regression, make sim)
    "smx_smoke": (0.2, 1.0), "smx_random": (2.0, 15.0), "smx_replay": (1.5, 30.0),
    "smx_backpressure": (0.6, 5.0), "smx_reset": (0.4, 3.0)}


# ---- paths, seeds, configurations and dumps as the user gave them ---------------------------------

def caller_dir() -> Path:
    """Where the user typed the command: `make` passes it (make -C changes the directory)."""
    return Path(os.environ.get("SMX_CALLER_DIR") or os.getcwd())


def user_path(arg: str | Path, what: str) -> Path:
    """A path from the command line, resolved against the caller's directory; it must exist."""
    p = Path(arg).expanduser()
    full = p if p.is_absolute() else caller_dir() / p
    if not full.is_file():
        where = "" if p.is_absolute() else f" (relative paths are taken from {caller_dir()})"
        raise FileNotFoundError(f"{what} '{arg}' not found: no file {full}{where}")
    return full.resolve()


def resolve_config(arg: str | Path) -> SoftmaxConfig:
    """A configuration name (configs/<name>.toml) or a path to a .toml file."""
    s = str(arg)
    if s.endswith(".toml") or os.sep in s:
        return load_config(user_path(s, "configuration file"))
    return load_config(s)


def check_seed(seed) -> int:
    """The run's seed: an integer in 0..2^32-1 (a random one when None)."""
    if seed is None or seed == "":
        return random.randrange(1, 2**31)
    try:
        v = int(str(seed), 0)
    except ValueError:
        raise ValueError(f"SEED must be an integer in 0..{SEED_MAX}, got {seed!r}") from None
    if not 0 <= v <= SEED_MAX:
        raise ValueError(f"SEED must be an integer in 0..{SEED_MAX}, got {v}")
    return v


def results_root_default() -> Path:
    """results/ of the repository, or $SMX_RESULTS_ROOT (a shard of a distributed regression)."""
    return Path(os.environ.get("SMX_RESULTS_ROOT") or REPO / "results")


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
                out.append(p.resolve())
    return out


def dumps_for(cfg: SoftmaxConfig, explicit: list[str] | None, options: dict | None = None
              ) -> list[tuple[Path, Dump]]:
    """The dumps to replay, each loaded once: the explicit ones must fit (DumpError names the
    configurations that do; a file named twice is refused) and may come from another tool
    (options: from_probabilities, key_map; models.dumps.open_dump_arg); otherwise every bundled
    dump whose lane count is at most N."""
    if explicit:
        paths = [user_path(p, "dump") for p in explicit]
        twice = sorted({str(p) for p in paths if paths.count(p) > 1})
        if twice:
            raise DumpError(f"dump(s) listed more than once: {', '.join(twice)}")
        return [(p, open_dump_arg(p, n_lanes=cfg.n, **(options or {}))) for p in paths]
    if options:
        raise ValueError("DUMP_FROM / DUMP_MAP apply to the dumps named with DUMP=")
    out = []
    for p in bundled_dumps():
        d = load_dump(p)
        if d.logits.shape[1] <= cfg.n:
            out.append((p, d))
    return out


# ---- the plan: how many vectors each test drives --------------------------------------------------

def plan_for(cfg: SoftmaxConfig, sim: str, profile: str) -> dict:
    """Knobs per test: vector counts from the measured rate of this simulator at this N times
    the test's time budget, so that `make test` (quick) stays within its few minutes."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile '{profile}' (known: {', '.join(PROFILES)})")
    quick = profile == "quick"
    rates = simulator(sim).rates
    pts = sorted(rates)
    rate = float(np.interp(np.log(cfg.n), np.log(pts), [rates[p] for p in pts]))

    def v(test: str, floor: int = 64) -> int:
        secs = BUDGET_S[test][0 if quick else 1]
        return int(max(floor, round(rate * secs / 64) * 64))

    block = min(block_depth(cfg.n), 4096 if cfg.n <= 10 else 1024 if cfg.n <= 64 else 256)
    bp = v("smx_backpressure", 256)
    wide = cfg.n > 64
    slow = rate < 100          # vectors/s: per-lane corners of a wide unit take minutes here
    return {
        "smx_smoke": {"vectors": min(v("smx_smoke"), 512 if quick else 4096), "block": min(block, 256)},
        "smx_random": {"vectors": v("smx_random", 256), "block": block},
        # N = 1000: per-lane corners are a thousand vectors each; on a slow simulator only
        # 16 (quick) or 64 (full) lanes of them, and "the max in every lane" only in full
        "smx_corners": {"repeats": 1 if quick or wide else 4, "block": block,
                        "lane_limit": (16 if quick else 64) if wide and slow else 64 if quick else cfg.n,
                        "max_every_lane": not (wide and slow and quick)},
        "smx_replay": {"max_rows": v("smx_replay", 256), "block": block},
        # at least 8 blocks, so that every ready-pattern kind and gap mode comes up
        "smx_backpressure": {"vectors": bp, "block": max(32, min(block, bp // 8))},
        # vectors per traffic segment: 4 resets, 5 segments
        "smx_reset": {"vectors": max(64, v("smx_reset") // 5 // 64 * 64), "resets": 4, "block": min(block, 256)},
    }


# ---- the request ------------------------------------------------------------------------------------

@dataclass
class RunRequest:
    """Everything a run needs, checked before anything is built, cleared or started."""
    cfg: SoftmaxConfig
    tool: Simulator
    seed: int
    tests: list[str]
    dumps: list[tuple[Path, Dump]]
    explicit_dumps: bool
    plan: dict
    profile: str
    waves: bool
    coverage: bool
    mutant: int
    model: str
    check: str
    results: Path
    build_root: Path | None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, config, sim="verilator", seed=None, tests=None, dumps=None, waves=False, coverage=False,
             profile="quick", results_root=None, build_root=None, mutant=0, plan_override=None,
             model="numpy", dump_options=None, check="harness") -> "RunRequest":
        cfg = config if isinstance(config, SoftmaxConfig) else resolve_config(config)
        if model not in MODELS:
            raise ValueError(f"MODEL must be one of {', '.join(MODELS)}, got {model!r}")
        if check not in CHECKS:
            raise ValueError(f"CHECK must be one of {', '.join(CHECKS)}, got {check!r}")
        tool = simulator(sim)
        seed = check_seed(seed)
        tests = list(tests) if tests else list(TESTS)
        unknown = [t for t in tests if t not in TESTS]
        if unknown:
            raise ValueError(f"unknown test(s) {unknown}; known: {', '.join(TESTS)}")
        # bundled dumps only matter to a replay; dumps named by the user are always checked
        dump_list = dumps_for(cfg, dumps, dump_options) if dumps or "smx_replay" in tests else []
        plan = plan_for(cfg, sim, profile)
        if dumps:                       # dumps named by the user are replayed whole
            plan["smx_replay"]["max_rows"] = None
            plan["smx_replay"]["dump_options"] = dict(dump_options or {})
        for t, kn in (plan_override or {}).items():
            plan[t] = {**plan[t], **kn}
        notes = []
        if "smx_replay" in tests and not dump_list:
            tests.remove("smx_replay")
            notes.append(f"smx_replay not run: no bundled dump in data/ fits N={cfg.n}")
            if not tests:
                raise ValueError(notes[-1])
        for p, d in dump_list:
            notes += [f"dump {p.name}: {n}" for n in d.notes]
        # a coverage build is instrumented (slower, different binary): its results live apart
        label = sim + ("-cov" if coverage else "") + (f"-mut{mutant}" if mutant else "")
        root = Path(results_root) if results_root else results_root_default()
        results = root / design_identity(cfg) / label
        return cls(cfg, tool, seed, tests, dump_list, bool(dumps), plan, profile, waves, coverage, mutant,
                   model, check, results, Path(build_root) if build_root else None, notes)

    @property
    def sim(self) -> str:
        return self.tool.name

    def rerun_prefix(self) -> str:
        """The command that reruns this request exactly (the RTL override and the files by
        absolute path); the seed and a test name are appended by the callers."""
        parts = []
        if os.environ.get("SMX_RTL"):
            parts.append(f"SMX_RTL={shlex.quote(os.environ['SMX_RTL'])}")
        parts.append("make sim" if caller_dir().resolve() == REPO else f"make -C {shlex.quote(str(REPO))} sim")
        bundled = design_identity(self.cfg) == self.cfg.name or "SMX_RTL" in os.environ
        cfg_arg = self.cfg.name if bundled and Path(self.cfg.source).parent.resolve() == (REPO / "configs") \
            else str(Path(self.cfg.source).resolve())
        parts += [f"CONFIG={shlex.quote(cfg_arg)}", f"SIM={self.sim}", f"PROFILE={self.profile}"]
        if self.model != "numpy":
            parts.append(f"MODEL={self.model}")
        if self.check != CHECKS[0]:
            parts.append(f"CHECK={self.check}")
        if self.explicit_dumps:
            parts.append("DUMP=" + shlex.quote(",".join(str(p) for p, _ in self.dumps)))
            opts = self.plan["smx_replay"].get("dump_options") or {}
            if opts.get("from_probabilities"):
                parts.append("DUMP_FROM=probabilities")
            if opts.get("key_map"):
                parts.append(f"DUMP_MAP={shlex.quote(str(opts['key_map']))}")
        if self.tests != list(TESTS) and len(self.tests) > 1:
            parts.append("TEST=" + ",".join(self.tests))
        return " ".join(parts)


# ---- results folder: lock, clear, check writable ----------------------------------------------------

@contextmanager
def _results_folder(results: Path):
    """Hold the folder's lock for the whole run; clear the previous run's files first, so that
    nothing of it (above all its summary.json) can be mistaken for this run's verdict."""
    try:
        results.parent.mkdir(parents=True, exist_ok=True)
        lock = open(results.parent / f".{results.name}.lock", "w")
    except OSError as e:
        raise RuntimeError(f"results folder {results.parent} is not writable: {e.strerror}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RuntimeError(f"another simulation run is using {results} (and its stimulus files); "
                           f"wait for it to finish") from None
    try:
        try:
            if results.exists():
                shutil.rmtree(results)
            (results / "tests").mkdir(parents=True)
            (results / "work").mkdir()
        except OSError as e:
            raise RuntimeError(f"cannot clear and recreate the results folder {results}: {e.strerror} "
                               f"({e.filename}); the previous run's files there are not this run's") from None
        yield results
    finally:
        lock.close()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---- the simulator process: signals end it too ------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_descendants() -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _descendants(os.getpid())
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        if not pids:
            return
        time.sleep(0.5)


@contextmanager
def _simulator_dies_with_us():
    """SIGTERM or SIGHUP to the launcher ends the simulator before the results lock is
    released, so a rerun can never start on a folder a simulator is still writing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        _kill_descendants()
        raise SystemExit(128 + signum)
    saved = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


@contextmanager
def _progress(tests_dir: Path, tests: list[str], log, every_s: float = 10.0):
    """Print a line as each test of the simulator run finishes (each writes tests/<name>.json),
    and every few seconds while a long test runs (tests/<name>.progress), so a long run shows
    where it is; the simulator's own output goes to sim.log."""
    stop = threading.Event()

    def watch():
        seen, last = set(), {}
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
                pf = tests_dir / f"{t}.progress"
                if t not in seen and pf.is_file() and time.monotonic() - last.get(t, 0) >= every_s:
                    last[t] = time.monotonic()
                    log(f"  ... {t}: {pf.read_text().strip()}")
            if done:
                return

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def _junit(xml: Path) -> dict[str, tuple[str, str]]:
    """Per test: (passed | failed | skipped, the failure message's first line)."""
    out: dict[str, tuple[str, str]] = {}
    if not xml.is_file():
        return out
    for tc in ET.parse(xml).getroot().iter("testcase"):
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        if bad is not None:
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            out[tc.get("name", "")] = ("failed", msg[0] if msg else "")
        elif tc.find("skipped") is not None:
            out[tc.get("name", "")] = ("skipped", "")
        else:
            out[tc.get("name", "")] = ("passed", "")
    return out


# ---- the run ----------------------------------------------------------------------------------------

def run(config, sim: str = "verilator", seed=None, tests: list[str] | None = None,
        dumps: list[str] | None = None, waves: bool = False, coverage: bool = False,
        profile: str = "quick", results_root: Path | None = None, build_root: Path | None = None,
        log=print, mutant: int = 0, plan_override: dict | None = None, model: str = "numpy",
        dump_options: dict | None = None, check: str = "harness") -> dict:
    t0 = time.perf_counter()
    req = RunRequest.make(config, sim, seed, tests, dumps, waves, coverage, profile, results_root,
                          build_root, mutant, plan_override, model, dump_options, check)
    with _results_folder(req.results):
        return _execute(req, log, t0)


def _execute(req: RunRequest, log, t0: float) -> dict:
    b = prepare(req.cfg, req.sim, coverage=req.coverage, waves=req.waves, root=req.build_root, log=log,
                mutant=req.mutant)
    summary = _simulate(req, b, log, t0, build_s=time.perf_counter() - t0)
    if req.coverage:
        summary["code_coverage"] = code_coverage(req.results / "work", req.results)
    ran = summary.pop("junit_read")
    failed = [t for t, r in summary["tests"].items() if r["status"] != "passed"]
    if req.check == "harness" and failed and ran and summary["errors"]:   # a checker's verdict to explain
        summary["diagnosis"] = _diagnose(req, b, failed, log)
    _write_atomic(req.results / "summary.json", json.dumps(summary, indent=1, default=str))
    return summary


def _diagnose(req: RunRequest, b, failed: list[str], log) -> dict:
    """The harness's checker gives the verdict, not the story: the failing tests are rerun with
    CHECK=monitors (same seed, same stimulus, same simulator: the same run) so that the
    scoreboard's aligner says what went wrong (lost, duplicated, swapped outputs, lane faults)."""
    dreq = replace(req, check="monitors", tests=failed, results=req.results / "diagnosis", waves=False,
                   coverage=False)
    for d in ("tests", "work"):
        (dreq.results / d).mkdir(parents=True, exist_ok=True)
    log(f"diagnosis: rerunning {', '.join(failed)} with CHECK=monitors in {dreq.results}")
    t0 = time.perf_counter()
    d = _simulate(dreq, b, log, t0, build_s=0.0)
    d.pop("junit_read")
    out = {k: d[k] for k in ("check", "passed", "errors", "first_failure", "tests", "log", "rerun")}
    if d["passed"]:
        out["warning"] = ("the CHECK=monitors rerun passed where the harness's checker failed: a fault of "
                          "the checker or a run that is not reproducible; please report it")
    return out


def _simulate(req: RunRequest, b, log, t0: float, build_s: float) -> dict:
    """One simulator run of req.tests and its summary."""
    cfg, results = req.cfg, req.results
    work = results / "work"
    rerun = req.rerun_prefix()
    env = {
        "SMX_CONFIG": str(Path(cfg.source).resolve()) if Path(cfg.source).is_file() else cfg.name,
        "SMX_SIM": req.sim, "SMX_RESULTS": str(results), "SMX_SEED": str(req.seed),
        "SMX_DUMPS": os.pathsep.join(str(p) for p, _ in req.dumps), "SMX_PLAN": json.dumps(req.plan),
        "SMX_RERUN": rerun, "SMX_MODEL": req.model, "SMX_CHECK": req.check,
        "SMX_STIM_FILE": str(work / "stim.bin"), "SMX_EXP_FILE": str(work / "expected.bin"),
        "SMX_RDY_FILE": str(work / "ready.bin"),
        "SMX_IN_LOG": str(work / "in.log"), "SMX_OUT_LOG": str(work / "out.log"),
        "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "INFO"),
        # numpy's BLAS threads busy-wait between calls and take the core the simulator and the
        # checking thread need; the environment's numpy work is per block, not BLAS-sized
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
        # cocotb rewrites the asserts of every module imported after start-up with pytest's
        # rewriter by default (about a second per simulator start here); the environment's
        # verdicts come from the scoreboard's own errors, not from assert introspection
        "COCOTB_REWRITE_ASSERTION_FILES": "",
    }
    plusargs = [f"+smx_stim={env['SMX_STIM_FILE']}", f"+smx_exp={env['SMX_EXP_FILE']}", f"+smx_rdy={env['SMX_RDY_FILE']}",
                f"+smx_in_log={env['SMX_IN_LOG']}", f"+smx_out_log={env['SMX_OUT_LOG']}",
                *req.tool.run_plusargs(req.seed)]
    waves_file = None
    if req.waves:
        waves_file, extra = req.tool.waves(results, work)
        plusargs += extra
    xml = results / "results.xml"
    log(f"running {cfg.name} on {req.sim}: tests {', '.join(req.tests)}; seed {req.seed}; log {results / 'sim.log'}")
    t1 = time.perf_counter()
    sim_error = None
    from cocotb_tools.runner import get_runner
    # cocotb's runner exits the process on failures when it sees pytest (PYTEST_CURRENT_TEST):
    # judge from the XML instead. It also lets os.environ override extra_env, so our settings
    # go through os.environ for the duration of the call.
    try:
        # COVERAGE (e.g. exported by `make sim COVERAGE=1`) would make cocotb collect Python coverage
        with scoped_environ(env, drop=("PYTEST_CURRENT_TEST", "COVERAGE", "COCOTB_USER_COVERAGE")), \
                _progress(results / "tests", req.tests, log), _simulator_dies_with_us():
            get_runner(req.sim).test(
                test_module="tb.tests", hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
                build_dir=b.build_dir, test_dir=work, testcase=req.tests, seed=req.seed, plusargs=plusargs,
                extra_env=env, waves=req.waves, results_xml=str(xml), log_file=results / "sim.log", timescale=None)
    except (SystemExit, RuntimeError) as e:
        if isinstance(e, SystemExit) and isinstance(e.code, int) and e.code >= 128:
            raise                       # a signal: the simulator is gone, nothing to report
        sim_error = f"simulator exited abnormally: {e!r}"
    t_sim = time.perf_counter() - t1

    summary = summarise(
        req, junit=_junit(xml), results=results, sim_error=sim_error, waves_file=waves_file,
        timing={"wall_s": time.perf_counter() - t0, "build_s": build_s, "sim_s": t_sim},
        prov=provenance.collect(cfg, req.sim, req.seed, rtl_sources(), b.table_dir, [p for p, _ in req.dumps],
                                f"{rerun} SEED={req.seed}"))
    summary["junit_read"] = sim_error is None and bool(summary["tests"])
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="paper_n10_decision")
    ap.add_argument("--sim", default="verilator", choices=tuple(SIMULATORS))
    ap.add_argument("--seed", default=None, help=f"integer in 0..{SEED_MAX} (default: random)")
    ap.add_argument("--test", default="", help="comma-separated test names (default: all)")
    ap.add_argument("--dump", default="", help="comma-separated dump files (default: bundled ones that fit)")
    ap.add_argument("--waves", action="store_true")
    ap.add_argument("--coverage", action="store_true")
    ap.add_argument("--profile", default="full", choices=PROFILES)
    ap.add_argument("--model", default="numpy", choices=MODELS,
                    help="the scoreboard's reference: the vectorised numpy model or the fxpmath reference")
    ap.add_argument("--check", default=CHECKS[0], choices=CHECKS,
                    help="where outputs are compared with the model: in the harness (fast; only "
                         "differences logged) or by the scoreboard on every recorded handshake")
    ap.add_argument("--dump-from", default="", choices=("", "logits", "probabilities"),
                    help="the --dump files hold probabilities (converted to logits: models.dumps)")
    ap.add_argument("--dump-map", default="", help="key map of a foreign dump, e.g. predictions:logits,ground_truth:labels")
    a = ap.parse_args(argv)
    dump_options = {k: v for k, v in (("from_probabilities", a.dump_from == "probabilities"),
                                      ("key_map", a.dump_map)) if v}
    try:
        s = run(a.config, a.sim, a.seed, [t for t in a.test.split(",") if t] or None,
                [d for d in a.dump.split(",") if d] or None, a.waves, a.coverage, a.profile, model=a.model,
                dump_options=dump_options, check=a.check)
    except (ConfigError, DumpError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_summary(s))
    return 0 if s["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

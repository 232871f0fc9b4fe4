"""Verdicts a verification engineer can trust (issue 10): X caught on both simulators, results
bound to what made them, the real error on the console, no stale verdicts, resource bounds.
Each case reproduces a wrong or unreadable verdict of an earlier version."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models.config import ConfigError, config_from_dict, load_config
from models.datapath import run_model
from models.dumps import DumpError
from tb.run import check_seed, dumps_for, resolve_config, run
from tb.sequences import corner_vectors
from tb.summary import format_summary

REPO = Path(__file__).resolve().parent.parent
QUIET = dict(log=lambda *a: None)


def _planted_copy(tmp: Path, old: str, new: str) -> str:
    """A copy of rtl/ with one edit in softmax_unit.v; returns the SMX_RTL value."""
    d = tmp / "rtl"
    d.mkdir()
    for p in sorted((REPO / "rtl").glob("*.v")):
        text = p.read_text()
        if p.name == "softmax_unit.v":
            assert old in text
            text = text.replace(old, new)
        (d / p.name).write_text(text)
    return ":".join(str(p) for p in sorted(d.glob("*.v")))


NEVER_WRITTEN = ("            assign out_data   = e2;",
                 "            reg [OUT_W-1:0] never_written;\n"
                 "            assign out_data   = {e2[N*OUT_W-1:OUT_W], never_written};")


@pytest.mark.parametrize("sim", [pytest.param(s, marks=pytest.mark.xdist_group(f"trust-x-{s}"))
                                 for s in ("verilator", "icarus")])
def test_never_written_register_fails_on_both_simulators(sim, tmp_path, monkeypatch):
    # an output lane driven from a register nothing writes: Verilator once passed this run
    monkeypatch.setenv("SMX_RTL", _planted_copy(tmp_path, *NEVER_WRITTEN))
    s = run("paper_n10_decision", sim, seed=11, tests=["smx_smoke"], profile="quick",
            results_root=tmp_path / "results", build_root=tmp_path / "build",
            plan_override={"smx_smoke": {"vectors": 128}}, **QUIET)
    assert not s["passed"]
    kind = "x_on_output" if sim == "icarus" else "data_mismatch"
    assert s["errors"].get(kind, 0) >= 100, s["errors"]
    # the verdict is bound to the planted RTL: its own folder, its hashes, a rerun that uses it
    assert s["design"].startswith("paper_n10_decision@")
    assert s["rerun"].startswith("SMX_RTL=") and "SEED=11" in s["rerun"]
    planted = str(tmp_path / "rtl" / "softmax_unit.v")
    assert s["provenance"]["rtl"][planted] != s["provenance"]["rtl"].get(str(REPO / "rtl" / "softmax_unit.v"))
    assert "rand+reset" in s["x_checks"] if sim == "verilator" else "4-state" in s["x_checks"]
    assert s["first_failure"] and "expected y" in s["first_failure"]["detail"] or kind == "x_on_output"


def test_bundled_run_records_its_provenance(tmp_path):
    s = run("paper_n10_decision", "icarus", seed=5, tests=["smx_smoke"], profile="quick",
            results_root=tmp_path, plan_override={"smx_smoke": {"vectors": 64}}, **QUIET)
    assert s["passed"] and s["design"] == "paper_n10_decision"
    prov = s["provenance"]
    assert set(prov["rtl"]) == {str(p) for p in sorted((REPO / "rtl").glob("*.v"))}
    assert prov["config"]["sha256"] and prov["tables"]["exp_table.hex"]
    assert prov["tools"]["cocotb"] and prov["tools"]["simulator"].startswith("Icarus")
    assert prov["seed"] == 5 and prov["rerun"] == s["rerun"]
    on_disk = json.loads((tmp_path / "paper_n10_decision" / "icarus" / "summary.json").read_text())
    assert on_disk["provenance"]["rtl"] == prov["rtl"]


def test_same_name_other_content_gets_its_own_folder(tmp_path, monkeypatch):
    # a configuration file from another folder with a bundled name is not the bundled design
    text = (REPO / "configs" / "paper_n10_decision.toml").read_text().replace("exp_depth = 256", "exp_depth = 128")
    other = tmp_path / "paper_n10_decision.toml"
    other.write_text(text)
    monkeypatch.setenv("SMX_CALLER_DIR", str(tmp_path))
    cfg = resolve_config("paper_n10_decision.toml")          # relative: from the caller's folder
    assert Path(cfg.source) == other.resolve()
    from tb.build import design_identity
    assert design_identity(cfg) != "paper_n10_decision"
    assert design_identity(load_config("paper_n10_decision")) == "paper_n10_decision"


def test_paths_resolve_against_the_caller_and_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("SMX_CALLER_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"relative paths are taken from {tmp_path}"):
        resolve_config("../x.toml")
    cfg = load_config("paper_n10_decision")
    with pytest.raises(FileNotFoundError, match="dump 'rel/none.npz' not found"):
        dumps_for(cfg, ["rel/none.npz"])


def test_a_dump_listed_twice_is_refused(monkeypatch):
    monkeypatch.setenv("SMX_CALLER_DIR", str(REPO))
    with pytest.raises(DumpError, match="more than once"):
        dumps_for(load_config("paper_n10_decision"), ["data/digits_cnn_logits.npz", "data/digits_cnn_logits.npz"])


@pytest.mark.parametrize("bad", [-1, 2**32, "abc", "1.5"])
def test_invalid_seeds_are_refused_before_anything_runs(bad, tmp_path):
    with pytest.raises(ValueError, match="SEED must be an integer"):
        check_seed(bad)
    with pytest.raises(ValueError, match="SEED must be an integer"):
        run("paper_n10_decision", "icarus", seed=bad, results_root=tmp_path, **QUIET)
    assert not any(tmp_path.iterdir())                      # nothing created, nothing cleared


def test_summary_formats_with_missing_figures():
    s = {"config": "c", "sim": "icarus", "seed": 1, "profile": "quick", "passed": False, "vectors": 0,
         "mismatches": 0, "argmax_agreement_quantized": None, "argmax_agreement_float": None,
         "mse_mean": None, "mse_max": None, "coverage_percent": None, "vectors_per_s": None,
         "wall_s": None, "tests": {"smx_smoke": {"status": "failed", "why": "crashed", "vectors": None}},
         "dumps": {}, "notes": [], "log": "sim.log", "rerun": "make sim", "first_failure": None}
    text = format_summary(s)
    assert "FAILED" in text and "why: crashed" in text and "coverage -%" in text


def test_unwritable_results_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RuntimeError, match="not writable"):
        run("paper_n10_decision", "icarus", seed=1, tests=["smx_smoke"], results_root=blocker, **QUIET)


def test_a_failed_run_leaves_no_earlier_verdict(tmp_path, monkeypatch):
    kw = dict(seed=3, tests=["smx_smoke"], profile="quick", results_root=tmp_path / "res",
              build_root=tmp_path / "build", plan_override={"smx_smoke": {"vectors": 64}}, **QUIET)
    first = run("paper_n10_decision", "icarus", **kw)
    folder = tmp_path / "res" / first["design"] / "icarus"
    assert first["passed"] and (folder / "summary.json").is_file()
    # the same folder, then a build that fails: the earlier PASSED summary must be gone
    monkeypatch.setenv("SMX_RTL", _planted_copy(tmp_path, "module softmax_unit", "module softmax_unit syntax error"))
    monkeypatch.setattr("tb.build.design_identity", lambda cfg: first["design"])
    monkeypatch.setattr("tb.run.design_identity", lambda cfg: first["design"])
    with pytest.raises(RuntimeError, match="build of paper_n10_decision failed"):
        run("paper_n10_decision", "icarus", **kw)
    assert not (folder / "summary.json").exists()


def test_sigterm_to_the_launcher_ends_the_simulator(tmp_path):
    code = ("from tb.run import run; run('paper_n10_decision', 'icarus', seed=1, tests=['smx_random'], "
            f"profile='full', results_root={str(tmp_path)!r})")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         cwd=REPO)
    log = tmp_path / "paper_n10_decision" / "icarus" / "sim.log"

    def simulators():
        out = []
        for c in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                cmd = c.read_bytes()
            except OSError:
                continue
            if b"vvp" in cmd and str(tmp_path).encode() in cmd:
                out.append(int(c.parent.name))
        return out
    t0 = time.time()
    while not (log.is_file() and simulators()) and time.time() - t0 < 120:
        time.sleep(0.2)
    assert simulators(), "the simulator never started"
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    time.sleep(0.5)
    assert not simulators(), "vvp kept running after the launcher was stopped"
    assert not (tmp_path / "paper_n10_decision" / "icarus" / "summary.json").exists()
    # and the folder's lock is free: a new run can start there at once
    s = run("paper_n10_decision", "icarus", seed=2, tests=["smx_smoke"], results_root=tmp_path,
            plan_override={"smx_smoke": {"vectors": 64}}, **QUIET)
    assert s["passed"]


def test_oversized_tables_are_refused_up_front():
    base = load_config("paper_n10_top4").to_dict()
    with pytest.raises(ConfigError, match=r"ln table would have 50,331,648 entries"):
        config_from_dict({**base, "out_frac_bits": 24, "ln_mant_bits": 24})
    with pytest.raises(ConfigError, match="bits of ROM|limit is"):
        config_from_dict({**base, "n": 1024, "k": 4, "exp_depth": 65536, "exp_range": 8.0,
                          "in_int_bits": 8, "in_frac_bits": 13})


@pytest.mark.parametrize("n,k", [(2, 1), (2, 2), (3, 1), (3, 2), (3, 3)])
def test_corners_exist_for_the_smallest_units(n, k):
    # N = 2 once crashed smx_corners (a three-lane saturation corner)
    base = load_config("paper_n10_top4").to_dict()
    cfg = config_from_dict({**base, "name": f"tiny_n{n}_k{k}", "n": n, "k": k})
    parts = corner_vectors(np.random.default_rng(0), cfg)
    assert parts and all(x.shape[1] == n and m.shape == x.shape for _, x, m in parts)
    for name, c, mk in cfg.unit.directed_vectors(np.random.default_rng(0), cfg):
        run_model(cfg, c, mk)


def test_another_tools_probabilities_replay_directly(tmp_path, monkeypatch):
    # a classifier's softmax outputs under other key names, replayed without writing Python
    from models.dumps import load_dump
    from models.reference import softmax
    d = load_dump(REPO / "data" / "digits_cnn_logits.npz")
    np.savez(tmp_path / "other_tool.npz", predictions=softmax(d.logits[:64]).astype(np.float32),
             ground_truth=d.labels[:64])
    monkeypatch.setenv("SMX_CALLER_DIR", str(tmp_path))
    s = run("paper_n10_decision", "icarus", seed=4, tests=["smx_replay"], dumps=["other_tool.npz"],
            dump_options={"from_probabilities": True, "key_map": "predictions:logits,ground_truth:labels"},
            results_root=tmp_path / "res", **QUIET)
    assert s["passed"] and s["vectors"] == 64
    (path, rep), = s["dumps"].items()
    assert rep["rows_in_dump"] == 64 and rep["argmax_agreement_float"] == 1.0
    assert any("converted from probabilities" in n for n in rep["notes"])
    assert "DUMP_FROM=probabilities" in s["rerun"] and "DUMP_MAP=" in s["rerun"]
    assert rep["sha256"] == s["provenance"]["dumps"][path]


def test_a_truncated_npz_is_called_truncated(tmp_path):
    src = REPO / "data" / "digits_cnn_logits.npz"
    cut = tmp_path / "cut.npz"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    from models.dumps import load_dump
    with pytest.raises(DumpError, match="truncated or damaged .npz archive"):
        load_dump(cut)

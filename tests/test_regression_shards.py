"""Regressions past one machine: deterministic shards (tb/shard.py), the merge of their results
into one verdict (scripts/regression_merge.py), and a tiny regression run sharded two ways on a
Dask LocalCluster of two workers (scripts/dask_regression.py), whose merged verdict must equal
the same regression run unsharded."""
from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts.regression_merge import MergeError, merge, sum_coverage_dat
from tb.shard import parse_shard, parts

REPO = Path(__file__).resolve().parent.parent
CONFIGS = ("paper_n10_decision", "paper_n10_top4")

# the payload: 2 configurations x Icarus, two cheap tests with small vector counts; each run
# writes to $SMX_RESULTS_ROOT, the shard's own results folder
TINY_REGRESSION = textwrap.dedent(f'''
    import os
    import pytest
    from tb.run import run

    @pytest.mark.parametrize("config", {list(CONFIGS)!r})
    def test_tiny(config):
        s = run(config, "icarus", seed=5, tests=["smx_smoke", "smx_random"], profile="quick",
                results_root=os.environ["SMX_RESULTS_ROOT"], log=lambda *a: None,
                plan_override={{"smx_smoke": {{"vectors": 64}}, "smx_random": {{"vectors": 256, "block": 128}}}})
        assert s["passed"], s["tests"]
''')


# ---- the shard split -------------------------------------------------------------------------------

def test_shards_partition_the_tests_whatever_the_order():
    ids = [f"tests/test_sim.py::test_sim[cfg{k}-{s}]" for k in range(9) for s in ("icarus", "verilator")]
    split = parts(ids, 4)
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    assert parts(shuffled, 4) == split                       # same parts on every machine
    sizes = [sum(1 for p in split.values() if p == i) for i in range(1, 5)]
    assert sorted(sizes) == [4, 4, 5, 5]                     # 18 ids dealt round-robin
    assert set(split) == set(ids)


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shard_is_refused(bad):
    with pytest.raises(ValueError, match="i/n"):
        parse_shard(bad)


def test_pytest_runs_only_its_shard(tmp_path):
    (tmp_path / "test_many.py").write_text("import pytest\n@pytest.mark.parametrize('k', range(7))\n"
                                           "def test_k(k):\n    pass\n")
    seen = []
    for i in (1, 2, 3):
        p = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_many.py"), "-p", "tb.shard",
                            f"--shard={i}/3", "--collect-only", "-q", "-p", "no:cacheprovider",
                            "--rootdir", str(tmp_path)],
                           cwd=REPO, capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        seen.append([ln for ln in p.stdout.splitlines() if "::test_k[" in ln])
    assert [len(s) for s in seen] == [3, 2, 2]
    assert sorted(x for s in seen for x in s) == sorted(f"test_many.py::test_k[{k}]" for k in range(7))


# ---- the merge -----------------------------------------------------------------------------------

def test_coverage_dat_hits_are_summed_point_by_point(tmp_path):
    a, b = tmp_path / "a.dat", tmp_path / "b.dat"
    a.write_bytes(b"# SystemC::Coverage-3\nC '\x01f\x02x.v\x01l\x021\x01page\x02v_line/top' 3\n"
                  b"C '\x01f\x02x.v\x01l\x022\x01page\x02v_line/top' 0\n")
    b.write_bytes(b"# SystemC::Coverage-3\nC '\x01f\x02x.v\x01l\x022\x01page\x02v_line/top' 5\n"
                  b"C '\x01f\x02x.v\x01l\x023\x01page\x02v_line/top' 0\n")
    out = sum_coverage_dat([a, b], tmp_path / "m.dat")
    counts = {ln.rsplit(b" ", 1)[0].split(b"\x01l\x02")[1][:1]: int(ln.rsplit(b" ", 1)[1])
              for ln in out.read_bytes().splitlines() if ln.startswith(b"C '")}
    assert counts == {b"1": 3, b"2": 5, b"3": 0}


def test_a_run_in_two_shards_is_refused(tmp_path):
    for shard in ("s1", "s2"):
        d = tmp_path / shard / "paper_n10_decision" / "icarus"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({"seed": 1}))
    with pytest.raises(MergeError, match="in two shards"):
        merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "out")


def test_an_empty_shard_is_refused(tmp_path):
    (tmp_path / "s1").mkdir()
    with pytest.raises(MergeError, match="holds no run"):
        merge([tmp_path / "s1"], tmp_path / "out")


# ---- a tiny regression: sharded on Dask == unsharded -------------------------------------------------

def _verdict_key(v: dict) -> list[tuple]:
    return sorted((r["config"], r["sim"], r["seed"], r["passed"], r["vectors"], r["mismatches"]) for r in v["runs"])


def test_dask_sharded_regression_equals_unsharded(tmp_path):
    from dask.distributed import Client, LocalCluster

    from scripts.dask_regression import run_shard, run_sharded, unpack
    payload = tmp_path / "test_tiny_regression.py"
    payload.write_text(TINY_REGRESSION)
    args = [str(payload), "--rootdir", str(tmp_path)]

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        sharded, shards = run_sharded(args, 2, tmp_path / "dask", client)
        workers = {w["id"] for w in client.scheduler_info()["workers"].values()}
    assert len(workers) == 2
    assert [s["returncode"] for s in shards] == [0, 0], [s["tail"] for s in shards]

    # each shard ran one of the two runs (the split is real), and the merge put them together
    per_shard = [len(list((tmp_path / "dask" / "shards" / str(i)).glob("*/*/summary.json"))) for i in (1, 2)]
    assert per_shard == [1, 1]

    # the same regression in one piece (1 shard of 1, in this process), merged the same way
    one = run_shard(1, 1, args, str(REPO))
    assert one["returncode"] == 0, one["tail"]
    whole = merge([unpack(one, tmp_path / "whole" / "1")], tmp_path / "whole" / "merged")

    assert sharded["passed"] and whole["passed"]
    assert _verdict_key(sharded) == _verdict_key(whole)
    assert {r["config"] for r in sharded["runs"]} == set(CONFIGS)
    assert sharded["vectors"] == whole["vectors"] == sum(r["vectors"] for r in whole["runs"]) > 0
    assert sharded["junit"]["tests"] == whole["junit"]["tests"] == 2
    assert sharded["junit"]["failures"] == sharded["junit"]["errors"] == 0
    report = (tmp_path / "dask" / "merged" / "regression.md").read_text()
    assert all(c in report for c in CONFIGS)

"""Run a sharded simulation regression on a Dask cluster, then merge the shards into one verdict.

    python -m scripts.dask_regression --shards 4 --out results/merged \\
        [--scheduler tcp://host:8786 | --workers 2] -- tests/test_sim.py --smx-profile full

One Dask task per shard: it runs `python -m pytest <args> -p tb.shard --shard i/n` in its own
process on a worker (in the worker's checkout of this repository, which must be the same commit)
with SMX_RESULTS_ROOT pointing at a fresh folder, and returns that folder packed as a tar.gz
(without the simulators' work/ files), so that workers need no file system shared with the
client. The client unpacks each into <out>/shards/<i>/ and runs scripts.regression_merge.
Without --scheduler a LocalCluster of --workers processes is started (one thread each: a shard
runs simulators, not Python threads). Dask, not Ray: a plain task graph of subprocess calls is
all this needs; distributed installs from PyPI with no compiled extensions, its LocalCluster
starts in seconds, and `dask scheduler` / `dask worker` over SSH or SLURM (dask-jobqueue) is the
whole cluster set-up (docs/regression.md).
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from scripts.regression_merge import MergeError, merge

REPO = Path(__file__).resolve().parent.parent


def run_shard(i: int, n: int, pytest_args: list[str], repo: str) -> dict:
    """On a worker: one pytest shard in its own process; returns its results folder packed."""
    with tempfile.TemporaryDirectory(prefix=f"smx-shard{i}-") as tmp:
        root = Path(tmp) / "results"
        root.mkdir()
        cmd = [sys.executable, "-m", "pytest", *pytest_args, "-p", "tb.shard", f"--shard={i}/{n}",
               f"--junitxml={root / f'junit-shard{i}.xml'}", "-p", "no:cacheprovider", "-q"]
        p = subprocess.run(cmd, cwd=repo, capture_output=True, text=True,
                           env={**os.environ, "SMX_RESULTS_ROOT": str(root), "SHARD": f"{i}/{n}"})
        (root / f"pytest-shard{i}.log").write_text(" ".join(cmd) + "\n" + p.stdout + p.stderr)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(root, arcname=".", filter=lambda ti: None if "work" in Path(ti.name).parts else ti)
    return {"shard": i, "returncode": p.returncode, "tar": buf.getvalue(), "tail": (p.stdout + p.stderr)[-3000:]}


def unpack(res: dict, dest: Path) -> Path:
    """A shard's packed results folder (run_shard) -> dest."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(res["tar"]), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_sharded(pytest_args: list[str], shards: int, out: Path, client) -> tuple[dict, list[dict]]:
    """Submit one task per shard on `client`, unpack the results, merge them into `out`."""
    if shards < 1:
        raise ValueError(f"--shards must be at least 1, got {shards}")
    futures = [client.submit(run_shard, i, shards, list(pytest_args), str(REPO), pure=False,
                             key=f"smx-shard-{i}-of-{shards}") for i in range(1, shards + 1)]
    results = client.gather(futures)
    folders = [unpack(r, Path(out) / "shards" / str(r["shard"])) for r in results]
    verdict = merge(folders, Path(out) / "merged")
    return verdict, [{k: v for k, v in r.items() if k != "tar"} for r in results]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else ["tests/test_sim.py"]
    ap = argparse.ArgumentParser(prog="python -m scripts.dask_regression", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "dask")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    from dask.distributed import Client, LocalCluster
    try:
        if a.scheduler:
            with Client(a.scheduler) as client:
                verdict, shards = run_sharded(pytest_args, a.shards, a.out, client)
        else:
            with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                verdict, shards = run_sharded(pytest_args, a.shards, a.out, client)
    except (MergeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in shards:
        print(f"shard {s['shard']}/{a.shards}: pytest exit {s['returncode']}")
    if not verdict["runs"]:
        print("no simulation run came back from the shards: do the tests write their runs under "
              "$SMX_RESULTS_ROOT (tb/run.py)? the pytest logs are in " + str(a.out / "shards"), file=sys.stderr)
    print(f"{'PASS' if verdict['passed'] else 'FAIL'}: {len(verdict['runs'])} runs, {verdict['vectors']} vectors; "
          f"{a.out / 'merged' / 'regression.md'}")
    return 0 if verdict["passed"] and all(s["returncode"] == 0 for s in shards) else 1


if __name__ == "__main__":
    sys.exit(main())

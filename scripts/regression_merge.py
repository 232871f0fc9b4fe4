"""Merge the results of regression shards (machines, CI jobs, Dask tasks, nightly seeds) into one
verdict.

    python -m scripts.regression_merge --out results/merged SHARD_DIR [SHARD_DIR ...]

A shard folder is the results root of one shard: <design>/<sim label>/summary.json per run, at
any depth below it (as tb/run.py writes them, with coverage.xml and, for COVERAGE=1 runs,
coverage.dat) and the shard's pytest JUnit file(s) junit*.xml or regression.xml at its top. The merge writes into --out:

  <design>/<label>[-seed<s>]/   each run's files (summary.json with its paths pointing here;
                                the label takes the seed when one run exists under several seeds)
  regression.md                 tb.regression_report.render over every run, which also merges
                                the functional coverage of each configuration with cocotb-coverage
                                (<design>/coverage_merged.xml)
  junit.xml                     every shard's test suites in one file
  <design>/coverage_merged.dat  Verilator code coverage of the configuration's COVERAGE=1 runs,
                                hit counts summed point by point
  regression.json               the verdict: passed, runs, vectors, JUnit totals, the merged
                                functional and code coverage

A run present in two shards (same design, simulator label and seed) is refused: shards are
disjoint by construction (tb/shard.py), so a duplicate means two result sets were mixed up.
Exit status 0 when there were runs and all passed, 1 when something failed, 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tb.codecov import parse_coverage_dat
from tb.coverage import read_export
from tb.regression_report import render

JUNIT_GLOBS = ("junit*.xml", "regression.xml")   # a shard's pytest --junitxml (make regression's name)
RUN_FILES_SKIPPED = ("work",)        # stimulus and log files of the simulator: large, not results
JUNIT_TOTALS = ("tests", "failures", "errors", "skipped")


class MergeError(ValueError):
    """The shard folders cannot be merged (missing, empty, overlapping); the message says why."""


@dataclass(frozen=True)
class Run:
    shard: Path
    folder: Path          # <shard>/<design>/<label>
    summary: dict

    @property
    def key(self) -> tuple[str, str, int]:
        return self.folder.parent.name, self.folder.name, int(self.summary["seed"])


def _junit_files(shard: Path) -> list[Path]:
    return sorted({f for g in JUNIT_GLOBS for f in shard.glob(g)})


def find_runs(shards: list[Path]) -> list[Run]:
    runs: dict[tuple, Run] = {}
    for shard in shards:
        if not shard.is_dir():
            raise MergeError(f"shard folder {shard} does not exist")
        # at any depth: a nightly shard may hold one results root per seed (docs/regression.md)
        found = sorted(f for f in shard.rglob("summary.json") if "work" not in f.relative_to(shard).parts)
        if not found and not _junit_files(shard):
            raise MergeError(f"shard folder {shard} holds no run (<design>/<sim>/summary.json) and no JUnit file "
                            f"({' or '.join(JUNIT_GLOBS)})")
        for f in found:
            r = Run(shard, f.parent, json.loads(f.read_text()))
            if r.key in runs:
                raise MergeError(f"run {r.key[0]}/{r.key[1]} seed {r.key[2]} is in two shards: "
                                 f"{runs[r.key].folder} and {r.folder}")
            runs[r.key] = r
    return [runs[k] for k in sorted(runs)]


def _relocate(s: dict, old: Path, new: Path) -> dict:
    """The summary with every path into its old run folder pointing into the merged one."""
    def move(p):
        if isinstance(p, str) and Path(p).parent == old:
            return str(new / Path(p).name)
        return p
    s = {**s, "log": str(new / "sim.log"), "junit": str(new / "results.xml"), "shard": str(old.parent.parent)}
    if isinstance(s.get("code_coverage"), dict):
        s["code_coverage"] = {k: move(v) for k, v in s["code_coverage"].items()}
    return s


def copy_runs(runs: list[Run], out: Path) -> list[dict]:
    seeds = defaultdict(set)
    for r in runs:
        seeds[r.key[:2]].add(r.key[2])
    sums = []
    for r in runs:
        design, label, seed = r.key
        dest = out / design / (label if len(seeds[(design, label)]) == 1 else f"{label}-seed{seed}")
        shutil.copytree(r.folder, dest, ignore=lambda d, names: [n for n in names if n in RUN_FILES_SKIPPED])
        s = _relocate(r.summary, r.folder, dest)
        (dest / "summary.json").write_text(json.dumps(s, indent=1, default=str))
        sums.append(s)
    return sums


def merge_junit(files: list[Path], out: Path) -> dict:
    """Every <testsuite> of the shards' JUnit files under one <testsuites>, totals summed."""
    root = ET.Element("testsuites")
    totals = dict.fromkeys(JUNIT_TOTALS, 0)
    for f in files:
        top = ET.parse(f).getroot()
        for suite in ([top] if top.tag == "testsuite" else top.iter("testsuite")):
            suite.set("name", f"{suite.get('name', 'pytest')} [{f.parent.name}]")
            root.append(suite)
            for k in JUNIT_TOTALS:
                totals[k] += int(suite.get(k, 0))
    for k, v in totals.items():
        root.set(k, str(v))
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return totals


def sum_coverage_dat(files: list[Path], out: Path) -> Path:
    """Verilator coverage.dat files of one design -> one file with the hits of each point summed.
    A point is one line `C '<key>' <count>`: the same key in every run of the same build."""
    counts: dict[bytes, int] = {}
    for f in files:
        for line in f.read_bytes().splitlines():
            if line.startswith(b"C '"):
                key, n = line.rsplit(b" ", 1)
                counts[key] = counts.get(key, 0) + int(n)
    lines = b"".join(k + b" " + str(n).encode() + b"\n" for k, n in counts.items())
    out.write_bytes(b"# SystemC::Coverage-3\n" + lines)
    return out


def merge_code_coverage(sums: list[dict], out: Path) -> dict:
    by_design = defaultdict(list)
    for s in sums:
        data = (s.get("code_coverage") or {}).get("data")
        if data and Path(data).is_file():
            by_design[Path(data).parent.parent.name].append(Path(data))
    res = {}
    for design, files in sorted(by_design.items()):
        dat = sum_coverage_dat(files, out / design / "coverage_merged.dat")
        dut = parse_coverage_dat(dat).get("dut", {})
        pts, hit = sum(d["points"] for d in dut.values()), sum(d["hit"] for d in dut.values())
        res[design] = {"runs": len(files), "file": str(dat), "points": pts, "points_hit": hit,
                       "percent": round(100.0 * hit / pts, 2) if pts else None}
    return res


def _fresh_output(out: Path) -> None:
    """An empty output folder: a previous merge's (it holds regression.json) is replaced, any
    other non-empty folder is refused rather than mixed with."""
    if out.exists() and any(out.iterdir()):
        if not (out / "regression.json").is_file():
            raise MergeError(f"output folder {out} is not empty and holds no earlier merge (regression.json): "
                             f"choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def merge(shards: list[Path], out: Path) -> dict:
    """Merge the shard folders into `out`; returns the verdict (also out/regression.json)."""
    shards = [Path(s).resolve() for s in shards]
    out = Path(out).resolve()
    if out in shards:
        raise MergeError(f"the output folder {out} is one of the shards")
    runs = find_runs(shards)
    _fresh_output(out)
    sums = copy_runs(runs, out)
    junit_files = [f for s in shards for f in _junit_files(s)]
    junit = merge_junit(junit_files, out / "junit.xml") if junit_files else None
    text = render(sums) if sums else "# Simulation regression\n\nno simulation run in the shards\n"
    code = merge_code_coverage(sums, out)
    functional = {f.parent.name: read_export(f) for f in sorted(out.glob("*/coverage_merged.xml"))}
    if code:
        text += "\n## RTL code coverage merged over the shards\n\n" + "".join(
            f"- {d}: {c['percent']}% of {c['points']} points over {c['runs']} run(s) (`{c['file']}`)\n"
            for d, c in code.items())
    (out / "regression.md").write_text(text)
    verdict = {
        # no run at all is no verdict: e.g. the shards wrote their runs somewhere else
        "passed": bool(sums) and all(s["passed"] for s in sums)
                  and (junit is None or junit["failures"] + junit["errors"] == 0),
        "shards": [str(s) for s in shards],
        "runs": [{"config": s["config"], "sim": s["sim"], "seed": s["seed"], "passed": s["passed"],
                  "vectors": s["vectors"], "mismatches": s["mismatches"], "shard": s["shard"]} for s in sums],
        "vectors": sum(s["vectors"] for s in sums),
        "junit": junit, "functional_coverage": functional, "code_coverage": code,
    }
    (out / "regression.json").write_text(json.dumps(verdict, indent=1))
    return verdict


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.regression_merge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards", type=Path, nargs="+", help="the shards' results folders")
    ap.add_argument("--out", type=Path, required=True, help="the merged results folder")
    ap.add_argument("--expect", type=int, help="the number of shards the regression was split into: "
                    "fewer folders (a shard that uploaded nothing) is an error")
    a = ap.parse_args(argv)
    if a.expect is not None and a.expect != len(a.shards):
        print(f"error: {len(a.shards)} shard folder(s) given, the regression has {a.expect}: "
              f"{', '.join(map(str, a.shards))}", file=sys.stderr)
        return 2
    try:
        v = merge(a.shards, a.out)
    except (MergeError, OSError, json.JSONDecodeError, ET.ParseError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    j = v["junit"] or {}
    print(f"{'PASS' if v['passed'] else 'FAIL'}: {len(v['runs'])} runs from {len(v['shards'])} shards, "
          f"{v['vectors']} vectors; JUnit {j.get('tests', '-')} tests, {j.get('failures', '-')} failures, "
          f"{j.get('errors', '-')} errors; {a.out / 'regression.md'}")
    return 0 if v["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

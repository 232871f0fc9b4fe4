"""Functional coverage in cocotb-coverage's own model, sampled once per block.

Every coverpoint and cross is a cocotb-coverage CoverPoint / CoverCross in its coverage_db: the
bins, the hit counts, the holes, the sizes and the percentages are the library's objects, and so
are the XML/YAML export and the regression-level merge (`python -m tb.coverage merge OUT IN...`).

Speed: the library's sampling (a decorated call that matches one value against every bin) costs
about 200 us for a 255-bin point, so one call per lane would cost seconds per 4096-vector block,
far more than simulating it. The bins of a whole block are therefore computed with numpy and each
point takes the block's counts in one call (`add`): counts[bin] hits, exactly what counts[bin]
single samples of the library would add (tests/test_coverage.py checks this against the library's
own sampling). Hit counts are exact, in each point's unit: vectors, lanes, blocks or events.

Goal points live under the root "smx" (their percentage is the run's coverage figure);
informational ones under "smx_info" (reported, not part of the percentage). Which points exist
depends on the variant (VARIANT_GROUPS).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import yaml
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db, merge_coverage

from models.config import SoftmaxConfig
from models.datapath import ModelResult, ln_address
from models.tables import build_tables
from models.variants.divide import (ROUNDING, divider_classes, divider_sum_bins,  # noqa: F401 (re-exported)
                                    divider_witness_vectors, reachable_divider_pairs)
from models.variants.log_domain import reachable_ln_entries  # noqa: F401 (re-exported)
from models.variants.sums import LaneSums  # noqa: F401 (re-exported)

from .flow import GAP_KINDS, READY_KINDS

GOAL, INFO = "smx", "smx_info"


# ---- the library's items, fed a block at a time ---------------------------------------------------

def _add_hits(item, counts: dict) -> None:
    """Add counts[bin] hits to each bin of a cocotb-coverage point or cross, as counts[bin] samples
    of the library's own sampling would: its hit counters (`_hits`), the bins of the last sample
    (`_new_hits`) and the coverage passed up the tree (`_update_coverage`), cocotb-coverage 2.0.
    A bin counted 0 is not hit (it need not exist). Bin callbacks are not called (none are used)."""
    hits = item._hits
    unknown = [b for b, c in counts.items() if c and b not in hits]     # a 0 count hits nothing
    if unknown:
        raise KeyError(f"{item.name}: bins {sorted(map(str, unknown))[:5]} are not defined "
                       f"(the binning code and the bins disagree)")
    negative = {b: c for b, c in counts.items() if c < 0}
    if negative:
        raise ValueError(f"{item.name}: negative counts {negative}")
    item._new_hits = [b for b, c in counts.items() if c]
    newly_covered = 0
    for b in item._new_hits:
        before = hits[b]
        hits[b] = before + int(counts[b])
        newly_covered += before < item.at_least <= hits[b]
    if newly_covered:
        item._parent._update_coverage(newly_covered * item.weight)


def _fresh(cls, name: str):
    # the library's XML merge takes any element whose tag contains "bin" for a bin
    if any("bin" in part for part in name.split(".")):
        raise ValueError(f"coverage item {name}: a name part containing 'bin' breaks the XML merge")
    # the library returns an existing item of the same name: that would mix two models' counts
    if name in coverage_db:
        raise ValueError(f"coverage item {name} is already defined (one coverage model per root)")
    return object.__new__(cls)


class BlockCoverPoint(CoverPoint):
    """A cocotb-coverage CoverPoint whose hits come a block at a time (`add`)."""

    def __new__(cls, name: str, bins: list, unit: str):
        return _fresh(cls, name)

    def __init__(self, name: str, bins: list, unit: str):
        if not bins:
            raise ValueError(f"coverpoint {name}: no bins")
        super().__init__(name, bins=list(bins))
        self.name, self.unit = name, unit

    add = _add_hits


class BlockCoverCross(CoverCross):
    """A cocotb-coverage CoverCross of two or more points whose hits (tuples of their bins) come a
    block at a time (`add`); `ign_bins` are the combinations that cannot occur."""

    def __new__(cls, name: str, items: list[str], unit: str, ign_bins: list = ()):
        return _fresh(cls, name)

    def __init__(self, name: str, items: list[str], unit: str, ign_bins: list = ()):
        super().__init__(name, items=list(items), ign_bins=list(ign_bins))
        self.name, self.unit = name, unit

    add = _add_hits


def _counts(values: np.ndarray) -> dict:
    """Non-negative integer values -> {value: how many}, for the values present."""
    c = np.bincount(np.ravel(values))
    nz = np.flatnonzero(c)
    return dict(zip(nz.tolist(), c[nz].tolist()))


# ---- bins that need computing ----------------------------------------------------------------------

def mask_population_bins(cfg: SoftmaxConfig) -> list[tuple[int, int]]:
    """Live-lane counts: 0, 1, K, N as single bins and the ranges between them."""
    points = sorted({0, 1, cfg.k, cfg.n})
    bins: list[tuple[int, int]] = []
    for a, b in zip(points, points[1:] + [None]):
        bins.append((a, a))
        if b is not None and b - a > 1:
            bins.append((a + 1, b - 1))
    return bins


def _label(r: tuple[int, int]) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}..{r[1]}"


# ---- the coverage model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One block of observed inputs with the model's intermediate values."""
    codes: np.ndarray
    mask: np.ndarray
    res: ModelResult

    @cached_property
    def any_live(self) -> np.ndarray:
        return self.mask.any(axis=1)

    @cached_property
    def delta(self) -> np.ndarray:
        return np.where(self.mask, self.res.zmax[:, None] - self.codes, -1)


class CoverageModel:
    """One per simulation process and configuration; every test of a run adds to it. `root`
    names the goal tree (its informational twin is root + "_info")."""

    def __init__(self, cfg: SoftmaxConfig, root: str = GOAL):
        if cfg.variant not in VARIANT_GROUPS:
            raise ValueError(f"no coverage groups for variant '{cfg.variant}': add it to VARIANT_GROUPS")
        self.cfg, self.root, self.info = cfg, root, root + "_info"
        self.points: dict[str, BlockCoverPoint | BlockCoverCross] = {}
        # {point: {bin: hits}}: when set, add() only counts here (a checking process's hits, added
        # to the library's items by its parent: tb/env.py CoverageCollector)
        self.recording: dict[str, dict] | None = None
        self.groups = (*SHARED_GROUPS, *VARIANT_GROUPS[cfg.variant])
        for g in self.groups:
            g.define(self)
        _define_flow(self)

    # -- definition and sampling by relative name ("exp.first_entry")
    def point(self, rel: str, bins: list, unit: str, goal: bool = True) -> None:
        self.points[rel] = BlockCoverPoint(f"{self.root if goal else self.info}.{rel}", bins, unit)

    def cross(self, rel: str, items: list[str], unit: str, ign_bins: list = (), goal: bool = True) -> None:
        names = [self.points[i].name for i in items]
        self.points[rel] = BlockCoverCross(f"{self.root if goal else self.info}.{rel}", names, unit, ign_bins)

    def add(self, rel: str, counts: dict) -> None:
        if self.recording is None:
            self.points[rel].add(counts)
            return
        if rel not in self.points:
            raise KeyError(f"coverage point {rel} is not defined")
        acc = self.recording.setdefault(rel, {})
        for b, c in counts.items():
            acc[b] = acc.get(b, 0) + c

    def sample_block(self, codes: np.ndarray, mask: np.ndarray, res: ModelResult) -> None:
        b = Block(codes, mask, res)
        for g in self.groups:
            g.sample(self, b)

    def sample_flow(self, ready_kind: str, gap_mode: str, stall_out: int, stall_in: int,
                    aborted: bool, saturated: int) -> None:
        self.add("flow.ready", {ready_kind: 1})
        self.add("flow.gaps", {gap_mode: 1})
        self.add("flow.ready_x_gaps", {(ready_kind, gap_mode): 1})
        self.add("flow.out_stalled", {"stalled" if stall_out else "free": 1})
        self.add("flow.in_stalled", {"stalled" if stall_in else "free": 1})
        self.add("input.saturated_values", {"some" if saturated else "none": 1})
        if aborted:
            self.add("reset", {"mid_block": 1})

    def sample_reset(self, in_flight: int) -> None:
        if in_flight:
            self.add("reset", {"in_flight": 1})

    # -- report: everything read from the library's items
    def percent(self, goal: bool = True) -> float:
        return float(coverage_db[self.root if goal else self.info].cover_percentage)

    def holes(self) -> dict[str, list[str]]:
        out = {}
        for item in self.points.values():
            miss = [_bin_name(b) for b, h in item.detailed_coverage.items() if h < item.at_least]
            if miss and item.name.startswith(self.root + "."):
                out[item.name] = miss
        return out

    def report(self) -> dict:
        points = {}
        for item in self.points.values():
            hits = item.detailed_coverage
            points[item.name] = {
                "goal": item.name.startswith(self.root + "."),
                "kind": "cross" if isinstance(item, CoverCross) else "point",
                "unit": item.unit,
                "bins": len(hits),
                "covered": sum(h >= item.at_least for h in hits.values()),
                "percent": round(float(item.cover_percentage), 2),
                "hits": {_bin_name(b): int(h) for b, h in hits.items()},
            }
        return {"percent": self.percent(), "info_percent": self.percent(goal=False),
                "count_meaning": "hits: cocotb-coverage's hit count of each bin, in the point's unit "
                                 "(vectors, lanes, blocks or events)",
                "holes": self.holes(), "points": points}

    def write(self, outdir: Path) -> None:
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        rep = self.report()
        (outdir / "coverage.json").write_text(json.dumps(rep, indent=1))
        coverage_db.export_to_xml(filename=str(outdir / "coverage.xml"))
        coverage_db.export_to_yaml(filename=str(outdir / "coverage.yml"))
        (outdir / "coverage.txt").write_text(render_text(rep))


def _bin_name(b) -> str:
    return " x ".join(map(str, b)) if isinstance(b, tuple) else str(b)


def render_text(rep: dict) -> str:
    lines = [f"functional coverage {rep['percent']:.1f}% (goal points under '{GOAL}'); "
             f"informational points: {rep['info_percent']:.1f}%",
             "hits: cocotb-coverage's count per bin, in the unit shown"]
    for name, p in rep["points"].items():
        lines.append(f"{name:32s} {p['covered']:5d}/{p['bins']:<5d} {p['percent']:6.1f}%  {p['unit']}"
                     + ("" if p["goal"] else "  (info)"))
        if p["covered"] < p["bins"]:
            miss = [b for b, c in p["hits"].items() if c == 0]
            lines.append(f"    missing: {', '.join(miss[:20])}{' ...' if len(miss) > 20 else ''}")
    return "\n".join(lines) + "\n"


# ---- coverage groups: define(model) + sample(model, block) ------------------------------------------

class _Exp:
    """The first exp look-up: every entry reached through z_max - z_i, and its regions."""

    @staticmethod
    def define(m: CoverageModel) -> None:
        cfg = m.cfg
        beyond = cfg.exp_depth << cfg.exp_step_log2 <= cfg.code_max - cfg.code_min
        # with s = 0, entry 0 is never read (d = 0 gives ONE directly): not a bin
        m.point("exp.first_entry", list(range(1 if cfg.exp_step_log2 == 0 else 0, cfg.exp_depth)), "lanes")
        m.point("exp.region", ["zero", "table"] + (["beyond"] if beyond else []), "lanes")

    @staticmethod
    def sample(m: CoverageModel, b: Block) -> None:
        cfg, delta, live = m.cfg, b.delta, b.mask
        idx = delta >> cfg.exp_step_log2
        first = live & (delta > 0) & (idx < cfg.exp_depth)
        m.add("exp.first_entry", _counts(idx[first]))
        m.add("exp.region", {"zero": int(np.sum(live & (delta == 0))), "table": int(np.sum(first)),
                             "beyond": int(np.sum(live & (idx >= cfg.exp_depth)))})


class _MaxTree:
    """The max tree: the max in every lane, ties for the max."""

    @staticmethod
    def define(m: CoverageModel) -> None:
        m.point("max_lane", list(range(m.cfg.n)), "vectors")
        m.point("ties.max", ["1", "2", "3+"] if m.cfg.n >= 3 else ["1", "2"], "vectors")

    @staticmethod
    def sample(m: CoverageModel, b: Block) -> None:
        any_live = b.any_live
        m.add("max_lane", _counts(b.res.argmax[any_live]))
        nmax = np.sum(b.mask & (b.delta == 0), axis=1)[any_live]
        ties = {"1": np.sum(nmax == 1), "2": np.sum(nmax == 2)}
        if m.cfg.n >= 3:
            ties["3+"] = np.sum(nmax >= 3)
        m.add("ties.max", {k: int(v) for k, v in ties.items()})


class _Inputs:
    """Input codes at the range's ends, lane masks, output values."""

    @staticmethod
    def define(m: CoverageModel) -> None:
        m.point("input.extremes", ["none", "max_code", "min_code", "both"], "vectors")
        m.mask_bins = mask_population_bins(m.cfg)
        m.point("mask.live_lanes", [_label(r) for r in m.mask_bins], "vectors")
        m.point("output.values", ["one", "zero", "between"], "lanes")

    @staticmethod
    def sample(m: CoverageModel, b: Block) -> None:
        cfg, live, y = m.cfg, b.mask, b.res.y
        hi = np.any(live & (b.codes == cfg.code_max), axis=1)
        lo = np.any(live & (b.codes == cfg.code_min), axis=1)
        m.add("input.extremes", {"none": int(np.sum(~hi & ~lo)), "max_code": int(np.sum(hi & ~lo)),
                                 "min_code": int(np.sum(lo & ~hi)), "both": int(np.sum(hi & lo))})
        nlive = live.sum(axis=1)
        m.add("mask.live_lanes", {_label(r): int(np.sum((nlive >= r[0]) & (nlive <= r[1]))) for r in m.mask_bins})
        m.add("output.values", {"one": int(np.sum(live & (y == cfg.one))), "zero": int(np.sum(live & (y == 0))),
                                "between": int(np.sum(live & (y > 0) & (y < cfg.one)))})


class _LnTable:
    """Log-domain normalisation: every reachable ln-table entry; the second exp look-up (info)."""

    @staticmethod
    def define(m: CoverageModel) -> None:
        m.point("ln.entry", reachable_ln_entries(m.cfg), "vectors")
        m.point("exp.second_entry", list(range(m.cfg.exp_depth)), "lanes", goal=False)

    @staticmethod
    def sample(m: CoverageModel, b: Block) -> None:
        cfg, res, live = m.cfg, b.res, b.mask
        m.add("ln.entry", _counts(ln_address(cfg, res.s[b.any_live])))
        d2 = b.delta + res.l[:, None]
        idx2 = d2 >> cfg.exp_step_log2
        m.add("exp.second_entry", _counts(idx2[live & (idx2 < cfg.exp_depth) & (d2 > 0)]))


class _KthTies:
    """Top-K with K < N: ties between the K-th and (K+1)-th largest exp values."""

    @staticmethod
    def define(m: CoverageModel) -> None:
        m.point("ties.kth", ["tie", "no_tie"], "vectors")

    @staticmethod
    def sample(m: CoverageModel, b: Block) -> None:
        k = m.cfg.k
        srt = -np.sort(-np.where(b.mask, b.res.e, -1), axis=1)
        kth, nxt = srt[:, k - 1], srt[:, k]
        tie = (kth == nxt) & (nxt > 0)
        m.add("ties.kth", {"tie": int(np.sum(tie)), "no_tie": int(np.sum(~tie & (nxt >= 0)))})


class _Divider:
    """The conventional unit's dividers: the divisor S over [ONE, N*ONE] (per vector), the
    quotient's rounding (per live lane), and their cross over the reachable combinations."""

    @staticmethod
    def define(m: CoverageModel) -> None:
        pairs = reachable_divider_pairs(m.cfg)
        sums = [b[2] for b in divider_sum_bins(m.cfg)]
        m.point("div.sum", [s for s in sums if any(p[0] == s for p in pairs)], "vectors")
        m.point("div.rounding", [r for r in ROUNDING if any(p[1] == r for p in pairs)], "lanes")
        every = [(s, r) for s in m.points["div.sum"].detailed_coverage
                 for r in m.points["div.rounding"].detailed_coverage]
        m.cross("div.sum_x_rounding", ["div.sum", "div.rounding"], "lanes",
                ign_bins=[p for p in every if p not in pairs])

    @staticmethod
    def sample(m: CoverageModel, b: Block) -> None:
        rows = b.any_live
        s, e, live = b.res.s[rows], b.res.e[rows], b.mask[rows]
        s_bin, rounding = divider_classes(m.cfg, e, s[:, None])
        labels = [x[2] for x in divider_sum_bins(m.cfg)]
        m.add("div.sum", {labels[i]: c for i, c in _counts(s_bin[:, 0]).items()})
        pairs = _counts((s_bin * len(ROUNDING) + rounding)[live])       # lanes per (S range, rounding)
        by_rounding = dict.fromkeys(ROUNDING, 0)
        for p, c in pairs.items():
            by_rounding[ROUNDING[p % len(ROUNDING)]] += c
        m.add("div.rounding", by_rounding)
        m.add("div.sum_x_rounding", {(labels[p // len(ROUNDING)], ROUNDING[p % len(ROUNDING)]): c
                                     for p, c in pairs.items()})


def _define_flow(m: CoverageModel) -> None:
    """Flow control and reset, sampled per block (sample_flow) or per event (sample_reset)."""
    m.point("flow.ready", list(READY_KINDS), "blocks")
    m.point("flow.gaps", list(GAP_KINDS), "blocks")
    m.cross("flow.ready_x_gaps", ["flow.ready", "flow.gaps"], "blocks", goal=False)
    m.point("flow.out_stalled", ["stalled", "free"], "blocks")
    m.point("flow.in_stalled", ["stalled", "free"], "blocks")
    m.point("reset", ["mid_block", "in_flight"], "events")
    m.point("input.saturated_values", ["none", "some"], "blocks", goal=False)


SHARED_GROUPS = (_Exp, _MaxTree, _Inputs)
# the coverage groups of each variant's own blocks (models/variants), beside the shared ones
VARIANT_GROUPS = {"decision": (), "topk": (_LnTable, _KthTies), "full": (_LnTable,), "conventional": (_Divider,)}

_MODELS: dict[str, CoverageModel] = {}


def coverage_model(cfg: SoftmaxConfig) -> CoverageModel:
    """The process-wide model (cocotb-coverage's database is process-wide too)."""
    if cfg.name not in _MODELS:
        if _MODELS:
            raise RuntimeError("one configuration per simulation process")
        _MODELS[cfg.name] = CoverageModel(cfg)
    return _MODELS[cfg.name]


# ---- regression-level merge ----------------------------------------------------------------------

def _export_format(path: Path) -> str:
    if path.suffix == ".xml":
        return "xml"
    if path.suffix in (".yml", ".yaml"):
        return "yaml"
    raise ValueError(f"{path}: not a coverage export (.xml, .yml or .yaml)")


def _bins_of(path: Path) -> dict[str, list[str]]:
    """Coverage file -> {coverpoint or cross: its bin labels in order} (XML or YAML export)."""
    if _export_format(path) == "xml":
        out: dict[str, list[str]] = {}
        for el in ElementTree.parse(path).getroot().iter():
            if "bin" in el.attrib:
                point = el.attrib["abs_name"].rsplit(".", 1)[0].removeprefix("top.")
                out.setdefault(point, []).append(el.attrib["bin"])
        return out
    db = yaml.safe_load(path.read_text())
    return {k: [str(b) for b in v["bins:_hits"]] for k, v in db.items() if "bins:_hits" in v}


def merge(out: Path, inputs: list[Path], log=print) -> Path:
    """Merge the coverage exports of several runs of one configuration (shards, simulators,
    seeds) into `out` with cocotb-coverage's merge_coverage: hits add up bin by bin. Files of
    different configurations (other points or bins) are refused: their bins do not line up."""
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise ValueError("merge: no input files")
    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"merge: no such file(s): {', '.join(missing)}")
    if len({_export_format(p) for p in [*inputs, Path(out)]}) != 1:
        raise ValueError("merge: the inputs and the output must all be XML or all YAML")
    first = _bins_of(inputs[0])
    for p in inputs[1:]:
        other = _bins_of(p)
        diff = sorted(set(first) ^ set(other)) or sorted(k for k in first if first[k] != other[k])
        if diff:
            raise ValueError(f"merge: {inputs[0]} and {p} differ in {', '.join(diff[:5])}: "
                             f"coverage of different configurations cannot be merged")
    merge_coverage(log, str(out), *map(str, inputs))
    return Path(out)


def read_export(path: Path, root: str = GOAL) -> dict:
    """A coverage XML export (a run's or a merge's) -> its goal percentage and holes."""
    items = {el.attrib["abs_name"]: el for el in ElementTree.parse(path).getroot().iter()}
    holes: dict[str, list[str]] = {}
    for name, el in items.items():
        point = items.get(name.rsplit(".", 1)[0])
        goal_bin = "bin" in el.attrib and name.startswith(f"top.{root}.")
        if goal_bin and int(el.attrib["hits"]) < int(point.attrib["at_least"]):
            holes.setdefault(point.attrib["abs_name"].removeprefix("top."), []).append(el.attrib["bin"])
    return {"percent": float(items[f"top.{root}"].attrib["cover_percentage"]), "holes": holes}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.coverage", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mg = sub.add_parser("merge", help="merge coverage.xml (or .yml) files of runs of one configuration")
    mg.add_argument("out", type=Path)
    mg.add_argument("inputs", type=Path, nargs="+")
    a = ap.parse_args(argv)
    try:
        merge(a.out, a.inputs, log=lambda *m: None)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"merged {len(a.inputs)} files into {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Functional coverage (cocotb-coverage), sampled once per block and coverpoint.

Per-vector sampling through cocotb-coverage costs tens of microseconds a call, more than the
simulation of a vector. So the bins of a whole block are computed with numpy and each
coverpoint is sampled once with the *set* of bins the block hit (inj=False with a membership
relation hits all of them in one call). Therefore:

  * cocotb-coverage hit counts = number of sampled blocks (or flow events) that hit the bin;
  * exact per-vector counts are kept beside them (numpy bincounts) and written to the report.

Goal coverpoints live under the root "smx" (their percentage is the run's coverage figure);
informational ones under "smx_info" (reported, not part of the percentage).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from cocotb_coverage.coverage import CoverPoint, coverage_db

from models.config import SoftmaxConfig
from models.datapath import ModelResult
from models.tables import build_tables

from models.datapath import ln_address

READY_KINDS = ("always", "random", "sparse", "bursty", "alternate")
GAP_KINDS = ("none", "random", "long")


def _in(hits, b) -> bool:
    return b in hits


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


def reachable_ln_entries(cfg: SoftmaxConfig) -> list[int]:
    """ln-table entries some input can reach: S = ONE + the sum of K-1 values from
    {0, ONE} and the exp table (the max lane is ONE; the others are ties, table values, or
    zero/masked). Computed with a big-integer bitset over S."""
    if not cfg.uses_ln:
        return []
    exp = build_tables(cfg).exp
    used = exp[1:] if cfg.exp_step_log2 == 0 else exp      # s = 0: EXP[0] is never read
    vals = sorted({0, cfg.one, *used.tolist()})
    reach = 1                                    # bit 0: the empty sum
    limit = (1 << ((cfg.k - 1) * cfg.one + 1)) - 1
    for t in range(1, cfg.k):
        new = 0
        for v in vals:
            new |= reach << v
        reach = new & limit
        if reach == (1 << (t * cfg.one + 1)) - 1:    # every sum up to t*ONE: stays contiguous
            reach = limit
            break
    bits = np.frombuffer(reach.to_bytes((reach.bit_length() + 7) // 8, "little"), np.uint8)
    sums = np.flatnonzero(np.unpackbits(bits, bitorder="little")) + cfg.one
    return sorted(set(ln_address(cfg, sums).tolist()))


class CoverageModel:
    """One per simulation process and configuration; every test of a run adds to it."""

    def __init__(self, cfg: SoftmaxConfig):
        self.cfg = cfg
        self.exact: dict[str, Counter] = defaultdict(Counter)
        self.samplers = {}
        step0 = cfg.exp_step_log2 == 0
        span = cfg.code_max - cfg.code_min
        beyond = cfg.exp_depth << cfg.exp_step_log2 <= span
        # With s = 0, entry 0 is never read (d = 0 gives ONE directly): not a bin.
        self.exp_bins = list(range(1 if step0 else 0, cfg.exp_depth))
        self._point("smx.exp.first_entry", self.exp_bins)
        self._point("smx.exp.region", ["zero", "table"] + (["beyond"] if beyond else []))
        if cfg.uses_ln:
            self.ln_bins = reachable_ln_entries(cfg)
            self._point("smx.ln.entry", self.ln_bins)
            self._point("smx_info.exp.second_entry", list(range(cfg.exp_depth)))
        self._point("smx.max_lane", list(range(cfg.n)))
        self._point("smx.ties.max", ["1", "2", "3+"] if cfg.n >= 3 else ["1", "2"])
        if 1 < cfg.k < cfg.n:
            self._point("smx.ties.kth", ["tie", "no_tie"])
        self._point("smx.input.extremes", ["none", "max_code", "min_code", "both"])
        self.mask_bins = mask_population_bins(cfg)
        self._point("smx.mask.live_lanes", [_label(r) for r in self.mask_bins])
        self._point("smx.output.values", ["one", "zero", "between"])
        self._point("smx.flow.ready", list(READY_KINDS))
        self._point("smx.flow.gaps", list(GAP_KINDS))
        self._point("smx.flow.out_stalled", ["stalled", "free"])
        self._point("smx.flow.in_stalled", ["stalled", "free"])
        self._point("smx.reset", ["mid_block", "in_flight"])
        self._point("smx_info.input.saturated_values", ["none", "some"])

    def _point(self, name: str, bins: list) -> None:
        @CoverPoint(name, xf=lambda hits: hits, rel=_in, bins=bins, inj=False)
        def sample(hits):
            return None
        self.samplers[name] = sample
        self.exact[name].update({b: 0 for b in bins})

    def sample(self, name: str, counts: dict) -> None:
        """counts: bin -> vectors (or events) of this block in the bin; bins absent from the
        coverpoint are an error in the binning code, not something to drop."""
        counts = {(int(b) if isinstance(b, np.integer) else b): int(c) for b, c in counts.items() if c}
        unknown = set(counts) - set(self.exact[name])
        if unknown:
            raise KeyError(f"coverpoint {name}: bins {sorted(map(str, unknown))[:5]} not defined")
        if counts:
            self.samplers[name](frozenset(counts))
            self.exact[name].update(counts)

    # ---- per-block sampling -----------------------------------------------------------------
    def sample_block(self, codes: np.ndarray, mask: np.ndarray, res: ModelResult) -> None:
        cfg = self.cfg
        s = cfg.exp_step_log2
        live = mask
        any_live = live.any(axis=1)
        delta = np.where(live, res.zmax[:, None] - codes, -1)
        idx = delta >> s
        first = live & (delta > 0) & (idx < cfg.exp_depth)
        self.sample("smx.exp.first_entry", dict(zip(*np.unique(idx[first], return_counts=True))))
        self.sample("smx.exp.region", {"zero": np.sum(live & (delta == 0)), "table": np.sum(first),
                                       "beyond": np.sum(live & (idx >= cfg.exp_depth))})
        if cfg.uses_ln:
            rows = any_live
            self.sample("smx.ln.entry", dict(zip(*np.unique(ln_address(cfg, res.s[rows]), return_counts=True))))
            idx2 = (delta + res.l[:, None]) >> s
            ok2 = live & (idx2 < cfg.exp_depth) & ((delta + res.l[:, None]) > 0)
            self.sample("smx_info.exp.second_entry", dict(zip(*np.unique(idx2[ok2], return_counts=True))))
        self.sample("smx.max_lane", dict(zip(*np.unique(res.argmax[any_live], return_counts=True))))
        nmax = np.sum(live & (delta == 0), axis=1)[any_live]
        self.sample("smx.ties.max", {"1": np.sum(nmax == 1), "2": np.sum(nmax == 2),
                                     "3+": np.sum(nmax >= 3)} if cfg.n >= 3 else
                    {"1": np.sum(nmax == 1), "2": np.sum(nmax == 2)})
        if 1 < cfg.k < cfg.n:
            srt = -np.sort(-np.where(live, res.e, -1), axis=1)
            kth, nxt = srt[:, cfg.k - 1], srt[:, cfg.k]
            tie = (kth == nxt) & (nxt > 0)
            self.sample("smx.ties.kth", {"tie": np.sum(tie), "no_tie": np.sum(~tie & (nxt >= 0))})
        hi = np.any(live & (codes == cfg.code_max), axis=1)
        lo = np.any(live & (codes == cfg.code_min), axis=1)
        self.sample("smx.input.extremes", {"none": np.sum(~hi & ~lo), "max_code": np.sum(hi & ~lo),
                                           "min_code": np.sum(lo & ~hi), "both": np.sum(hi & lo)})
        nlive = live.sum(axis=1)
        self.sample("smx.mask.live_lanes", {_label(r): np.sum((nlive >= r[0]) & (nlive <= r[1]))
                                            for r in self.mask_bins})
        y = res.y
        self.sample("smx.output.values", {"one": np.sum(live & (y == cfg.one)), "zero": np.sum(live & (y == 0)),
                                          "between": np.sum(live & (y > 0) & (y < cfg.one))})

    def sample_flow(self, ready_kind: str, gap_mode: str, stall_out: int, stall_in: int,
                    aborted: bool, saturated: int) -> None:
        self.sample("smx.flow.ready", {ready_kind: 1})
        self.sample("smx.flow.gaps", {gap_mode: 1})
        self.sample("smx.flow.out_stalled", {"stalled" if stall_out else "free": 1})
        self.sample("smx.flow.in_stalled", {"stalled" if stall_in else "free": 1})
        self.sample("smx_info.input.saturated_values", {"some" if saturated else "none": 1})
        if aborted:
            self.sample("smx.reset", {"mid_block": 1})

    def sample_reset(self, in_flight: int) -> None:
        if in_flight:
            self.sample("smx.reset", {"in_flight": 1})

    # ---- report -----------------------------------------------------------------------------
    def percent(self, root: str = "smx") -> float:
        return float(coverage_db[root].cover_percentage)

    def holes(self, root: str = "smx") -> dict[str, list[str]]:
        out = {}
        for name, cnt in self.exact.items():
            if name.startswith(root + "."):
                miss = [str(b) for b, c in cnt.items() if c == 0]
                if miss:
                    out[name] = miss
        return out

    def report(self) -> dict:
        points = {}
        for name, cnt in self.exact.items():
            item = coverage_db[name]
            points[name] = {
                "goal": name.startswith("smx."),
                "bins": len(cnt),
                "covered": sum(1 for c in cnt.values() if c),
                "percent": round(100.0 * item.coverage / item.size, 2) if item.size else 100.0,
                "vectors_per_bin": {str(b): int(c) for b, c in cnt.items()},
                "samples_per_bin": {str(b): int(h) for b, h in item.detailed_coverage.items()},
            }
        return {"percent": self.percent(), "info_percent": self.percent("smx_info"),
                "count_meaning": ("vectors_per_bin: exact number of vectors (flow points: blocks; "
                                  "reset: events) in the bin; samples_per_bin: cocotb-coverage "
                                  "hits = sampled blocks or events that hit the bin"),
                "holes": self.holes(), "points": points}

    def write(self, outdir: Path) -> None:
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / "coverage.json").write_text(json.dumps(self.report(), indent=1))
        coverage_db.export_to_xml(filename=str(outdir / "coverage.xml"))
        lines = [f"functional coverage {self.percent():.1f}% (goal points under 'smx'); "
                 f"informational points: {self.percent('smx_info'):.1f}%",
                 "counts: exact vectors per bin (flow points: blocks, reset: events)"]
        for name, p in self.report()["points"].items():
            lines.append(f"{name:32s} {p['covered']:5d}/{p['bins']:<5d} {p['percent']:6.1f}%"
                         + ("" if p["goal"] else "  (info)"))
            if p["covered"] < p["bins"]:
                miss = [b for b, c in p["vectors_per_bin"].items() if c == 0]
                lines.append(f"    missing: {', '.join(miss[:20])}{' ...' if len(miss) > 20 else ''}")
        (outdir / "coverage.txt").write_text("\n".join(lines) + "\n")


_MODELS: dict[str, CoverageModel] = {}


def coverage_model(cfg: SoftmaxConfig) -> CoverageModel:
    """The process-wide model (cocotb-coverage's database is process-wide too)."""
    if cfg.name not in _MODELS:
        if _MODELS:
            raise RuntimeError("one configuration per simulation process")
        _MODELS[cfg.name] = CoverageModel(cfg)
    return _MODELS[cfg.name]

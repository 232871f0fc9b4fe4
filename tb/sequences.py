"""Sequence item (a block of vectors) and the sequences: constrained random, directed corners,
table sweeps and replay of logit dumps.

Everything is generated per block with numpy. Logits are produced in real units and quantised
with models.quantize (the contract's quantiser), so saturation is counted by its QuantReport.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from pyuvm import uvm_sequence, uvm_sequence_item

from models.config import SoftmaxConfig
from models.dumps import open_dump_arg, pad_to
from models.quantize import QuantReport, quantize

from .codec import GAP_MAX
from .offload import ahead
from .flow import GAP_KINDS



class VectorBlock(uvm_sequence_item):
    """A block of logit vectors, as floats and as the codes the DUT receives.

    x      float64 [M, N]  logits in real units (what a network produced or a generator drew)
    codes  int64   [M, N]  inputs: models.quantize(x), or a generator's own codes (x exact)
    mask   bool    [M, N]  live lanes
    gaps   int64   [M]     idle cycles before each vector (driver side)
    kinds  [M] str         generator shape / corner name per row
    source str             provenance: generator and seed, or dump file
    rows   int64   [M]     row numbers in the dump (replay), or -1
    """

    def __init__(self, name: str = "block"):
        super().__init__(name)
        self.x = self.codes = self.mask = self.gaps = self.kinds = self.rows = None
        self.quant: QuantReport | None = None
        self.source = ""
        self.gap_mode = "none"
        self.prepared = None    # tb.agent.Prepared: the model's answer and the block files, once made

    @classmethod
    def make(cls, cfg: SoftmaxConfig, mask, kinds, source: str, gaps, gap_mode: str, rows=None, *,
             x=None, codes=None, name: str = "block") -> VectorBlock:
        """From floats x (quantised with models.quantize, saturation counted) and/or from a
        generator's own in-range codes (x = codes * 2^-FW, exactly on the input grid). With
        both, rows whose x is NaN take their codes, the others are quantised."""
        if x is None and codes is None:
            raise ValueError("VectorBlock.make: give x (floats) and/or codes")
        it = cls(name)
        it.mask = np.asarray(mask, bool)
        m = len(it.mask)
        from_x = np.zeros(m, bool) if x is None else ~np.isnan(np.asarray(x, np.float64)).any(axis=1)
        if codes is None and not from_x.all():
            raise ValueError("VectorBlock.make: rows without floats need codes")
        if x is not None and from_x.all():     # the common case: every row quantised, no gathers
            it.x = np.array(x, np.float64)
            it.codes, it.quant = quantize(cfg, it.x, it.mask)
            return it._finish(gaps, kinds, source, gap_mode, rows)
        it.codes = np.zeros(it.mask.shape, np.int64)
        it.x = np.zeros(it.mask.shape, np.float64)
        if (~from_x).any():
            c = np.asarray(codes, np.int64)[~from_x]
            if c.size and (c.min() < cfg.code_min or c.max() > cfg.code_max):
                raise ValueError(f"generated codes outside [{cfg.code_min}, {cfg.code_max}]")
            it.codes[~from_x] = c
            it.x[~from_x] = codes_to_x(cfg, c)
        if from_x.any():
            it.x[from_x] = np.asarray(x, np.float64)[from_x]
            it.codes[from_x], it.quant = quantize(cfg, it.x[from_x], it.mask[from_x])
        else:               # nothing was quantised: nothing saturated
            live = it.x[it.mask]
            it.quant = QuantReport(values=0, saturated_high=0, saturated_low=0, rows_saturated=0,
                                   max_abs_input=float(np.abs(live).max()) if live.size else 0.0,
                                   max_abs_error=0.0)
        return it._finish(gaps, kinds, source, gap_mode, rows)

    def _finish(self, gaps, kinds, source: str, gap_mode: str, rows) -> VectorBlock:
        self.gaps = np.asarray(gaps, np.int64)
        self.kinds = np.asarray(kinds)
        self.source = source
        self.gap_mode = gap_mode
        self.rows = np.full(len(self.mask), -1, np.int64) if rows is None else np.asarray(rows, np.int64)
        return self

    def __len__(self) -> int:
        return len(self.codes)

    def __reduce__(self):
        # pickled as its data (CHECK=harness sends items to the checking process, tb/offload.py):
        # the sequencer's hand-shake state (events, waiting coroutines) stays with the simulator
        data = {k: v for k, v in vars(self).items() if k in _ITEM_DATA}
        return _rebuilt_block, (self.get_name(), data)

    def __str__(self) -> str:
        return f"{self.get_name()}: {len(self)} vectors from {self.source} (gaps: {self.gap_mode})"


_ITEM_DATA = frozenset(vars(VectorBlock("fields"))) - frozenset(vars(uvm_sequence_item("fields")))


def _rebuilt_block(name: str, data: dict) -> VectorBlock:
    it = VectorBlock(name)
    vars(it).update(data)
    return it


# ---- helpers ------------------------------------------------------------------------------------

def make_gaps(rng: np.random.Generator, m: int, mode: str) -> np.ndarray:
    if mode == "none":
        return np.zeros(m, np.int64)
    if mode == "random":       # mostly back-to-back, sometimes a short pause
        return np.where(rng.random(m) < 0.3, rng.integers(1, 4, m), 0)
    if mode == "long":
        return np.where(rng.random(m) < 0.5, rng.integers(1, 40, m), 0).clip(0, GAP_MAX)
    raise ValueError(f"unknown gap mode '{mode}' (known: {', '.join(GAP_KINDS)})")


def lsb(cfg: SoftmaxConfig) -> float:
    return 2.0 ** -cfg.in_frac_bits


def codes_to_x(cfg: SoftmaxConfig, codes: np.ndarray) -> np.ndarray:
    """Exact real values of codes (quantise back to the same codes)."""
    return np.asarray(codes, np.float64) * lsb(cfg)


def random_masks(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    """All live (60%), random subsets (25%, including empty ones), or attention-style prefixes (15%)."""
    mode = rng.choice(3, size=m, p=[0.6, 0.25, 0.15])
    live_p = rng.uniform(0.05, 0.95, size=(m, 1))
    rand = rng.random((m, n)) < live_p
    prefix = np.arange(n)[None, :] < rng.integers(0, n + 1, size=(m, 1))
    return np.where(mode[:, None] == 0, True, np.where(mode[:, None] == 1, rand, prefix))


SHAPES = ("flat", "gauss", "peaky", "levels")


def random_logits(rng: np.random.Generator, cfg: SoftmaxConfig, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Constrained-random logits [m, N] in real units and the shape name of each row.

    flat: uniform over a random window; gauss: normal around a random centre; peaky: a confident
    classifier (one or two lanes well above a normal background); levels: few distinct values,
    so ties for the max and for the K-th place are common. A few values fall outside the input
    range on purpose; they saturate and are counted. Each row is drawn by its own shape only.
    """
    n = cfg.n
    hi = (cfg.code_max + 1) * lsb(cfg)          # 2^(IW-1)
    shape = rng.integers(0, len(SHAPES), size=m)
    x = np.empty((m, n))

    def flat(k):
        centre = rng.uniform(-0.6 * hi, 0.6 * hi, size=(k, 1))
        return centre + rng.uniform(-1, 1, (k, n)) * hi * rng.uniform(0.02, 1.0, size=(k, 1))

    def gauss(k):
        centre = rng.uniform(-0.6 * hi, 0.6 * hi, size=(k, 1))
        sigma = np.exp(rng.uniform(np.log(0.05), np.log(hi / 2), size=(k, 1)))
        return centre + rng.normal(size=(k, n)) * sigma

    def peaky(k):
        centre = rng.uniform(-0.6 * hi, 0.6 * hi, size=(k, 1))
        v = centre + rng.normal(size=(k, n)) * rng.uniform(0.3, 2.0, size=(k, 1))
        top = v.max(axis=1)
        margin = rng.uniform(0, 1.5 * cfg.exp_range, size=k)
        v[np.arange(k), rng.integers(0, n, size=k)] = top + margin
        second = np.flatnonzero(rng.random(k) < 0.3)
        v[second, rng.integers(0, n, size=len(second))] = top[second] + margin[second] * rng.uniform(0.5, 1.0, len(second))
        return v

    def levels(k):
        nlev = rng.integers(1, 5, size=(k, 1))
        first = rng.integers(cfg.code_min, cfg.code_max + 1, size=(k, 1))
        step = np.maximum(rng.integers(0, 4, size=(k, 1)) << cfg.exp_step_log2, 1)
        lev_codes = first - np.arange(4)[None, :] * step
        pick = rng.integers(0, 4, size=(k, n)) % nlev
        return np.take_along_axis(lev_codes, pick, axis=1).clip(cfg.code_min, cfg.code_max) * lsb(cfg)

    for i, gen in enumerate((flat, gauss, peaky, levels)):
        rows = np.flatnonzero(shape == i)
        if len(rows):
            x[rows] = gen(len(rows))
    return x, np.asarray(SHAPES)[shape]


# ---- directed corners ---------------------------------------------------------------------------

Corner = tuple[str, np.ndarray, np.ndarray]       # (name, x [m, N] real units, mask [m, N])


def _coded(cfg: SoftmaxConfig, name: str, codes, mask=None) -> Corner:
    codes = np.asarray(codes, np.int64).reshape(-1, cfg.n)
    mask = np.ones(codes.shape, bool) if mask is None else np.asarray(mask, bool)
    return name, codes_to_x(cfg, codes), mask


def _max_corners(rng, cfg: SoftmaxConfig, lanes: np.ndarray) -> list[Corner]:
    """All lanes equal (every lane is the max), the max in each given lane (by one LSB or a wide
    margin), and ties for the max between two, three and all-but-one lanes."""
    n, cmin, cmax = cfg.n, cfg.code_min, cfg.code_max
    step = 1 << cfg.exp_step_log2
    out = [_coded(cfg, "all_equal", np.repeat(np.array([cmin, -1, 0, 1, cmax] + list(rng.integers(cmin, cmax + 1, 3)))[:, None], n, axis=1))]
    base = rng.integers(cmin, max(cmin + 1, cmax - 64), size=(len(lanes), n))   # 2-bit inputs too
    top = base.max(axis=1) + rng.choice([1, 2, step, 16 * step], size=len(lanes))
    base[np.arange(len(lanes)), lanes] = np.minimum(top, cmax)
    out.append(_coded(cfg, "max_each_lane", base))
    for t in sorted({2, 3, max(2, n - 1)}):
        if t > n:
            continue
        reps = min(n, 16)
        c = rng.integers(cmin, max(cmin + 1, cmax - 100), size=(reps, n))
        mx = c.max(axis=1) + rng.integers(1, 50, size=reps)
        for r in range(reps):
            c[r, rng.choice(n, size=t, replace=False)] = mx[r]
        out.append(_coded(cfg, f"tie_max_{t}", c.clip(cmin, cmax)))
    return out


def _kth_tie_corner(rng, cfg: SoftmaxConfig) -> list[Corner]:
    """Ties at the K-th place (1 < K < N): the max and K-2 distinct larger values, then two to
    four lanes sharing the K-th place; the other lanes just below (or at the bottom code)."""
    n, k, cmin, cmax = cfg.n, cfg.k, cfg.code_min, cfg.code_max
    if not 1 < k < n:
        return []
    reps = 32
    c = np.full((reps, n), cmin, np.int64)
    for r in range(reps):
        order = rng.permutation(n)
        zmax = int(rng.integers(0, cmax + 1))
        above = np.sort(rng.choice(np.arange(1, 6 * k), size=k - 2, replace=False))
        c[r, order[0]] = zmax
        c[r, order[1:k - 1]] = zmax - above
        dt = (int(above.max()) if k > 2 else 0) + int(rng.integers(1, 4))
        ntie = int(rng.integers(2, min(4, n - k + 1) + 1))
        c[r, order[k - 1:k - 1 + ntie]] = zmax - dt
        if r % 2:
            rest = order[k - 1 + ntie:]
            c[r, rest] = zmax - dt - rng.integers(1, 20, size=rest.size)
    return [_coded(cfg, "tie_kth", c.clip(cmin, cmax))]


def _difference_corners(cfg: SoftmaxConfig, lanes: np.ndarray) -> list[Corner]:
    """One lane high and the rest one lower value (within and beyond the table), and the widest
    difference (a wrapping subtractor would make the bottom code look like the max)."""
    n, cmin, cmax = cfg.n, cfg.code_min, cfg.code_max
    out = []
    for gap_lsb in (1, (1 << cfg.exp_step_log2) * cfg.exp_depth // 2, cmax - cmin):
        c = np.full((len(lanes), n), max(cmax - gap_lsb, cmin), np.int64)
        c[np.arange(len(lanes)), lanes] = cmax
        out.append(_coded(cfg, f"one_hot_gap{gap_lsb}", c))
    c = np.full((2, n), cmin, np.int64)
    c[0, 0] = cmax
    c[1, n - 1] = cmax
    c[1, n // 2] = cmin + 1
    out.append(_coded(cfg, "max_difference", c))
    return out


def _saturation_corner(rng, cfg: SoftmaxConfig) -> list[Corner]:
    """Values beyond the input range on purpose (quantisation saturates them, counted)."""
    n = cfg.n
    hi = (cfg.code_max + 1) * lsb(cfg)
    x = rng.normal(size=(8, n)) * 2
    x[0, 0] = hi * 4
    x[1, :3] = (hi + np.array([1.0, 50.0, 1e3]))[:n]     # up to three lanes saturate high: a tie at the top
    x[2, :] = -hi * 3                                    # every lane saturates low: all equal
    x[3, 1] = -1e4
    x[4, :] = np.linspace(-3 * hi, 3 * hi, n)
    x[5:, :] = rng.uniform(-2 * hi, 2 * hi, size=(3, n))
    return [("saturate", x, np.ones((8, n), bool))]


def _mask_corners(rng, cfg: SoftmaxConfig, lanes: np.ndarray) -> list[Corner]:
    """No live lane, a single live lane (in each given position), partial masks, and a masked
    lane holding the largest code (it must not win, nor add to the sum)."""
    n, cmin, cmax = cfg.n, cfg.code_min, cfg.code_max
    mk = np.ones((4, n), bool)
    mk[1, : n // 2] = False
    mk[2, n // 2:] = False
    mk[3, ::2] = False
    c = rng.integers(cmin, 0, size=(len(lanes), n))
    c[np.arange(len(lanes)), lanes] = cmax
    return [_coded(cfg, "no_live_lane", rng.integers(cmin, cmax + 1, size=(3, n)), np.zeros((3, n), bool)),
            _coded(cfg, "single_live_lane", rng.integers(cmin, cmax + 1, size=(len(lanes), n)),
                   np.eye(n, dtype=bool)[lanes]),
            _coded(cfg, "partial_masks", rng.integers(cmin, cmax + 1, size=(4, n)), mk),
            _coded(cfg, "masked_max", c, ~np.eye(n, dtype=bool)[lanes])]


def corner_vectors(rng: np.random.Generator, cfg: SoftmaxConfig, lane_limit: int = 64,
                   max_every_lane: bool = True) -> list[Corner]:
    """Directed corner cases as (name, x [m, N] real units, mask [m, N]).

    Per-lane corners (one-hot, single live lane, masked max) take every lane up to lane_limit
    lanes, and beyond that lane_limit positions including the first and the last; "the max in
    every lane" covers every lane unless max_every_lane is False (N = 1000 on Icarus, where a
    thousand vectors take half a minute: the smx.max_lane holes are then reported).
    """
    n = cfg.n
    if n <= lane_limit:
        some = np.arange(n)
    else:
        some = np.unique(np.concatenate([[0, n - 1], rng.choice(n, lane_limit - 2, replace=False)]))
    every = np.arange(n) if max_every_lane else some
    return (_max_corners(rng, cfg, every) + _kth_tie_corner(rng, cfg) + _difference_corners(cfg, some)
            + _saturation_corner(rng, cfg) + _mask_corners(rng, cfg, some))


def exp_sweep_vectors(rng: np.random.Generator, cfg: SoftmaxConfig) -> tuple[np.ndarray, np.ndarray]:
    """Codes that reach every exp-table entry through the first look-up (z_max - z_i), plus the
    d = 0 and beyond-the-table cases; N-1 differences per vector."""
    n = cfg.n
    step = 1 << cfg.exp_step_log2
    span = cfg.code_max - cfg.code_min                  # largest difference
    j = np.arange(cfg.exp_depth)
    d = j * step + rng.integers(0, step, size=j.size)
    d = d[(d > 0) & (d <= span)]
    beyond = np.arange(cfg.exp_depth * step, span + 1)
    extra = rng.choice(beyond, size=min(8, beyond.size), replace=False) if beyond.size else np.zeros(0, np.int64)
    d = np.concatenate([d, extra, [0]])
    per = n - 1
    m = -(-len(d) // per)
    d = np.concatenate([d, rng.choice(d, size=m * per - len(d))]).reshape(m, per)
    zmax = np.maximum(cfg.code_min + d.max(axis=1), rng.integers(cfg.code_min, cfg.code_max + 1, size=m))
    zmax = np.minimum(zmax, cfg.code_max)
    codes = np.concatenate([zmax[:, None], zmax[:, None] - d], axis=1)
    perm = np.argsort(rng.random((m, n)), axis=1)
    return np.take_along_axis(codes, perm, axis=1), np.ones((m, n), bool)


# ---- sequences ----------------------------------------------------------------------------------

@dataclass
class SeqKnobs:
    cfg: SoftmaxConfig
    seed: int
    block: int = 1024
    gap_modes: tuple[str, ...] = ("none",)
    # the driver's Driver.prepare: when set, the items are made and prepared one ahead in another
    # process (tb/offload.ahead) while the simulator runs the current one
    prepare: Callable | None = None


@dataclass
class Part:
    """A batch of stimulus from a sequence: floats x (quantised) or the generator's codes."""
    mask: np.ndarray
    kinds: np.ndarray
    source: str
    x: np.ndarray | None = None
    codes: np.ndarray | None = None
    rows: np.ndarray | None = None

    def __len__(self):
        return len(self.mask)


class BlockSequence(uvm_sequence):
    """Base: subclasses yield Parts; this cuts them into items of at most knobs.block vectors."""

    def __init__(self, name: str, knobs: SeqKnobs):
        super().__init__(name)
        self.knobs = knobs
        self.rng = np.random.default_rng([knobs.seed, zlib.crc32(name.encode())])
        self.sent = 0
        self._gap_queue: list[str] = []

    def blocks(self):
        raise NotImplementedError

    def next_gap_mode(self) -> str:
        # shuffled round robin: every mode comes up once per len(gap_modes) items
        if not self._gap_queue:
            self._gap_queue = list(self.rng.permutation(self.knobs.gap_modes))
        return str(self._gap_queue.pop())

    def items(self):
        """The items, in order: the Parts cut into blocks, quantised, with their gaps."""
        cfg = self.knobs.cfg
        for i, p in enumerate(self.blocks()):
            for lo in range(0, len(p), self.knobs.block):
                hi = min(len(p), lo + self.knobs.block)
                mode = self.next_gap_mode()
                cut = (lambda a: None if a is None else a[lo:hi])  # noqa: E731
                yield VectorBlock.make(cfg, p.mask[lo:hi], p.kinds[lo:hi], p.source,
                                       make_gaps(self.rng, hi - lo, mode), mode, cut(p.rows),
                                       x=cut(p.x), codes=cut(p.codes), name=f"{self.get_name()}_{i}")

    async def body(self):
        items = self.items() if self.knobs.prepare is None else ahead(self.items(), self.knobs.prepare)
        for item in items:
            await self.start_item(item)
            await self.finish_item(item)
            self.sent += len(item)


class RandomSequence(BlockSequence):
    """Constrained random vectors: random_logits' floats, every row quantised by models.quantize
    (round to nearest, ties to even; out-of-range values saturate and are counted)."""

    def __init__(self, name: str, knobs: SeqKnobs, vectors: int):
        super().__init__(name, knobs)
        self.vectors = vectors

    def blocks(self):
        cfg = self.knobs.cfg
        src = f"random(seed={self.knobs.seed})"
        left = self.vectors
        while left > 0:
            m = min(left, self.knobs.block)
            x, kinds = random_logits(self.rng, cfg, m)
            yield Part(random_masks(self.rng, m, cfg.n), kinds, src, x=x)
            left -= m


class CornerSequence(BlockSequence):
    """Every directed corner, the exp-table sweep and the variant's directed vectors."""

    def __init__(self, name: str, knobs: SeqKnobs, lane_limit: int = 64, max_every_lane: bool = True):
        super().__init__(name, knobs)
        self.lane_limit = lane_limit
        self.max_every_lane = max_every_lane

    def blocks(self):
        cfg = self.knobs.cfg
        parts = corner_vectors(self.rng, cfg, self.lane_limit, self.max_every_lane)
        c, mk = exp_sweep_vectors(self.rng, cfg)
        parts.append(("exp_sweep", codes_to_x(cfg, c), mk))
        # the variant's own block: the ln-table sweep (log domain), the divider sweep (divide)
        parts += [(name, codes_to_x(cfg, c), mk) for name, c, mk in cfg.unit.directed_vectors(self.rng, cfg)]
        x = np.concatenate([p[1] for p in parts])
        mask = np.concatenate([p[2] for p in parts])
        kinds = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
        # through models.quantize: the saturation corner is off the grid on purpose
        yield Part(mask, kinds, f"corners(seed={self.knobs.seed})", x=x)


class ReplaySequence(BlockSequence):
    """A logit dump row by row (models.dumps), padded with masked lanes up to N."""

    def __init__(self, name: str, knobs: SeqKnobs, path, max_rows: int | None = None, dump_options: dict | None = None):
        super().__init__(name, knobs)
        self.path = path
        self.max_rows = max_rows
        self.dump = pad_to(open_dump_arg(path, n_lanes=knobs.cfg.n, **(dump_options or {})), knobs.cfg.n)

    def blocks(self):
        d = self.dump
        m = d.m if self.max_rows is None else min(d.m, self.max_rows)
        yield Part(d.mask[:m], np.full(m, "replay"), str(self.path), x=d.logits[:m], rows=np.arange(m))

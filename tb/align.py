"""Pairing of observed outputs with observed inputs, in order, with resynchronisation.

The unit must produce one output per accepted input, in order. When an output does not match the
model's prediction for its input, a single fault of the flow (a lost vector, a duplicated one,
two swapped) would otherwise shift every later pair and flood the report with data mismatches.
`align` looks a few vectors ahead to tell these apart and returns what happened as operations:

  ("pair", i, o, n)    inputs i..i+n-1 with outputs o..o+n-1 (checked lane by lane afterwards)
  ("missing", i, d)    inputs i..i+d-1 produced no output (the outputs continue at input i+d)
  ("duplicate", o)     output o repeats the previous input's output
  ("swap", i, o)       outputs o, o+1 belong to inputs i+1, i

Anything else that differs is a data fault: the run of consecutive mismatching pairs is returned
as one "pair" operation and the lane checks report it. Pure numpy, no simulator: tests/test_align.py.
"""
from __future__ import annotations

import numpy as np

WINDOW = 4         # how many lost vectors in a row are recognised as such


def _rows_equal(ey, eam, gy, gam, gunk) -> np.ndarray:
    return (gy == ey).all(axis=-1) & (gam == eam) & ~gunk


def align(ey: np.ndarray, eam: np.ndarray, gy: np.ndarray, gam: np.ndarray, gunk: np.ndarray,
          final: bool, prev: tuple[np.ndarray, int] | None = None) -> tuple[list[tuple], int, int]:
    """ey [I, N], eam [I]: the model's outputs for the observed inputs; gy [O, N], gam [O],
    gunk [O]: the observed outputs (gunk: X/Z seen). prev: (y, argmax) of the input paired last
    (for duplicates across calls). Returns (operations, inputs consumed, outputs consumed);
    without `final`, stops where deciding would need outputs not observed yet."""
    ni, no = len(ey), len(gy)

    def eq(o: int, i: int) -> bool:
        if not (0 <= o < no and 0 <= i < ni):
            return False
        return bool(_rows_equal(ey[i], eam[i], gy[o], gam[o], gunk[o]))

    def is_prev(o: int, i: int) -> bool:
        if i > 0:
            return eq(o, i - 1)
        return prev is not None and o < no and not gunk[o] and bool((gy[o] == prev[0]).all() and gam[o] == prev[1])

    def confirm(o: int, i: int, look: int = 3) -> int:
        """Pairs from (o, i) on that match, up to `look`; the end of the flow counts as a match."""
        for t in range(look):
            if o + t >= no or i + t >= ni:
                return look
            if not eq(o + t, i + t):
                return t
        return look

    ops: list[tuple] = []
    i = o = 0
    while i < ni and o < no:
        m = min(ni - i, no - o)
        same = _rows_equal(ey[i:i + m], eam[i:i + m], gy[o:o + m], gam[o:o + m], gunk[o:o + m])
        run = m if same.all() else int(np.argmin(same))
        if run:
            ops.append(("pair", i, o, run))
            i, o = i + run, o + run
            continue
        if not final and (ni - i < WINDOW + 2 or no - o < 2):
            break                                    # wait for more of the flow
        # the hypotheses that explain (o, i), each scored by how many pairs after it line up
        # again; the best wins (ties: a lost vector, then a duplicate, then a swap)
        hyp = [(confirm(o + 1, i + d + 1), -k, ("missing", i, d), d, 0)
               for k, d in enumerate(range(1, WINDOW + 1)) if eq(o, i + d)]
        if is_prev(o, i):
            hyp.append((confirm(o + 1, i), -WINDOW - 1, ("duplicate", o), 0, 1))
        if eq(o, i + 1) and eq(o + 1, i):
            hyp.append((confirm(o + 2, i + 2), -WINDOW - 2, ("swap", i, o), 2, 2))
        if hyp:
            _, _, op, di, do = max(hyp, key=lambda h: h[:2])
            ops.append(op)
            i, o = i + di, o + do
            continue
        bad = m if not same.any() else int(np.argmax(same))     # a data fault: the whole run
        ops.append(("pair", i, o, bad))
        i, o = i + bad, o + bad
    return ops, i, o

"""The scoreboard's in-order pairing with resynchronisation (tb/align.py), on synthetic flows:
one fault of the flow must come out as one operation, not as a shifted flood of mismatches."""
from __future__ import annotations

import numpy as np
import pytest

from tb.align import WINDOW, align

N = 6


def flow(m=200, seed=0):
    """Distinct expected outputs per input (so every shift is visible)."""
    rng = np.random.default_rng(seed)
    ey = rng.integers(0, 1024, size=(m, N))
    eam = ey.argmax(axis=1)
    return ey, eam


def observe(ey, eam, order):
    """Outputs in the given order of input indices."""
    idx = np.asarray(order)
    return ey[idx].copy(), eam[idx].copy(), np.zeros(len(idx), bool)


def kinds(ops):
    return [op[0] for op in ops]


def test_clean_flow_is_one_pair_run():
    ey, eam = flow()
    ops, ci, co = align(ey, eam, *observe(ey, eam, range(len(ey))), final=True)
    assert ops == [("pair", 0, 0, len(ey))] and (ci, co) == (len(ey), len(ey))


@pytest.mark.parametrize("lost", [1, 2, WINDOW])
def test_lost_vectors_are_one_missing_op(lost):
    ey, eam = flow()
    order = [k for k in range(len(ey)) if not 50 <= k < 50 + lost]
    ops, ci, co = align(ey, eam, *observe(ey, eam, order), final=True)
    assert ops == [("pair", 0, 0, 50), ("missing", 50, lost), ("pair", 50 + lost, 50, len(ey) - 50 - lost)]
    assert (ci, co) == (len(ey), len(order))


def test_duplicate_is_one_op():
    ey, eam = flow()
    order = list(range(80)) + [79] + list(range(80, len(ey)))
    ops, _, _ = align(ey, eam, *observe(ey, eam, order), final=True)
    assert kinds(ops) == ["pair", "duplicate", "pair"] and ops[1] == ("duplicate", 80)


def test_swap_is_one_op():
    ey, eam = flow()
    order = list(range(len(ey)))
    order[30], order[31] = order[31], order[30]
    ops, _, _ = align(ey, eam, *observe(ey, eam, order), final=True)
    assert kinds(ops) == ["pair", "swap", "pair"] and ops[1] == ("swap", 30, 30)


def test_data_fault_stays_aligned_and_is_checked_as_pairs():
    ey, eam = flow()
    gy, gam, gunk = observe(ey, eam, range(len(ey)))
    gy[:, 2] = 0                                   # a stuck lane: every pair differs
    ops, ci, co = align(ey, eam, gy, gam, gunk, final=True)
    assert all(op[0] == "pair" and op[1] == op[2] for op in ops)
    assert sum(op[3] for op in ops) == len(ey) and len(ops) <= 2 + int((ey[:, 2] == 0).sum()) * 2


def test_x_on_an_output_is_not_equal():
    ey, eam = flow(20)
    gy, gam, gunk = observe(ey, eam, range(20))
    gunk[5] = True
    ops, _, _ = align(ey, eam, gy, gam, gunk, final=True)
    assert ("pair", 5, 5, 1) in ops


def test_waits_for_lookahead_until_final():
    ey, eam = flow(20)
    gy, gam, gunk = observe(ey, eam, [*range(10), 11])    # input 10 lost, only one output after it
    ops, ci, co = align(ey, eam, gy, gam, gunk, final=False)
    assert ops == [("pair", 0, 0, 10)] and (ci, co) == (10, 10)
    ops, ci, co = align(ey, eam, gy, gam, gunk, final=True)
    assert ops[1] == ("missing", 10, 1)


def test_duplicate_across_calls_uses_prev():
    ey, eam = flow(20)
    gy, gam, gunk = observe(ey, eam, [0, 0, 1, 2])
    ops, _, _ = align(ey[1:], eam[1:], gy[1:], gam[1:], gunk[1:], final=True, prev=(ey[0], int(eam[0])))
    assert ops[0] == ("duplicate", 0)

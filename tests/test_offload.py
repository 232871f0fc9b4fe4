"""tb/offload.py: CHECK=harness judges in a forked checking process. The work must run there, in
order, on the participants' copies; their state must come back; a failure there must fail the
test with its traceback, never pass silently or hang."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

import tb.offload
from tb.offload import Offload, OffloadError, ahead


class Tally:
    """A participant: sums what it is sent, and says where it ran."""

    def __init__(self):
        self.sums, self.kept, self.pid, self.in_child = [], [], os.getpid(), False

    def keep(self, a: np.ndarray) -> None:
        self.kept.append(a)

    def add(self, a: np.ndarray) -> None:
        self.sums.append(int(a.sum()))
        self.pid = os.getpid()

    def fail(self) -> None:
        raise ValueError("planted failure")

    def die(self) -> None:
        os._exit(3)

    def hang(self) -> None:
        time.sleep(3600)

    def offload_child(self) -> None:
        self.in_child = True

    def offload_state(self) -> dict:
        return {"sums": self.sums, "kept": self.kept, "pid": self.pid, "in_child": self.in_child}

    def offload_merge(self, state: dict) -> None:
        self.sums, self.kept, self.pid, self.in_child = state["sums"], state["kept"], state["pid"], state["in_child"]


def started() -> tuple[Offload, Tally]:
    off, t = Offload(process=True), Tally()
    off.register(t)
    off.start()
    assert off.remote
    return off, t


def test_work_runs_in_the_child_in_order_and_its_state_comes_back():
    off, t = started()
    for i in range(40):                        # 800 kB each: far more than a pipe holds
        off.run(t.add, np.full(100_000, i, np.int64))
    assert t.sums == []                        # nothing ran in this process
    off.close()
    assert not off.remote
    assert t.sums == [100_000 * i for i in range(40)]
    assert t.in_child and t.pid != os.getpid()


def test_a_state_of_many_arrays_comes_back():
    off, t = started()
    for i in range(3000):                      # more buffers than one writev takes (IOV_MAX 1024)
        off.run(t.keep, np.full(3, i))
    off.close()
    assert len(t.kept) == 3000 and all(int(a[0]) == i for i, a in enumerate(t.kept))


def test_inline_mode_runs_at_once():
    off, t = Offload(process=False), Tally()
    off.register(t)
    off.start()
    off.run(t.add, np.arange(4))
    assert t.sums == [6] and t.pid == os.getpid() and not off.remote
    off.close()


def test_a_failure_in_the_child_fails_close_with_its_traceback():
    off, t = started()
    off.run(t.add, np.ones(3))
    off.run(t.fail)
    off.run(t.add, np.ones(200_000))           # sent after the failure: read, not run, no hang
    with pytest.raises(OffloadError, match="(?s)planted failure.*Traceback|Traceback.*planted failure"):
        off.close()
    assert t.sums == []                        # no state was taken over


def test_a_child_that_dies_is_reported():
    off, t = started()
    off.run(t.die)
    with pytest.raises(OffloadError):          # at the next hand-over, or at the end
        for _ in range(20):
            off.run(t.add, np.ones(100_000))
        off.close()


def test_an_argument_that_cannot_be_sent_is_reported():
    off, t = started()
    off.run(t.add, lambda: 0)                  # does not pickle
    with pytest.raises(OffloadError, match="pickle"):
        off.close()


def test_only_registered_participants_can_offload():
    off, t = started()
    with pytest.raises(RuntimeError, match="not a registered participant"):
        off.run(Tally().add, np.ones(1))
    off.close()
    off2, _ = started()
    with pytest.raises(RuntimeError, match="after start"):
        off2.register(Tally())
    off2.close()


def test_a_child_that_hangs_is_killed_and_reported(monkeypatch):
    monkeypatch.setattr(tb.offload, "STALL_S", 0.5)
    off, t = started()
    off.run(t.hang)
    with pytest.raises(OffloadError, match="no progress|no work"):
        for _ in range(20):
            off.run(t.add, np.ones(100_000))
        off.close()


# ---- items made ahead (tb/offload.ahead) ----------------------------------------------------------

def numbered(k: int, fail_at: int | None = None):
    for i in range(k):
        if i == fail_at:
            raise ValueError(f"planted failure at item {i}")
        yield np.full(50_000, i, np.int64)          # 400 kB each: more than a pipe holds


def stamped(a: np.ndarray) -> tuple[int, int, int]:
    return int(a[0]), int(a.sum()), os.getpid()


def test_items_are_made_in_another_process_in_order():
    got = list(ahead(numbered(12), stamped))
    assert [g[0] for g in got] == list(range(12))
    assert all(s == 50_000 * i for i, s, _ in got)
    assert {pid for *_, pid in got} != {os.getpid()} and len({pid for *_, pid in got}) == 1


def test_a_failure_making_the_items_is_raised_with_its_traceback():
    got = []
    with pytest.raises(OffloadError, match="(?s)planted failure at item 3"):
        for g in ahead(numbered(8, fail_at=3), stamped):
            got.append(g[0])
    assert got == [0, 1, 2]                          # the items before it arrived, in order


def test_stopping_early_ends_the_maker():
    it = ahead(numbered(1000), stamped)
    first, _, maker = next(it)
    assert first == 0
    it.close()                                       # the maker is blocked writing: killed, reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(maker, os.WNOHANG)                # not left behind

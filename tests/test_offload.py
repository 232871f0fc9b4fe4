"""tb/offload.py: CHECK=harness judges in a forked checking process. The work must run there, in
order, on the participants' copies; their state must come back; a failure there must fail the
test with its traceback, never pass silently or hang."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

import tb.offload
from tb.offload import Offload, OffloadError


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
    with pytest.raises(RuntimeError, match="after start"):
        off2, _ = started()
        off2.register(Tally())


def test_a_child_that_hangs_is_killed_and_reported(monkeypatch):
    monkeypatch.setattr(tb.offload, "STALL_S", 0.5)
    off, t = started()
    off.run(t.hang)
    with pytest.raises(OffloadError, match="no progress|no work"):
        for _ in range(20):
            off.run(t.add, np.ones(100_000))
        off.close()

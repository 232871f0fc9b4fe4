"""The checking work of CHECK=harness runs beside the simulator, not between its blocks.

cocotb runs Python in the simulator's thread: while Python judges a block, the simulator waits.
With CHECK=harness the comparison itself is in the harness, so what is left for Python after a
block (the float checks, reports and coverage sampling of the scoreboard and the coverage
collector) does not decide what is driven next. It goes to one worker thread, in order, and
runs while the simulator runs the next block (numpy and the simulator release the GIL). One
worker keeps every update of the scoreboard's and the coverage model's state in one thread and
in the order it was published; the test waits for it before the scoreboard's final judgement.
"""
from __future__ import annotations

import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

MAX_QUEUED = 4          # blocks of work queued at most before the driver waits (bounded memory)
# When the simulator calls back into Python (the end of a block) while the worker holds the GIL,
# the simulator thread waits for the interpreter's switch interval (5 ms by default): a few such
# waits per block cost more than the block's simulation. A short interval bounds that wait.
SWITCH_INTERVAL_S = 0.0002


class Offload:
    def __init__(self, threaded: bool):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="smx-check") if threaded else None
        if threaded:
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._queued: deque[Future] = deque()

    def run(self, fn: Callable, *args) -> None:
        """fn(*args) now (not threaded) or on the worker after everything submitted before it."""
        if self._pool is None:
            fn(*args)
            return
        self._queued.append(self._pool.submit(fn, *args))
        while self._queued and (self._queued[0].done() or len(self._queued) > MAX_QUEUED):
            self._queued.popleft().result()          # re-raises what the work raised

    def wait(self) -> None:
        """Everything submitted has run (its exceptions re-raised here)."""
        while self._queued:
            self._queued.popleft().result()

    def close(self) -> None:
        self.wait()
        if self._pool is not None:
            self._pool.shutdown()

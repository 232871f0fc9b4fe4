"""The checking work of CHECK=harness runs while the simulator runs, not between its blocks.

cocotb runs Python in the simulator's thread: while Python judges a block, the simulator waits.
With CHECK=harness the comparison itself is in the harness, so what is left for Python after a
block (the float checks, reports and coverage sampling of the scoreboard and the coverage
collector) does not decide what is driven next. That work is queued here and handed to one
worker thread only while the simulator runs the next block (`simulating()` around the BFM's
waits): the simulator holds no Python lock while it runs, so the two overlap on two cores, and
the main thread's own Python work (stimulus, model, files) never competes with the worker for
the interpreter lock. One worker keeps every update of the scoreboard's and the coverage model's
state in one thread and in the order it was published; the test waits for it before the
scoreboard's final judgement.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable


class Offload:
    def __init__(self, threaded: bool):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="smx-check") if threaded else None
        self._pending: list[tuple[Callable, tuple]] = []
        self._running: Future | None = None

    def run(self, fn: Callable, *args) -> None:
        """fn(*args) now (not threaded), or during the next simulation wait, after everything
        queued before it."""
        if self._pool is None:
            fn(*args)
        else:
            self._pending.append((fn, args))

    def _run_pending(self, work: list[tuple[Callable, tuple]]) -> None:
        for fn, args in work:
            fn(*args)

    @contextmanager
    def simulating(self):
        """Around an await that lets the simulator run: the queued work runs meanwhile, and is
        finished (its exceptions re-raised) before the main thread goes on."""
        if self._pool is not None and self._pending:
            work, self._pending = self._pending, []
            self._running = self._pool.submit(self._run_pending, work)
        try:
            yield
        finally:
            self.settle()

    def settle(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            running.result()

    def close(self) -> None:
        """Everything queued has run (the end of a test)."""
        self.settle()
        work, self._pending = self._pending, []
        self._run_pending(work)
        if self._pool is not None:
            self._pool.shutdown()

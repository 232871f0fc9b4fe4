"""Python work beside the simulator, in forked processes (CHECK=harness).

cocotb runs Python in the simulator's process and keeps the interpreter lock while the
simulator runs, so a Python thread does not run beside a block (measured: a spinning thread
slowed the bare block loop from 460 k to 288 k vectors/s and barely advanced; the checks on a
worker thread gave 1/13 to 1/21 of the raw simulator). Two kinds of work need not be in the
simulator's process, and run in processes forked from it, so that they have the test's objects
as they were built and connected:

* `Offload`: the judging. With CHECK=harness the comparison itself is in the harness, so what is
  left for Python after a block (the float checks, reports and coverage sampling) does not decide
  what is driven next. A checking process is forked at the start of the test (`start`); the
  parent sends it each published transaction (the participant, the method, the arguments), the
  child calls that method on its copy, in order. At the end (`close`) the child sends back each
  participant's state (`offload_state`), which the parent's object takes over (`offload_merge`);
  the test then judges as usual. Participants (the scoreboard, the coverage collector) implement
      offload_child()        in the child, right after the fork (e.g. stop logging: only the
                             parent logs, once it has the state)
      offload_state()        in the child at close: a picklable summary of what it did
      offload_merge(state)   in the parent at close
  Offload(process=False) calls the methods in place (CHECK=monitors).
* `ahead`: a sequence's items, made one ahead (generated, quantised, predicted by the model,
  encoded) while the simulator runs the current one.

Transport: one pipe each way; a message is pickled with numpy's arrays out of band (protocol 5).
The checking process's messages are written by a sender thread (the main thread only pickles the
small header; at most MAX_QUEUED wait, so memory stays bounded). A child never returns into the
simulator: it leaves with os._exit, so neither cocotb nor the simulator's buffered files see it.
A child that fails sends its traceback, which is raised in the parent; one that dies or makes no
progress for STALL_S is reported (and killed): a run never hangs on it.
"""
from __future__ import annotations

import fcntl
import os
import pickle
import queue
import select
import signal
import struct
import threading
import traceback
from typing import Callable, Iterator, Protocol, TypeVar

T = TypeVar("T")
MAX_QUEUED = 4                  # messages pickled but not yet written to the child
STALL_S = 600.0                 # the child taking no work (or not answering) this long is an error
_HEADER = struct.Struct("<QI")  # header bytes, number of out-of-band buffers
_SIZE = struct.Struct("<Q")


class Participant(Protocol):
    def offload_child(self) -> None: ...
    def offload_state(self) -> object: ...
    def offload_merge(self, state: object) -> None: ...


class OffloadError(RuntimeError):
    """The checking process failed (its traceback is in the message) or died."""


_IOV_MAX = os.sysconf("SC_IOV_MAX")          # buffers one writev takes (a state has thousands)


def _write_all(fd: int, parts: list) -> None:
    views = [v for v in (memoryview(p).cast("B") for p in parts) if len(v)]
    while views:
        n = os.writev(fd, views[:_IOV_MAX])
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


def _read_exact(fh, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = fh.readinto(view[got:])
        if not k:
            raise EOFError
        got += k
    return buf


# the parent's ends of the pipes of the live helper processes: a later fork closes them in its
# child, so that a helper's end of file comes when the parent closes its end, not when every
# other helper has exited too
_PARENT_FDS: set[int] = set()
_F_SETPIPE_SZ = 1031


def _fork_with_pipes() -> tuple[int, int, int]:
    """Fork with a pipe each way: (pid, read fd, write fd) of this side (pid 0 in the child)."""
    down, up = os.pipe(), os.pipe()
    for _, w in (down, up):
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, 1 << 20)  # fewer switches per block (best effort)
        except OSError:
            pass
    pid = os.fork()
    if pid == 0:
        for fd in _PARENT_FDS:
            os.close(fd)
        _PARENT_FDS.clear()
        os.close(down[1])
        os.close(up[0])
        return 0, down[0], up[1]
    os.close(down[0])
    os.close(up[1])
    _PARENT_FDS.update((up[0], down[1]))
    return pid, up[0], down[1]


def _close_parent_fd(fd: int) -> None:
    _PARENT_FDS.discard(fd)
    os.close(fd)


def _send(fd: int, obj) -> None:
    bufs: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    raws = [b.raw() for b in bufs]
    sizes = b"".join(_SIZE.pack(r.nbytes) for r in raws)
    _write_all(fd, [_HEADER.pack(len(head), len(raws)), sizes, head, *raws])


def _receive(fh):
    n_head, n_bufs = _HEADER.unpack(_read_exact(fh, _HEADER.size))
    sizes = [_SIZE.unpack_from(_read_exact(fh, _SIZE.size))[0] for _ in range(n_bufs)]
    head = _read_exact(fh, n_head)
    return pickle.loads(head, buffers=[_read_exact(fh, s) for s in sizes])


class Offload:
    def __init__(self, process: bool):
        self.process = process
        self.participants: list[Participant] = []
        self._pid = 0
        self._queue: queue.Queue | None = None
        self._sender: threading.Thread | None = None
        self._send_error: BaseException | None = None

    @property
    def remote(self) -> bool:
        """True while a child judges: the participants' state in this process is not current."""
        return self._pid != 0

    def register(self, p: Participant) -> None:
        if self.remote:
            raise RuntimeError("Offload.register after start: the child has no copy of it")
        self.participants.append(p)

    def run(self, fn: Callable, *args) -> None:
        """fn(*args) now, or in the child after everything sent before it. fn is a method of a
        registered participant."""
        if not self.remote:
            fn(*args)
            return
        owner = fn.__self__
        idx = next((i for i, p in enumerate(self.participants) if p is owner), None)
        if idx is None:
            raise RuntimeError(f"{fn.__qualname__}: its owner is not a registered participant")
        if self._send_error is not None:
            raise OffloadError(f"the checking process stopped taking work: {self._send_error}")
        try:
            self._queue.put((idx, fn.__name__, args), timeout=STALL_S)
        except queue.Full:
            os.kill(self._pid, signal.SIGKILL)
            raise OffloadError(f"the checking process (pid {self._pid}) took no work for {STALL_S:.0f} s; "
                               f"killed") from None

    # ---- parent ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Fork the checking process (process mode; after the components are connected)."""
        if not self.process or self.remote:
            return
        pid, rfd, wfd = _fork_with_pipes()
        if pid == 0:                                   # the child: never returns
            self._child(rfd, wfd)
        self._pid, self._results = pid, os.fdopen(rfd, "rb")
        self._queue = queue.Queue(MAX_QUEUED)
        self._sender = threading.Thread(target=self._send_loop, args=(wfd,), name="smx-offload", daemon=True)
        self._sender.start()

    def _send_loop(self, fd: int) -> None:
        try:
            while True:
                msg = self._queue.get()
                if msg is None:
                    break
                if self._send_error is None:
                    _send(fd, msg)
        except BaseException as e:                      # noqa: BLE001 (the child is gone, or a message
            self._send_error = e                        # does not pickle): reported by run() and close()
            while self._queue.get() is not None:       # let run() callers go on until close
                pass
        finally:
            _close_parent_fd(fd)

    def close(self) -> None:
        """Everything sent has run; the participants here hold the child's state."""
        if not self.remote:
            return
        pid, self._pid = self._pid, 0
        try:
            try:
                self._queue.put(None, timeout=STALL_S)
                self._sender.join(STALL_S)
                stalled = self._sender.is_alive() or not select.select([self._results], [], [], STALL_S)[0]
            except queue.Full:
                stalled = True
            if stalled:
                os.kill(pid, signal.SIGKILL)
                raise OffloadError(f"the checking process (pid {pid}) made no progress for {STALL_S:.0f} s; killed")
            ok, payload = _receive(self._results)
        except EOFError:
            ok, payload = False, "it exited without reporting (killed, or crashed in native code?)"
        finally:
            _PARENT_FDS.discard(self._results.fileno())
            self._results.close()
            _, status = os.waitpid(pid, 0)
        if self._send_error is not None:
            raise OffloadError(f"sending work to the checking process failed: {self._send_error!r}")
        if not ok:
            raise OffloadError(f"the checking process (pid {pid}, exit status {status}) failed:\n{payload}")
        for p, state in zip(self.participants, payload):
            p.offload_merge(state)

    # ---- child ----------------------------------------------------------------------------------
    def _child(self, rfd: int, wfd: int) -> None:
        error = None
        try:
            for p in self.participants:
                p.offload_child()
        except BaseException:                           # noqa: BLE001 (reported to the parent)
            error = traceback.format_exc()
        with os.fdopen(rfd, "rb") as fh:
            while True:                                 # after a failure: read on, so the parent never blocks
                try:
                    idx, name, args = _receive(fh)
                except EOFError:
                    break
                if error is None:
                    try:
                        getattr(self.participants[idx], name)(*args)
                    except BaseException:               # noqa: BLE001
                        error = traceback.format_exc()
        try:
            reply = (True, [p.offload_state() for p in self.participants]) if error is None else (False, error)
        except BaseException:                           # noqa: BLE001
            reply = (False, traceback.format_exc())
        status = 0 if reply[0] else 1
        try:
            _send(wfd, reply)
        except BaseException:                           # noqa: BLE001 (the parent sees EOF and the status)
            status = 2
        finally:
            os._exit(status)


# ---- items made ahead ---------------------------------------------------------------------------

def ahead(items: Iterator[T], prepare: Callable[[T], T]) -> Iterator[T]:
    """`prepare(item)` for every item of `items`, made in a forked process one item ahead of the
    consumer: while the simulator runs a block, the next one is generated, quantised, predicted
    and encoded beside it (the simulator's process holds the interpreter lock while it simulates,
    so a thread could not). The items arrive in order; a failure there is raised here with its
    traceback. Both functions must be pure (the child's copies of the objects change, not ours)."""
    pid, rfd, wfd = _fork_with_pipes()
    if pid == 0:
        os.close(rfd)
        try:
            for it in items:
                _send(wfd, (True, prepare(it)))
            _send(wfd, (True, _END))
            status = 0
        except BrokenPipeError:                         # the consumer stopped early
            status = 0
        except BaseException:                           # noqa: BLE001 (reported to the parent)
            try:
                _send(wfd, (False, traceback.format_exc()))
            except BaseException:                       # noqa: BLE001
                pass
            status = 1
        os._exit(status)
    _close_parent_fd(wfd)
    fh = os.fdopen(rfd, "rb")
    finished = False
    try:
        while True:
            if not select.select([fh], [], [], STALL_S)[0]:
                raise OffloadError(f"the process making the items (pid {pid}) sent nothing for {STALL_S:.0f} s")
            try:
                ok, msg = _receive(fh)
            except EOFError:
                raise OffloadError(f"the process making the items (pid {pid}) exited without finishing") from None
            if not ok:
                raise OffloadError(f"making the items failed (pid {pid}):\n{msg}")
            if isinstance(msg, _End):
                finished = True
                return
            yield msg
    finally:
        _PARENT_FDS.discard(rfd)
        fh.close()
        if not finished:                                # stopped early, or the child failed
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class _End:
    """The end of the items (a class, so that it survives pickling as itself)."""


_END = _End()

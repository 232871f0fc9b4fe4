"""The cocotb/pyuvm tests. Launch through tb/run.py (make sim, pytest tests/test_sim.py): it
builds the simulation and passes the configuration, the dumps and the per-test knobs (SMX_PLAN).

Each test resets the DUT, runs its stimulus, drains, and lets the scoreboard judge; the
functional coverage model is shared by all tests of one simulator run.
"""
from __future__ import annotations

import gc
import json
import time

import cocotb
import numpy as np
import pyuvm
from cocotb.triggers import Timer
from pyuvm import ConfigDB, uvm_test

from . import settings as settings_mod
from .bfm import BfmError, SoftmaxBfm
from .offload import Offload
from .env import SoftmaxEnv
from .sequences import CornerSequence, RandomSequence, ReplaySequence, SeqKnobs


class SmxTest(uvm_test):
    """Base: builds the environment from the run settings; subclasses define stimulus()."""

    test_id = ""
    ready_kinds: tuple[str, ...] = ("always",)
    gap_modes: tuple[str, ...] = ("none",)

    def build_phase(self):
        self.t0 = time.perf_counter()
        self.settings = settings_mod.from_env()
        self.cfg = self.settings.cfg
        self.knobs = self.settings.knobs(self.test_id)
        self.seed = self.settings.seed
        self.rng = np.random.default_rng([self.seed, 0x7E57])
        self.offload = Offload(process=self.settings.check == "harness")
        self.bfm = SoftmaxBfm(cocotb.top, self.cfg, self.settings.check)
        db = ConfigDB()
        db.set(None, "*", "BFM", self.bfm)
        db.set(None, "*", "CFG", self.cfg)
        db.set(None, "*", "SEED", self.seed)
        db.set(None, "*", "MODEL", self.settings.model)
        db.set(None, "*", "RERUN", self.settings.rerun_command(self.test_id, self.seed))
        db.set(None, "*", "OFFLOAD", self.offload)
        db.set(None, "*", "READY_KINDS", tuple(self.knobs.get("ready_kinds", self.ready_kinds)))
        self.env = SoftmaxEnv("env", self)

    def seq_knobs(self) -> SeqKnobs:
        # with the checking process (CHECK=harness), items are also made one ahead in a process
        return SeqKnobs(self.cfg, self.seed, block=int(self.knobs.get("block", 1024)),
                        gap_modes=tuple(self.knobs.get("gap_modes", self.gap_modes)),
                        prepare=self.env.agent.driver.prepare if self.offload.process else None)

    async def stimulus(self) -> None:
        raise NotImplementedError

    def note_progress(self, _vectors: int) -> None:
        """Before each block, at most every few seconds: how far this test is (tb/run.py prints
        it, so that a long replay shows it is alive)."""
        now = time.perf_counter()
        if now - self._last_progress >= 5.0:
            self._last_progress = now
            if self.offload.remote:       # the scoreboard judges in the checking process
                resolved, matched = self.bfm.checker_counts()
                done = f"{resolved} vectors compared in the harness, {resolved - matched} not matched"
            else:
                sb = self.env.scoreboard
                done = f"{sb.checked} vectors checked, {sb.mismatches} mismatches"
            (self.settings.results / "tests" / f"{self.test_id}.progress").write_text(
                f"{done}, {now - self.t_run:.0f} s\n")

    async def run_phase(self):
        self.raise_objection()
        # everything built so far (cocotb, pyuvm, the environment) lives as long as the test: the
        # garbage collector need not scan it again at every collection of the per-block arrays
        gc.freeze()
        self.offload.start()            # CHECK=harness: the checking process, forked now
        await self.bfm.start()
        self.t_run = self._last_progress = time.perf_counter()
        self.bfm.block_listeners.append(self.note_progress)
        stopped = None
        try:
            await self.stimulus()
            await self.bfm.drain()
        except BfmError as e:
            # the DUT stopped responding: report it with everything seen so far
            self.bfm.collect()
            stopped = str(e)
        stopped = self.bfm.stopped or stopped     # the driver's failure came first
        self.bfm.close()
        self.offload.close()            # the scoreboard's and coverage's work has all run, here
        if stopped:
            self.env.scoreboard.protocol_error(stopped)
        self.t_end = time.perf_counter()
        self.env.scoreboard.finish(self.bfm.in_reader.epoch)
        self.drop_objection()

    def extract_phase(self):
        """Write this test's results (before check_phase can fail the test)."""
        sb, cov = self.env.scoreboard, self.env.coverage.model
        r = sb.results()
        wall = time.perf_counter() - self.t0
        run_s = getattr(self, "t_end", time.perf_counter()) - getattr(self, "t_run", self.t0)
        r.update({
            "test": self.test_id, "seed": self.seed, "config": self.cfg.name, "sim": self.settings.sim,
            "wall_s": round(wall, 3), "run_s": round(run_s, 3),
            "vectors_per_s": round(r["vectors"] / run_s, 1) if run_s > 0 else None,
            "sim_cycles": self.bfm.stats["cycles"], "blocks": self.bfm.stats["blocks"],
            "sim_wait_s": round(self.bfm.stats["sim_wait_s"], 3),
            "resets": self.bfm.stats["resets"], "aborted_blocks": self.bfm.stats["aborted_blocks"],
            "coverage_percent_cumulative": round(cov.percent(), 2),
            "rerun": self.settings.rerun_command(self.test_id, self.seed),
        })
        out = self.settings.results / "tests"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{self.test_id}.json").write_text(json.dumps(r, indent=1, default=str))
        cov.write(self.settings.results)
        self.logger.info(f"{self.test_id}: {r['vectors']} vectors checked, {r['mismatches']} mismatches, "
                         f"{r['vectors_per_s']} vectors/s, coverage so far {cov.percent():.1f}%")


@pyuvm.test()
class smx_smoke(SmxTest):
    """A few hundred random vectors, no backpressure, no idle cycles."""
    test_id = "smx_smoke"

    async def stimulus(self):
        await RandomSequence("smoke", self.seq_knobs(), int(self.knobs["vectors"])).start(self.env.agent.seqr)


@pyuvm.test()
class smx_random(SmxTest):
    """Constrained random shapes and masks with mild backpressure and idle cycles."""
    test_id = "smx_random"
    ready_kinds = ("always", "random")
    gap_modes = ("none", "random")

    async def stimulus(self):
        await RandomSequence("random", self.seq_knobs(), int(self.knobs["vectors"])).start(self.env.agent.seqr)


@pyuvm.test()
class smx_corners(SmxTest):
    """Directed corners, the exp-table sweep and the ln-table sweep."""
    test_id = "smx_corners"
    ready_kinds = ("always", "random")

    async def stimulus(self):
        for rep in range(int(self.knobs.get("repeats", 1))):
            knobs = self.seq_knobs()
            knobs.seed = self.seed + rep
            seq = CornerSequence(f"corners{rep}", knobs, int(self.knobs.get("lane_limit", 64)),
                                 bool(self.knobs.get("max_every_lane", True)))
            await seq.start(self.env.agent.seqr)


@pyuvm.test()
class smx_replay(SmxTest):
    """Real logits from dumps, row by row (padded with masked lanes up to N)."""
    test_id = "smx_replay"
    ready_kinds = ("always", "random")

    async def stimulus(self):
        if not self.settings.dumps:
            raise RuntimeError("smx_replay: no dump to replay (the launcher should not schedule it)")
        for path in self.settings.dumps:
            seq = ReplaySequence(f"replay_{path.stem}", self.seq_knobs(), path, self.knobs.get("max_rows"),
                                 self.knobs.get("dump_options"))
            await seq.start(self.env.agent.seqr)


@pyuvm.test()
class smx_backpressure(SmxTest):
    """Heavy output backpressure (sparse, bursty, alternating ready) and long idle gaps."""
    test_id = "smx_backpressure"
    ready_kinds = ("sparse", "bursty", "alternate", "random")
    gap_modes = ("none", "random", "long")

    async def stimulus(self):
        await RandomSequence("bp", self.seq_knobs(), int(self.knobs["vectors"])).start(self.env.agent.seqr)


@pyuvm.test()
class smx_reset(SmxTest):
    """Resets in the middle of traffic (mid-block, with vectors in flight under backpressure),
    then an idle stretch that must stay silent, then traffic again."""
    test_id = "smx_reset"
    ready_kinds = ("sparse", "bursty", "random")
    gap_modes = ("none", "random")

    async def stimulus(self):
        per = int(self.knobs["vectors"])
        resets = int(self.knobs.get("resets", 4))
        for r in range(resets):
            seq = RandomSequence(f"reset{r}", self.seq_knobs(), per)
            task = cocotb.start_soon(seq.start(self.env.agent.seqr))
            # somewhere inside the traffic (not at a block boundary on purpose)
            await Timer(int(self.rng.integers(20, 20 + 2 * per)) * self.bfm.period_ns, unit="ns")
            await self.bfm.reset(int(self.rng.integers(1, 4)))
            await task
            # after a reset with nothing new sent, no output may appear (nothing stale)
            await self.bfm.reset(2)
            await self.bfm.drain(extra_cycles=100)
        await RandomSequence("after_reset", self.seq_knobs(), per).start(self.env.agent.seqr)

"""The agent: driver, output-side ready generator and the two monitors, all over the BFM.

The monitors publish only what the harness's recorders saw at the ports; the driver publishes
what it sent (the float logits and provenance travel with it) on a separate port, which the
scoreboard uses for reports, never as the expected value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
from pyuvm import ConfigDB, uvm_agent, uvm_analysis_port, uvm_component, uvm_driver, uvm_sequencer, uvm_subscriber

from models.datapath import ModelResult

from .bfm import BfmError, BlockFiles, InObservation, OutObservation, SoftmaxBfm
from .flow import READY_KINDS
from .protocol import READY_DEPTH
from .sequences import VectorBlock


class Prediction(NamedTuple):
    """The reference model's answer for a block (Scoreboard.predict)."""
    res: ModelResult           # numpy model, with the intermediates coverage samples
    y: np.ndarray              # expected outputs (from the reference MODEL chose)
    argmax: np.ndarray
    split: np.ndarray          # bool [M]: MODEL=fxp only, rows where the two models differ


@dataclass
class Prepared:
    """What the driver needs to send an item: the model's answer (CHECK=harness) and the block's
    files. Driver.prepare makes it; a sequence may make it ahead (tb/offload.ahead)."""
    prediction: Prediction | None
    files: BlockFiles


@dataclass
class Sent:
    """The part of a driven item that the DUT accepted (a reset can cut a block short)."""
    item: VectorBlock
    accepted: int
    prediction: Prediction | None = None   # CHECK=harness: the model on the whole block


@dataclass
class FlowInfo:
    """Per-block flow-control facts for coverage and reports."""
    vectors: int
    accepted: int
    aborted: bool
    gap_mode: str
    ready_kind: str
    stall_out: int          # cycles out_valid was held against out_ready low, during the block
    stall_in: int           # cycles in_valid was held against in_ready low (DUT backpressure)
    saturated: int          # quantisation saturations in the block (QuantReport)


class Driver(uvm_driver):
    """Drives each item through the BFM. It publishes what was accepted (sent_ap) before it
    collects the recorders (the scoreboard pairs the two in order whichever arrives first), and
    the block's flow facts (flow_ap), with the ready-pattern kind it hears on ready_kind_imp.
    With CHECK=harness it asks `predict` (the scoreboard's reference model, set by the env) for
    the block's expected outputs, which go to the harness with the stimulus."""

    def build_phase(self):
        self.bfm: SoftmaxBfm = ConfigDB().get(self, "", "BFM")
        self.sent_ap = uvm_analysis_port("sent_ap", self)
        self.flow_ap = uvm_analysis_port("flow_ap", self)
        self.ready_kind_imp = uvm_subscriber.uvm_AnalysisImp("ready_kind_imp", self, self.set_ready_kind)
        self.ready_kind = "always"
        self.predict: Callable | None = None

    def set_ready_kind(self, kind: str) -> None:
        self.ready_kind = kind

    def prepare(self, item: VectorBlock) -> VectorBlock:
        """The item with its Prepared (pure: sequences run it ahead in another process)."""
        pred = self.predict(item.codes, item.mask) if self.bfm.check == "harness" else None
        files = self.bfm.encode_block(item.codes, item.mask, item.gaps, None if pred is None else (pred.y, pred.argmax))
        item.prepared = Prepared(pred, files)
        return item

    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            if self.bfm.stopped is None:    # after a protocol failure the rest is not driven
                await self.drive(item)
            self.seq_item_port.item_done()

    async def drive(self, item: VectorBlock) -> None:
        prep = item.prepared or self.prepare(item).prepared
        item.prepared = None                # sent: the files need not travel further
        before = self.bfm.stall_counters()
        try:
            accepted, aborted = await self.bfm.drive_block(prep.files)
        except BfmError as e:
            # the DUT stopped taking inputs: what it took is published and judged as usual; the
            # test reports the failure at its end (SmxTest.run_phase)
            self.bfm.stopped = str(e)
            accepted, aborted = self.bfm.block_accepted(), False
        after = self.bfm.stall_counters()
        self.sent_ap.write(Sent(item, accepted, prep.prediction))
        self.flow_ap.write(FlowInfo(
            vectors=len(item), accepted=accepted, aborted=aborted, gap_mode=item.gap_mode,
            ready_kind=self.ready_kind,
            stall_out=after[1] - before[1], stall_in=after[0] - before[0],
            saturated=item.quant.saturated))
        self.bfm.collect()


class ReadyGenerator(uvm_component):
    """Output-side backpressure: before each block it loads a new out_ready pattern of a kind
    drawn from its policy (ConfigDB "READY_KINDS": a tuple of READY_KINDS names), and says which
    on kind_ap."""

    def build_phase(self):
        self.bfm: SoftmaxBfm = ConfigDB().get(self, "", "BFM")
        self.kinds = tuple(ConfigDB().get(self, "", "READY_KINDS"))
        seed = ConfigDB().get(self, "", "SEED")
        bad = [k for k in self.kinds if k not in READY_KINDS]
        if bad or not self.kinds:
            raise ValueError(f"unknown ready pattern kinds {bad}; known: {', '.join(READY_KINDS)}")
        self.rng = np.random.default_rng([seed, 0x5EAD])
        self.kind_ap = uvm_analysis_port("kind_ap", self)
        self._queue: list[str] = []

    def connect_phase(self):
        self.bfm.block_listeners.append(self.next_block)

    def pattern(self, kind: str) -> np.ndarray:
        rng, n = self.rng, READY_DEPTH
        if kind == "always":
            return np.ones(1, np.uint8)
        if kind == "random":
            p = rng.uniform(0.3, 0.9)
            bits = rng.random(n) < p
        elif kind == "sparse":
            bits = rng.random(n) < 0.1
        elif kind == "bursty":
            runs = rng.integers(1, 64, size=n // 8)
            bits = np.repeat(np.arange(len(runs)) % 2 == 0, runs)[:n]
        elif kind == "alternate":
            bits = np.arange(2) == 0
        else:
            raise ValueError(kind)
        bits = np.asarray(bits, np.uint8)
        if not bits.any():
            bits[0] = 1
        return bits

    def next_block(self, _vectors: int) -> None:
        # shuffled round robin: every kind of the policy comes up once per len(kinds) blocks
        if not self._queue:
            self._queue = list(self.rng.permutation(self.kinds))
        kind = str(self._queue.pop())
        self.bfm.set_ready_pattern(self.pattern(kind))
        self.kind_ap.write(kind)


class InMonitor(uvm_component):
    def build_phase(self):
        self.bfm: SoftmaxBfm = ConfigDB().get(self, "", "BFM")
        self.ap = uvm_analysis_port("ap", self)

    def connect_phase(self):
        self.bfm.in_listeners.append(self.observe)

    def observe(self, obs: InObservation) -> None:
        if len(obs.codes) or obs.resets:
            self.ap.write(obs)


class OutMonitor(uvm_component):
    def connect_phase(self):
        self.bfm.out_listeners.append(self.observe)
        self.bfm.check_listeners.append(self.checked_ap.write)

    def build_phase(self):
        self.bfm: SoftmaxBfm = ConfigDB().get(self, "", "BFM")
        self.ap = uvm_analysis_port("ap", self)
        self.checked_ap = uvm_analysis_port("checked_ap", self)    # CHECK=harness: the checker's report

    def observe(self, obs: OutObservation) -> None:
        if len(obs.y) or obs.resets or obs.control_x:
            self.ap.write(obs)


class SoftmaxAgent(uvm_agent):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = Driver("driver", self)
        self.ready_gen = ReadyGenerator("ready_gen", self)
        self.in_mon = InMonitor("in_mon", self)
        self.out_mon = OutMonitor("out_mon", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.ready_gen.kind_ap.connect(self.driver.ready_kind_imp)

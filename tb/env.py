"""The pyuvm environment: agent + scoreboard + coverage collector."""
from __future__ import annotations

from pyuvm import ConfigDB, uvm_component, uvm_env, uvm_subscriber

from .agent import FlowInfo, SoftmaxAgent
from .coverage import coverage_model
from .scoreboard import Scoreboard


class CoverageCollector(uvm_component):
    """Feeds the process-wide coverage model from the scoreboard's predictions (observed inputs
    with the model's intermediate values), the driver's flow facts and reset events."""

    def build_phase(self):
        self.model = coverage_model(ConfigDB().get(self, "", "CFG"))
        off = ConfigDB().get(self, "", "OFFLOAD")     # judged with the scoreboard (tb/offload.py)
        off.register(self)
        self.pred_imp = uvm_subscriber.uvm_AnalysisImp("pred_imp", self, self.write_pred)
        self.flow_imp = uvm_subscriber.uvm_AnalysisImp("flow_imp", self, lambda f: off.run(self.write_flow, f))
        self.reset_imp = uvm_subscriber.uvm_AnalysisImp("reset_imp", self, self.model.sample_reset)

    def write_pred(self, t) -> None:
        codes, mask, res = t
        self.model.sample_block(codes, mask, res)

    def write_flow(self, f: FlowInfo) -> None:
        self.model.sample_flow(f.ready_kind, f.gap_mode, f.stall_out, f.stall_in, f.aborted, f.saturated)

    # ---- in the checking process, the hits are counted, then added here at the end (tb/offload.py)
    def offload_child(self) -> None:
        self.model.recording = {}

    def offload_state(self) -> dict:
        return self.model.recording

    def offload_merge(self, counts: dict) -> None:
        for rel, c in counts.items():
            self.model.add(rel, c)


class SoftmaxEnv(uvm_env):
    def build_phase(self):
        self.agent = SoftmaxAgent("agent", self)
        self.scoreboard = Scoreboard("scoreboard", self)
        self.coverage = CoverageCollector("coverage", self)

    def connect_phase(self):
        a, sb, cov = self.agent, self.scoreboard, self.coverage
        a.in_mon.ap.connect(sb.in_imp)
        a.out_mon.ap.connect(sb.out_imp)
        a.out_mon.checked_ap.connect(sb.checked_imp)
        a.driver.sent_ap.connect(sb.sent_imp)
        a.driver.predict = sb.predict
        a.driver.flow_ap.connect(cov.flow_imp)
        sb.pred_ap.connect(cov.pred_imp)
        sb.reset_ap.connect(cov.reset_imp)

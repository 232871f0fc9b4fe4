"""Scoreboard: checks what the monitors saw against the bit-accurate model and the float references.

Checks (each failure is counted, the first few are printed in full with a rerun command):
  1. bit-exact: every lane of out_data and out_argmax equal models.datapath.run_model on the
     *observed* inputs;
  2. argmax: out_argmax equals the argmax of softmax of the quantised inputs on every vector
     with a live lane; the argmax read off the output values (lowest index among the largest)
     too where cfg.value_argmax_exact (reported otherwise); agreement with softmax of the
     unquantised floats is reported, quantisation-tie disagreements separately;
  3. MSE against models.reference.ideal on the quantised inputs: per vector <=
     cfg.mse_vs_ideal_vector_max, mean over the run <= cfg.mse_vs_ideal_mean_max;
  4. accounting: one output per accepted input, in order, after it (cycle stamps); outputs in
     a reset epoch belong to that epoch's inputs (inputs in flight at a reset may be lost, never
     replayed); no X/Z on outputs; nothing pending at the end; at least one vector checked.

The driver's items (float logits, provenance) arrive on a separate port. They are paired with
the observed inputs in order, and only used after checking that the driven codes are exactly
the observed ones: they feed the float-based reports, never the expected values.

With CHECK=harness the comparison of check 1 runs in the harness (tb/protocol.py): the driver
asks `predict` for the expected outputs before it drives a block, the accepted vectors are taken
from the driver's items (the harness presents exactly those), and the harness reports which
inputs are resolved and the outputs that differed. Every other check runs here as above, on
the outputs: the expected words where the harness found them equal, the logged ones elsewhere.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from pyuvm import ConfigDB, uvm_analysis_port, uvm_component, uvm_subscriber

from models.config import SoftmaxConfig
from models.datapath import run_model
from models.fxp_reference import run_reference
from models.reference import argmax_agreement, first_argmax, ideal, softmax, vector_errors

from .agent import Prediction, Sent
from .align import align
from .bfm import CheckedObservation, InObservation, OutObservation
from .offload import Offload

MAX_DETAILS = 8


class CheckError(AssertionError):
    pass


class _Fifo:
    """Row-wise FIFO of equally long numpy arrays (one dict of columns)."""

    def __init__(self):
        self.cols: dict[str, np.ndarray] | None = None

    def __len__(self):
        return 0 if self.cols is None else len(next(iter(self.cols.values())))

    def push(self, cols: dict[str, np.ndarray]) -> None:
        if not len(next(iter(cols.values()))):
            return
        self.cols = dict(cols) if self.cols is None else {k: np.concatenate([v, cols[k]]) for k, v in self.cols.items()}

    def pop(self, k: int) -> dict[str, np.ndarray]:
        head = {c: v[:k] for c, v in self.cols.items()}
        self.cols = {c: v[k:] for c, v in self.cols.items()}
        return head

    def col(self, name: str) -> np.ndarray:
        return self.cols[name]


class Scoreboard(uvm_component):
    def build_phase(self):
        self.cfg: SoftmaxConfig = ConfigDB().get(self, "", "CFG")
        self.seed: int = ConfigDB().get(self, "", "SEED")
        self.rerun: str = ConfigDB().get(self, "", "RERUN")
        self.model: str = ConfigDB().get(self, "", "MODEL")
        off: Offload = ConfigDB().get(self, "", "OFFLOAD")    # CHECK=harness: judged beside the simulator
        self.in_imp = uvm_subscriber.uvm_AnalysisImp("in_imp", self, self.write_in)
        self.out_imp = uvm_subscriber.uvm_AnalysisImp("out_imp", self, self.write_out)
        self.sent_imp = uvm_subscriber.uvm_AnalysisImp("sent_imp", self, lambda s: off.run(self.write_sent, s))
        self.checked_imp = uvm_subscriber.uvm_AnalysisImp("checked_imp", self,
                                                          lambda o: off.run(self.write_checked, o))
        self.pred_ap = uvm_analysis_port("pred_ap", self)        # (codes, mask, ModelResult)
        self.reset_ap = uvm_analysis_port("reset_ap", self)      # inputs lost in flight at a reset
        off.register(self)
        self._quiet = False            # in the checking process: the parent logs the details
        # the judging state: everything assigned from here to the end of build_phase, which the
        # checking process hands back to this object at the end (offload_state / offload_merge)
        before = set(vars(self))
        self.ins, self.outs, self.sent, self.observed = _Fifo(), _Fifo(), _Fifo(), _Fifo()
        self._prev = None              # (y, argmax) expected of the input paired last
        self.sources: list[str] = []
        self.errors: dict[str, int] = defaultdict(int)
        self.details: list[str] = []
        self.n_in = self.n_out = self.checked = self.dropped = 0
        self._resolved = 0             # CHECK=harness: inputs judged so far
        self.mismatches = 0
        self.value_argmax_disagree = 0
        self.quant_saturated = 0
        self.acc = defaultdict(_metric_lists)                    # per source: metric -> arrays
        self._state_keys = tuple(sorted(set(vars(self)) - before))

    # ---- CHECK=harness: judged in the checking process (tb/offload.py) -----------------------------
    def offload_child(self) -> None:
        self._quiet = True

    def offload_state(self) -> dict:
        return {k: getattr(self, k) for k in self._state_keys}

    def offload_merge(self, state: dict) -> None:
        known = len(self.details)
        for k, v in state.items():
            setattr(self, k, v)
        for msg in self.details[known:]:
            self.logger.error(msg)

    # ---- inputs from the monitors and the driver ------------------------------------------------
    # The driver's items and the input monitor's observations are paired in order, whichever
    # arrives first; what is left unpaired at the end is an error of its own (finish).
    def write_sent(self, s: Sent) -> None:
        it, k = s.item, s.accepted
        if it.source not in self.sources:
            self.sources.append(it.source)
        sid = self.sources.index(it.source)
        self.quant_saturated += it.quant.saturated
        self.acc[sid]["saturated"].append(it.quant.saturated)       # reported per dump, never dropped
        self.acc[sid]["rows_saturated"].append(it.quant.rows_saturated)
        sent = {"x": it.x[:k], "codes": it.codes[:k], "mask": it.mask[:k],
                "src": np.full(k, sid), "row": it.rows[:k], "kind": np.asarray(it.kinds[:k], object)}
        if s.prediction is None:
            self.sent.push(sent)
            self._pair_inputs()
            return
        # CHECK=harness: the accepted vectors are the block's first k; inputs numbered in order
        res, ey, eam, split = s.prediction
        self._model_split(split)
        self.pred_ap.write((sent["codes"], sent["mask"], res.head(k)))
        self.ins.push({**sent, "seq": self.n_in + np.arange(k), "epoch": np.full(k, -1), "cycle": np.full(k, -1),
                       "ey": ey[:k], "eam": eam[:k]})
        self.n_in += k

    def predict(self, codes: np.ndarray, mask: np.ndarray) -> Prediction:
        """The reference model chosen by MODEL on a block. Pure (the driver calls it): with
        MODEL=fxp the rows where models.datapath and models.fxp_reference disagree are returned,
        to be counted (_model_split)."""
        res = run_model(self.cfg, codes, mask)
        if self.model != "fxp":
            return Prediction(res, res.y, res.argmax, np.zeros(len(codes), bool))
        ey, eam = run_reference(self.cfg, codes, mask)
        return Prediction(res, ey, eam, (ey != res.y).any(axis=1) | (eam != res.argmax))

    def _model_split(self, split: np.ndarray) -> None:
        if split.any():
            self._error("model_disagreement", "models.datapath and models.fxp_reference differ "
                                              f"(first at vector {int(np.argmax(split))} of a block)", int(split.sum()))

    def write_in(self, obs: InObservation) -> None:
        m = len(obs.codes)
        if not m:
            return
        self.n_in += m
        if obs.unknown.any():
            r = int(np.flatnonzero(obs.unknown.any(axis=1))[0])
            self._error("input_x", f"X/Z on the input bus at cycle {int(obs.cycle[r])} (harness fault)")
        self.observed.push({"epoch": obs.epoch, "cycle": obs.cycle, "codes": obs.codes, "mask": obs.mask})
        self._pair_inputs()

    def _pair_inputs(self) -> None:
        """Observed inputs with the driver's items: they must be exactly what crossed the ports."""
        k = min(len(self.sent), len(self.observed))
        if not k:
            return
        sent, obs = self.sent.pop(k), self.observed.pop(k)
        differs = (sent["codes"] != obs["codes"]).any(1) | (sent["mask"] != obs["mask"]).any(1)
        if differs.any():
            r = int(np.flatnonzero(differs)[0])
            self._error("input_differs", f"the input monitor saw different data than the driver sent "
                                         f"({int(differs.sum())} vector(s), first at cycle {int(obs['cycle'][r])})",
                        int(differs.sum()))
        res, ey, eam, split = self.predict(obs["codes"], obs["mask"])
        self._model_split(split)
        self.pred_ap.write((obs["codes"], obs["mask"], res))
        self.ins.push({**obs, "ey": ey, "eam": eam, "x": sent["x"], "src": sent["src"],
                       "row": sent["row"], "kind": sent["kind"]})
        self._match()

    def write_out(self, obs: OutObservation) -> None:
        for cyc, line in obs.control_x:
            self._error("control_x", f"X/Z on in_ready/out_valid after reset at cycle {cyc}: {line!r}")
        m = len(obs.y)
        if m:
            self.n_out += m
            self.outs.push({"epoch": obs.epoch, "cycle": obs.cycle, "y": obs.y, "am": obs.argmax,
                            "unk": obs.unknown.any(axis=1) | obs.argmax_unknown | obs.handshake_unknown})
        self._match()

    def write_checked(self, obs: CheckedObservation) -> None:
        """CHECK=harness: the inputs the harness resolved since the last read are judged, with
        the outputs it logged as different in place of their expected words."""
        for cyc, line in obs.control_x:
            self._error("control_x", f"X/Z on in_ready/out_valid after reset at cycle {cyc}: {line!r}")
        for cyc in obs.overflows:
            self._error("inflight_overflow", f"more inputs in flight than the harness's checker holds "
                                             f"(tb/protocol.FIFO_DEPTH) at cycle {cyc}: outputs stopped?")
        if obs.accepted != self.n_in:
            self._error("input_accounting", f"the harness accepted {obs.accepted} input(s), the driver "
                                            f"reported {self.n_in}")
        if obs.unexpected.any():
            k = int(obs.unexpected.sum())
            self._error("unexpected_output", f"{k} output(s) with no accepted input in flight (first at "
                                             f"cycle {int(obs.cycle[obs.unexpected][0])})", k)
        self.n_out += obs.resolved - self._resolved - sum(c for _, c, _ in obs.drops) + int(obs.unexpected.sum())
        k = obs.resolved - self._resolved
        if k <= 0:
            return
        if k > len(self.ins):
            self._error("input_accounting", f"the harness resolved {k} input(s), {len(self.ins)} were pending")
            k = len(self.ins)
        ins = self.ins.pop(k)
        seq0 = self._resolved
        self._resolved += k
        y, am = ins["ey"].copy(), ins["eam"].copy()
        unk, cyc = np.zeros(k, bool), np.full(k, -1, np.int64)
        hit = ~obs.unexpected
        r = obs.seq[hit] - seq0
        if ((r < 0) | (r >= k)).any():
            self._error("harness_protocol", "the harness reported a mismatch for an input outside the "
                                            "ones it resolved in this read")
            r, hit = r[(r >= 0) & (r < k)], hit & (obs.seq - seq0 >= 0) & (obs.seq - seq0 < k)
        y[r], am[r], cyc[r] = obs.y[hit], obs.argmax[hit], obs.cycle[hit]
        unk[r] = obs.unknown[hit].any(axis=1) | obs.argmax_unknown[hit] | obs.handshake_unknown[hit]
        ins["cycle"][r] = obs.in_cycle[hit]
        live = np.ones(k, bool)
        for first, count, _ in obs.drops:
            a, b = max(first - seq0, 0), min(first - seq0 + count, k)
            live[a:b] = False
        dropped = int((~live).sum())
        if dropped:
            self.dropped += dropped
            self.reset_ap.write(dropped)
        if live.all():                 # no drop: no gather of every column
            self._check(ins, {"cycle": cyc, "y": y, "am": am, "unk": unk})
        elif live.any():
            self._check({c: v[live] for c, v in ins.items()},
                        {"cycle": cyc[live], "y": y[live], "am": am[live], "unk": unk[live]})

    # ---- matching ---------------------------------------------------------------------------------
    def _match(self, final: bool = False) -> None:
        while len(self.outs) and len(self.ins):
            ie, oe = self.ins.col("epoch"), self.outs.col("epoch")
            ei, eo = int(ie[0]), int(oe[0])
            if ei < eo:        # inputs whose outputs a reset swallowed: allowed, counted
                k = _run_length(ie)
                self.ins.pop(k)
                self.dropped += k
                self.reset_ap.write(k)
                continue
            if eo < ei:        # outputs with no input of their epoch
                k = _run_length(oe)
                out = self.outs.pop(k)
                self._error("unexpected_output", f"{k} output(s) with no accepted input before them in "
                                                 f"their reset epoch (first at cycle {int(out['cycle'][0])})", k)
                continue
            # the same epoch: later inputs or outputs (another epoch) close it for the aligner
            ki, ko = _run_length(ie), _run_length(oe)
            closed = final or ki < len(ie) or ko < len(oe)
            i, o = self.ins.cols, self.outs.cols
            ops, ci, co = align(i["ey"][:ki], i["eam"][:ki], o["y"][:ko], o["am"][:ko], o["unk"][:ko],
                                final=closed, prev=self._prev)
            for op in ops:
                self._apply(op)
            if not (ci or co) or (not closed and (ci < ki and co < ko)):
                return                      # waiting for more of the flow

    def _apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == "pair":
            ins, outs = self.ins.pop(op[3]), self.outs.pop(op[3])
            self._check(ins, outs)
            self._prev = (ins["ey"][-1], int(ins["eam"][-1]))
        elif kind == "missing":
            ins = self.ins.pop(op[2])
            self._error("missing_output", f"{op[2]} accepted input(s) produced no output; the outputs "
                                          f"continue with the next input", op[2], self._input_detail(ins, 0))
        elif kind == "duplicate":
            out = self.outs.pop(1)
            self._error("duplicated_output", f"an output repeats the previous input's output "
                                              f"(at cycle {int(out['cycle'][0])})", 1)
        elif kind == "swap":
            ins, outs = self.ins.pop(2), self.outs.pop(2)
            self._error("reordered_output", f"two outputs came in the wrong order (cycles "
                                             f"{int(outs['cycle'][0])}, {int(outs['cycle'][1])})", 1,
                        self._input_detail(ins, 0))
            swapped = {c: v[::-1] for c, v in outs.items()}
            self._check(ins, swapped)
            self._prev = (ins["ey"][-1], int(ins["eam"][-1]))

    def _input_detail(self, i: dict, r: int) -> str:
        n = self.cfg.n
        codes = i["codes"][r]
        shown = ", ".join(str(int(c)) for c in codes[:16]) + (", ..." if n > 16 else "")
        return (f"  input: {self._origin(i, r)}, accepted at cycle {_known(i['cycle'][r])} "
                f"(reset epoch {_known(i['epoch'][r])})\n  input codes [{shown}]\n  rerun: {self.rerun}")

    def _origin(self, i: dict, r: int) -> str:
        """Where a vector came from: the dump and its row, or the generator and its corner."""
        sid = int(i["src"][r])
        src = self.sources[sid] if 0 <= sid < len(self.sources) else "<unknown>"
        row = int(i["row"][r]) if i["row"] is not None and len(i["row"]) > r else -1
        return f"{src} row {row}" if row >= 0 else f"{src}, {i['kind'][r]}"

    def _check(self, i: dict, o: dict) -> None:
        cfg = self.cfg
        k = len(i["codes"])
        self.checked += k
        live = i["mask"].any(axis=1)
        data_bad = (o["y"] != i["ey"]).any(axis=1)
        am_bad = o["am"] != i["eam"]
        # CHECK=harness knows the cycles of the mismatching outputs only (-1 elsewhere); its
        # checker never pairs an output with an input accepted at the same edge or later
        early = (o["cycle"] >= 0) & (o["cycle"] <= i["cycle"])
        bad = data_bad | am_bad | o["unk"] | early
        q_arg = first_argmax(i["codes"], i["mask"])
        q_bad = live & (o["am"] != q_arg)
        v_arg = first_argmax(o["y"], i["mask"])
        v_bad = live & (v_arg != q_arg)
        ref = ideal(cfg, i["codes"] * 2.0 ** -cfg.in_frac_bits, i["mask"])
        mse, max_abs = vector_errors(o["y"] / cfg.one, ref, i["mask"])
        mse_bad = mse > cfg.mse_vs_ideal_vector_max

        self.mismatches += int(bad.sum())
        for name, rows, what in (
                ("x_on_output", o["unk"], "X/Z on out_data/out_argmax or on the handshake"),
                ("output_before_input", early, "output handshake not after its input's"),
                ("data_mismatch", data_bad, "out_data differs from the model"),
                ("argmax_mismatch", am_bad, "out_argmax differs from the model"),
                ("argmax_vs_softmax_quantized", q_bad, "out_argmax differs from argmax(softmax(quantised inputs))"),
                ("mse_vector_bound", mse_bad, f"MSE vs ideal above {cfg.mse_vs_ideal_vector_max:g}")):
            if rows.any():
                self._error(name, what, int(rows.sum()), self._detail(i, o, int(np.flatnonzero(rows)[0]), what,
                                                                     mse))
        if v_bad.any():
            if cfg.value_argmax_exact:
                self._error("value_argmax", "argmax of the output values differs from the quantised inputs' argmax",
                            int(v_bad.sum()), self._detail(i, o, int(np.flatnonzero(v_bad)[0]), "value argmax", mse))
            else:
                self.value_argmax_disagree += int(v_bad.sum())

        # reports, per source (dump or generator)
        x = i["x"]
        has_x = ~np.isnan(x).any(axis=1)
        for sid in np.unique(i["src"]):
            sel = i["src"] == sid
            a = self.acc[int(sid)]
            a["mse"].append(mse[sel])
            a["max_abs"].append(max_abs[sel])
            a["live"].append(live[sel])
            a["value_ok"].append(~v_bad[sel])
            sx = sel & has_x
            if sx.any():
                pick = (lambda v: v) if sx.all() else (lambda v: v[sx])    # noqa: E731  (no copies for one source)
                mk = pick(i["mask"])
                ag = argmax_agreement(pick(o["am"]), pick(i["codes"]), pick(x), mk, q_arg=pick(q_arg))
                a["agree"].append(np.array([ag.vectors, ag.vs_quantized, ag.vs_float,
                                            ag.float_tie_disagreements, ag.float_other_disagreements]))
                a["mse_softmax_float"].append(vector_errors(pick(o["y"]) / cfg.one, softmax(pick(x), mk), mk)[0])

    def _detail(self, i, o, r, what, mse) -> str:
        cfg = self.cfg
        n = cfg.n
        lanes = np.flatnonzero(i["mask"][r] & (o["y"][r] != i["ey"][r]))
        show = np.arange(n) if n <= 16 else np.unique(np.concatenate([np.arange(8), lanes[:8]]))
        fmt = lambda a: "[" + ", ".join(f"{int(j)}:{int(a[j])}" for j in show) + (", ...]" if len(show) < n else "]")  # noqa: E731
        xs = i["x"][r]
        return "\n".join([
            f"  input: {self._origin(i, r)}",
            f"  {what}: vector at cycle {_known(i['cycle'][r])} -> output at cycle {_known(o['cycle'][r])} "
            f"(reset epoch {_known(i['epoch'][r])}); seed {self.seed}",
            f"  input codes  (lane:code) {fmt(i['codes'][r])}",
            f"  mask         {''.join('1' if b else '0' for b in i['mask'][r][:64])}{'...' if n > 64 else ''}",
            *([f"  input floats {np.array2string(xs[show], precision=4, max_line_width=200)}"] if not np.isnan(xs).any() else []),
            f"  expected y   {fmt(i['ey'][r])}  argmax {int(i['eam'][r])}",
            f"  got      y   {fmt(o['y'][r])}  argmax {int(o['am'][r])}",
            f"  lanes differing: {lanes[:16].tolist()}{' ...' if len(lanes) > 16 else ''}; MSE vs ideal {mse[r]:.3g}",
            f"  rerun: {self.rerun}"])

    def _error(self, kind: str, what: str, count: int = 1, detail: str = "") -> None:
        self.errors[kind] += count
        if len(self.details) < MAX_DETAILS:
            msg = f"[{kind}] {what} ({count} vector(s) in this read)" + (f"\n{detail}" if detail else "")
            self.details.append(msg)
            if not self._quiet:
                self.logger.error(msg)

    # ---- end of test ------------------------------------------------------------------------------
    def protocol_error(self, what: str) -> None:
        self._error("protocol_timeout", what)

    def finish(self, final_epoch: int) -> None:
        """Called after the drain: whatever is left is an error (or lost to a reset)."""
        self._match(final=True)
        if len(self.outs):
            self._error("unexpected_output", f"{len(self.outs)} output(s) with no accepted input "
                                             f"(first at cycle {int(self.outs.col('cycle')[0])})", len(self.outs))
            self.outs.pop(len(self.outs))
        if len(self.ins):
            ep = self.ins.col("epoch")
            old = int(((ep >= 0) & (ep < final_epoch)).sum())     # CHECK=harness resolved its drops
            self.dropped += old
            if old:
                self.reset_ap.write(old)
            if len(ep) - old:
                self._error("missing_output", f"{len(ep) - old} accepted input(s) never produced an output",
                            len(ep) - old, self._input_detail(self.ins.cols, old))
            self.ins.pop(len(self.ins))
        if len(self.observed):
            self._error("input_unsent", f"{len(self.observed)} input handshake(s) the driver never sent "
                                        f"(first at cycle {int(self.observed.col('cycle')[0])})", len(self.observed))
        if len(self.sent):
            self._error("input_unobserved", f"{len(self.sent)} vector(s) the driver reported accepted "
                                            f"were never seen by the input monitor", len(self.sent))
        if self.checked == 0:
            self._error("no_traffic", "no vector was checked")
        mse = self.results()["mse_mean"]
        if mse is not None and mse > self.cfg.mse_vs_ideal_mean_max:
            self._error("mse_mean_bound", f"mean MSE vs ideal {mse:.3g} above {self.cfg.mse_vs_ideal_mean_max:g}")

    def results(self) -> dict:
        cfg = self.cfg
        per_source, all_mse, agree_tot = {}, [], np.zeros(5, np.int64)
        for sid, a in self.acc.items():
            mse = np.concatenate(a["mse"]) if a["mse"] else np.zeros(0)
            live = np.concatenate(a["live"]) if a["live"] else np.zeros(0, bool)
            ag = np.sum(a["agree"], axis=0) if a["agree"] else np.zeros(5, np.int64)
            agree_tot += ag
            all_mse.append(mse[live])
            msf = np.concatenate(a["mse_softmax_float"]) if a["mse_softmax_float"] else np.zeros(0)
            vok = np.concatenate(a["value_ok"])
            per_source[self.sources[sid] if sid >= 0 else "<unknown>"] = {
                "vectors": int(len(mse)),
                "argmax_agreement_quantized": _rate(ag[1], ag[0]),
                "argmax_agreement_float": _rate(ag[2], ag[0]),
                "float_disagreements_quantisation_ties": int(ag[3]),
                "float_disagreements_other": int(ag[4]),
                "value_argmax_agreement": _rate(int(vok[live].sum()), int(live.sum())),
                "mse_vs_ideal": _dist(mse[live]),
                "mse_vs_softmax_float": _dist(msf),
                "quantisation_saturated_values": int(sum(a["saturated"])),
                "quantisation_saturated_rows": int(sum(a["rows_saturated"])),
            }
        mse = np.concatenate(all_mse) if all_mse else np.zeros(0)
        return {
            "vectors": int(self.checked), "inputs_observed": int(self.n_in), "outputs_observed": int(self.n_out),
            "dropped_by_reset": int(self.dropped), "mismatches": int(self.mismatches),
            "errors": dict(self.errors), "error_details": self.details,
            "argmax_agreement_quantized": _rate(agree_tot[1], agree_tot[0]),
            "argmax_agreement_float": _rate(agree_tot[2], agree_tot[0]),
            "float_disagreements_quantisation_ties": int(agree_tot[3]),
            "float_disagreements_other": int(agree_tot[4]),
            "value_argmax_exact": bool(cfg.value_argmax_exact),
            "value_argmax_disagreements_reported": int(self.value_argmax_disagree),
            "mse_mean": float(mse.mean()) if mse.size else None,
            "mse_max": float(mse.max()) if mse.size else None,
            "mse_bounds": {"vector": cfg.mse_vs_ideal_vector_max, "mean": cfg.mse_vs_ideal_mean_max},
            "quantisation_saturated_values": int(self.quant_saturated),
            "per_source": per_source,
        }

    def check_phase(self):
        if self.errors:
            raise CheckError(f"scoreboard: {sum(self.errors.values())} error(s) {dict(self.errors)}; "
                             f"seed {self.seed}; rerun: {self.rerun}")


def _metric_lists() -> defaultdict:
    return defaultdict(list)       # a named factory: the state pickles (tb/offload.py)


def _known(v) -> str:
    """A cycle or epoch; -1: not recorded (CHECK=harness logs them for mismatching outputs only)."""
    return str(int(v)) if v >= 0 else "? (CHECK=harness: matched output)"


def _run_length(a: np.ndarray) -> int:
    """Length of the run of equal values at the head of a."""
    diff = a != a[0]
    return int(np.argmax(diff)) if diff.any() else len(a)


def _rate(num, den):
    return float(num) / float(den) if den else None


def _dist(a: np.ndarray) -> dict:
    if not a.size:
        return {"n": 0}
    q = np.percentile(a, [50, 90, 99])
    return {"n": int(a.size), "mean": float(a.mean()), "p50": float(q[0]), "p90": float(q[1]),
            "p99": float(q[2]), "max": float(a.max())}

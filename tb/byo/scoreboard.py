"""Judges one test's recording (tb.byo.cocotb_tests) against the design file's claims.

1. Alignment, per reset epoch, in order: each output is paired with the oldest pending input
   it fits (bit-exact: equal to the model; tolerance: within max_abs_error and the right
   decision). An output that fits a later input (within `lookahead`) skips the inputs between:
   each is one `missing_output`, and pairing resumes after it (no flood of mismatches). An
   output fitting a skipped input is `reordered_output`, one fitting an input already paired
   `duplicated_output`, one fitting nothing with no input left `unexpected_output`. Outputs
   with X/Z lanes (`output_x`) or the wrong number of beats (`frame_length`) take the oldest
   pending input without a value check. Inputs still pending when a reset comes are lost at
   the reset (allowed, counted); pending at the end: one `missing_output` each, or one
   `protocol_timeout` naming the output valid signal when the unit stopped with several.
2. Bit-exact mode (a model is given): every lane and the argmax port equal the model
   (`mismatch`, summarised per lane with the typical difference).
3. Both modes, on the paired outputs: the decision (argmax port, else the lowest lane holding
   the largest output) is a lane holding the largest live input code (ties accepted for any
   tied lane, counted apart) (`argmax_mismatch`); per-vector max |error| and MSE against the
   float reference of the quantised inputs (softmax, or eq. 18 exp(z - max) for decision
   units) (`max_abs_error`, `mse_vector`); the run's mean MSE (`mse_mean`); |sum - 1| where
   probabilities are claimed (`sum_error`).
"""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from models.reference import softmax, vector_metrics

from .design import Design

MAX_DETAILS = 6


def reference(d: Design, codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Float reference on the quantised inputs: softmax, or eq. 18 (softmax / its max = exp(z - zmax))."""
    p = softmax(codes * d.fmt_in.lsb, mask)
    if d.claims == "probabilities":
        return p
    top = p.max(axis=1, keepdims=True)
    return np.divide(p, top, out=np.zeros_like(p), where=top > 0)


class Judge:
    def __init__(self, d: Design, model, obs: dict, events: list[dict], test: str):
        self.d, self.test, self.events = d, test, events
        self.o = obs
        self.errors: Counter = Counter()
        self.details: dict[str, list[str]] = defaultdict(list)
        self.info: dict = {}
        ic, im = obs["in_codes"], obs["in_mask"]
        self.ref = reference(d, ic, im)
        self.ey = self.eam = None
        if model is not None:
            self.ey, self.eam = model(ic, im)
        live_max = np.where(im, ic, np.iinfo(np.int64).min).max(axis=1, keepdims=True)
        self.is_max = im & (ic == live_max)                  # lanes holding the max live code
        self.y = obs["out_codes"] * d.fmt_out.lsb

    # ---- reporting ----------------------------------------------------------------------------
    def error(self, kind: str, msg: str, count: int = 1) -> None:
        self.errors[kind] += count
        if len(self.details[kind]) < MAX_DETAILS:
            self.details[kind].append(msg)

    def vec(self, i: int) -> str:
        o = self.o
        live = "" if o["in_mask"][i].all() else f", mask {o['in_mask'][i].astype(int).tolist()}"
        return f"input #{i} (accepted at cycle {int(o['in_cycle'][i])}, codes {o['in_codes'][i].tolist()}{live})"

    # ---- fitting outputs to inputs (vectorised over pairs) ----------------------------------------
    def decided(self, js: np.ndarray, is_: np.ndarray) -> np.ndarray:
        """The unit's decision for outputs js of inputs is_: its argmax port, else the lowest
        live lane holding the largest output."""
        if "out_argmax" in self.d.ports:
            return self.o["out_argmax"][js]
        return np.where(self.o["in_mask"][is_], self.o["out_codes"][js], np.iinfo(np.int64).min).argmax(axis=1)

    def decision_ok(self, js: np.ndarray, is_: np.ndarray) -> np.ndarray:
        k = self.decided(js, is_)
        inside = (k >= 0) & (k < self.d.lanes)
        hit = self.is_max[is_, np.clip(k, 0, self.d.lanes - 1)] & inside
        return hit | ~self.o["in_mask"][is_].any(axis=1) | (not self.d.bounds.argmax)

    def fits_many(self, js, is_) -> np.ndarray:
        js, is_ = np.asarray(js, np.int64), np.asarray(is_, np.int64)
        if self.ey is not None:
            ok = (self.o["out_codes"][js] == self.ey[is_]).all(axis=1)
            if "out_argmax" in self.d.ports:
                ok &= self.o["out_argmax"][js] == self.eam[is_]
            return ok
        err = np.where(self.o["in_mask"][is_], np.abs(self.y[js] - self.ref[is_]), 0.0).max(axis=1)
        return (err <= self.d.bounds.max_abs_error) & self.decision_ok(js, is_)

    def fits(self, j: int, i: int) -> bool:
        return bool(self.fits_many([j], [i])[0])

    def in_step(self, outs: list[int], jp: int, ins: list[int], h: int) -> int:
        """How many outputs from outs[jp] pair one to one with the inputs from ins[h] (the
        common case, checked in bulk): well-formed and fitting. The window starts small and
        doubles while everything fits, so a run of bad outputs costs little each."""
        run, window = 0, 8
        while True:
            window = min(2 * window, 4096)
            k = min(window, len(outs) - jp - run, len(ins) - h - run)
            if k <= 0:
                return run
            js = np.asarray(outs[jp + run:jp + run + k])
            good = self.fits_many(js, ins[h + run:h + run + k]) & (self.o["out_beats"][js] == self.d.beats) \
                & ~self.o["out_x"][js].any(axis=1) & ~self.o["out_argmax_x"][js]
            lead = k if good.all() else int(np.argmin(good))
            run += lead
            if lead < k:
                return run

    def wrong_run(self, outs: list[int], jp: int, ins: list[int], h: int, window: int = 256) -> int:
        """How many outputs from outs[jp] fit neither their positional input ins[h + w] nor any
        input within `lookahead` before or after it, and are well formed: wrong values, not a
        misalignment. Checked in bulk (shifted diagonals), so a unit that gets every vector
        wrong is judged quickly."""
        look = self.d.lookahead
        k = min(window, len(outs) - jp, len(ins) - h)
        if k <= 0:
            return 0
        js = np.asarray(outs[jp:jp + k])
        pos = np.arange(k)
        clean = (self.o["out_beats"][js] == self.d.beats) & ~self.o["out_x"][js].any(axis=1) & ~self.o["out_argmax_x"][js]
        any_fit = np.zeros(k, bool)
        for shift in range(-look, look + 1):
            idx = h + pos + shift
            ok = (idx >= max(h - look, 0)) & (idx < len(ins))   # back: only inputs already answered here
            if ok.any():
                cand = self.ins_arr[np.clip(idx, 0, len(ins) - 1)]
                any_fit |= ok & self.fits_many(js, cand)
        good = clean & ~any_fit
        return k if good.all() else int(np.argmin(good))

    def malformed(self, j: int) -> str | None:
        o = self.o
        if o["out_beats"][j] != self.d.beats:
            return "frame_length"
        if o["out_x"][j].any() or o["out_argmax_x"][j]:
            return "output_x"
        return None

    # ---- 1. alignment -------------------------------------------------------------------------
    def align(self) -> list[tuple[int, int]]:
        o = self.o
        pairs: list[tuple[int, int]] = []
        epochs = sorted(set(o["in_epoch"].tolist()) | set(o["out_epoch"].tolist()))
        last_epoch = max(epochs) if epochs else 0
        self.info["lost_at_reset"] = 0
        for e in epochs:
            ins = np.flatnonzero(o["in_epoch"] == e).tolist()
            outs = np.flatnonzero(o["out_epoch"] == e).tolist()
            pairs += self._align_epoch(ins, outs, final=e == last_epoch)
        return pairs

    def _align_epoch(self, ins: list[int], outs: list[int], final: bool) -> list[tuple[int, int]]:
        o, look = self.o, self.d.lookahead
        self.ins_arr = np.asarray(ins, np.int64)
        pairs, skipped, done = [], [], []
        h = jp = 0                                       # next pending input, next output
        while jp < len(outs):
            run = self.in_step(outs, jp, ins, h)
            if run:
                pairs += zip(ins[h:h + run], outs[jp:jp + run])
                done += ins[h:h + run]
                h, jp = h + run, jp + run
                continue
            wrong = self.wrong_run(outs, jp, ins, h) if not skipped else 0
            if wrong:                    # wrong values, judged against their positional inputs
                pairs += zip(ins[h:h + wrong], outs[jp:jp + wrong])
                done += ins[h:h + wrong]
                h, jp = h + wrong, jp + wrong
                continue
            j = outs[jp]
            jp += 1
            cyc = int(o["out_cycle"][j])
            bad = self.malformed(j)
            if bad:
                what = (f"{int(o['out_beats'][j])} beats instead of {self.d.beats}" if bad == "frame_length"
                        else "X/Z on output lanes " + str(np.flatnonzero(o["out_x"][j]).tolist())
                        + (" and on the argmax" if o["out_argmax_x"][j] else ""))
                if h < len(ins):
                    self.error(bad, f"output at cycle {cyc}: {what}; it was paired with {self.vec(ins[h])}")
                    done.append(ins[h])
                    h += 1
                else:
                    self.error(bad, f"output at cycle {cyc}: {what}, with no input pending")
                continue
            # the head does not fit (in_step): try, in this order, the next inputs (a lost
            # vector), the inputs skipped earlier (reordering), the last answered (duplicates)
            ahead_c, recent = ins[h + 1:h + 1 + look], done[-look:][::-1]
            cands = ahead_c + skipped + recent
            fit = self.fits_many([j] * len(cands), cands) if cands else np.zeros(0, bool)
            hit = np.flatnonzero(fit)
            first = int(hit[0]) if hit.size else None
            if first is not None and first < len(ahead_c):
                ahead = h + 1 + first
                skipped += ins[h:ahead]
                pairs.append((ins[ahead], j)); done.append(ins[ahead]); h = ahead + 1
                continue
            if first is not None and first < len(ahead_c) + len(skipped):
                back = skipped.pop(first - len(ahead_c))
                pairs.append((back, j)); done.append(back)
                self.error("reordered_output", f"output at cycle {cyc} belongs to {self.vec(back)}, "
                                               f"which came out after later inputs' outputs")
                continue
            if first is not None:
                dup = recent[first - len(ahead_c) - len(skipped)]
                self.error("duplicated_output", f"output at cycle {cyc} repeats the output of {self.vec(dup)}")
                continue
            if h < len(ins):          # a wrong output: judged against the oldest pending input
                pairs.append((ins[h], j)); done.append(ins[h]); h += 1
            else:
                self.error("unexpected_output", f"output at cycle {cyc} (codes {o['out_codes'][j].tolist()}) "
                                                f"fits no pending input and none is left")
        for s in skipped:
            nxt = next((p for p in pairs if p[0] > s), None)
            after = f"; outputs resumed with input #{nxt[0]} at cycle {int(o['out_cycle'][nxt[1]])}" if nxt else ""
            self.error("missing_output", f"{self.vec(s)} never came out{after}")
        tail = ins[h:]
        if not final:
            self.info["lost_at_reset"] += len(tail)
        elif tail and any(e["kind"] in ("protocol_timeout", "control_x") for e in self.events):
            self.info["unfinished_at_stop"] = len(tail)      # the stop is the one error
        elif len(tail) > 1 or (tail and not outs):
            ev = next((e for e in self.events if e["kind"] == "drain_timeout"), None)
            where = f"{ev['signal']} stayed low from cycle {ev['cycle']}" if ev else "the run ended"
            self.error("protocol_timeout", f"{where}: {len(tail)} accepted vector(s) never came out, "
                                           f"the first {self.vec(tail[0])}")
        elif tail:
            self.error("missing_output", f"{self.vec(tail[0])} never came out (the last accepted vector)")
        return pairs

    # ---- 2 and 3. values ------------------------------------------------------------------------
    def check_pairs(self, pairs: list[tuple[int, int]]) -> None:
        self.info["checked"] = len(pairs)
        if not pairs:
            return
        i = np.array([p[0] for p in pairs])
        j = np.array([p[1] for p in pairs])
        o, b = self.o, self.d.bounds
        if self.ey is not None:
            self._exact(i, j)
        mask = o["in_mask"][i]
        met = vector_metrics(self.y[j], self.ref[i], mask)
        rows = mask.any(axis=1)
        self._bound("max_abs_error", met.max_abs, b.max_abs_error, i, j, rows)
        self._bound("mse_vector", met.mse, b.mse_vector, i, j, rows)
        if b.sum_error is not None:
            self._bound("sum_error", met.sum_err, b.sum_error, i, j, rows)
        mean = float(met.mse[rows].mean()) if rows.any() else 0.0
        if mean > b.mse_mean:
            self.error("mse_mean", f"mean MSE {mean:.3g} over {int(rows.sum())} vectors exceeds the bound {b.mse_mean:.3g}")
        ok = self.decision_ok(j, i)
        ties = self.is_max[i].sum(axis=1) > 1
        dec = self.decided(j, i)
        for k in np.flatnonzero(~ok)[:MAX_DETAILS]:
            self.error("argmax_mismatch", f"{self.vec(i[k])}: the unit decided lane {int(dec[k])}, "
                                          f"the largest input is at lane(s) {np.flatnonzero(self.is_max[i[k]]).tolist()}")
        if (~ok).sum() > MAX_DETAILS:
            self.errors["argmax_mismatch"] += int((~ok).sum()) - MAX_DETAILS
        self.info["metrics"] = {
            "mse_mean": mean, "mse_max": float(met.mse[rows].max()) if rows.any() else 0.0,
            "max_abs_error": float(met.max_abs[rows].max()) if rows.any() else 0.0,
            "sum_error_max": float(met.sum_err[rows].max()) if rows.any() else 0.0,
            "argmax_agree": int((ok & rows & ~ties).sum()), "argmax_agree_tied": int((ok & rows & ties).sum()),
            "argmax_disagree": int((~ok).sum())}

    def _bound(self, kind: str, values: np.ndarray, bound: float, i, j, rows) -> None:
        bad = np.flatnonzero((values > bound) & rows)
        for k in bad[:MAX_DETAILS]:
            self.error(kind, f"{self.vec(i[k])}: {kind.replace('_', ' ')} {values[k]:.4g} > bound {bound:.4g} "
                             f"(output at cycle {int(self.o['out_cycle'][j[k]])}: {self.o['out_codes'][j[k]].tolist()})")
        if len(bad) > MAX_DETAILS:
            self.errors[kind] += len(bad) - MAX_DETAILS

    def _exact(self, i: np.ndarray, j: np.ndarray) -> None:
        o = self.o
        got, exp = o["out_codes"][j], self.ey[i]
        lane_bad = got != exp
        am_bad = (o["out_argmax"][j] != self.eam[i]) if "out_argmax" in self.d.ports else np.zeros(len(i), bool)
        bad = lane_bad.any(axis=1) | am_bad
        if not bad.any():
            return
        per_lane = []
        for lane in np.flatnonzero(lane_bad.any(axis=0)):
            diffs = Counter((got[:, lane] - exp[:, lane])[lane_bad[:, lane]].tolist())
            common, cnt = diffs.most_common(1)[0]
            per_lane.append(f"lane {lane} in {int(lane_bad[:, lane].sum())} "
                            f"(most often {common:+d} LSB, {cnt}x)")
        if am_bad.any():
            per_lane.append(f"argmax in {int(am_bad.sum())}")
        self.info["mismatch_by_lane"] = per_lane
        first = np.flatnonzero(bad)[:MAX_DETAILS]
        for k in first:
            self.error("mismatch", f"{self.vec(i[k])}: expected {exp[k].tolist()} argmax {int(self.eam[i[k]])}, "
                                   f"got {got[k].tolist()} argmax {int(o['out_argmax'][j[k]])} at cycle "
                                   f"{int(o['out_cycle'][j[k]])}; differing: {'; '.join(per_lane)}")
        self.errors["mismatch"] += int(bad.sum()) - len(first)

    def run(self) -> dict:
        for e in self.events:
            if e["kind"] in ("protocol_timeout", "control_x"):
                self.error(e["kind"], e["message"])
        self.check_pairs(self.align())
        if not self.info.get("checked") and not self.errors:
            self.error("no_vectors", "no output was paired with an input")
        return {"passed": not self.errors, "errors": dict(self.errors), "details": dict(self.details),
                "inputs": int(len(self.o["in_codes"])), "outputs": int(len(self.o["out_codes"])), **self.info}


def judge(d: Design, model, obs: dict, events: list[dict], test: str) -> dict:
    return Judge(d, model, obs, events, test).run()

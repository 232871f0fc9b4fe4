"""Reports (scripts/report.py) and the paper area check (scripts/report_area.py) on a tiny
synthetic results directory and a small dump written here."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.config import load_config
from models.datapath import run_model
from models.dumps import dump_sha256, save_dump
from models.quantize import quantize
from models.reference import softmax
from scripts import report, report_area

META = {"model": "synthetic", "dataset": "test", "captured": "logits", "command": "pytest", "date": "2026-01-01"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny_dump(tmp_path):
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 4, size=(12, 10))
    logits[3] = np.linspace(-1, 1, 10)          # several lanes close together
    labels = rng.integers(0, 10, size=12)
    return save_dump(tmp_path / "tiny.npz", logits, labels=labels, meta=META)


def _summary(results, cfg, sim, **fields):
    p = results / cfg / sim / "summary.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(fields))
    return p


def test_report_content(tmp_path, tiny_dump):
    results = tmp_path / "results"
    _summary(results, "paper_n10_decision", "icarus", vectors=12, mismatches=0, argmax_agreement_quantized=1.0,
             argmax_agreement_float=1.0, mse_mean=1e-3, mse_max=2e-3, coverage_percent=87.5, seed=11,
             wall_s=3.5, vectors_per_s=3.4,
             dumps={"/somewhere/tiny.npz": {"vectors": 12, "sha256": dump_sha256(tiny_dump), "argmax_agreement_quantized": 1.0,
                                            "argmax_agreement_float": 1.0,
                                            "mse_vs_softmax_float": {"mean": 0.25, "max": 0.5}}},
             tests={"smx_smoke": {"status": "passed"}, "smx_replay": {"status": "passed"}})
    _summary(results, "paper_n10_decision", "verilator", vectors=12, mismatches=3, dump="other.npz",
             tests={"smx_smoke": {"status": "failed"}})
    out = tmp_path / "report"
    made = report.run_reports([tiny_dump], ["paper_n10_decision", "paper_n10_full"], out, results,
                              n_table_rows=2, progress=False)
    assert [m["config"] for m in made] == ["paper_n10_decision", "paper_n10_full"]

    for m in made:
        d = out / "tiny" / m["config"]
        c = json.loads((d / "report.json").read_text())
        assert c["vectors"] == 12
        for h in (c["histogram_vs_softmax"], c["histogram_vs_ideal"]):
            assert sum(h["counts"]) + h["zeros"] == 12
            assert len(h["edges"]) == len(h["counts"]) + 1
        assert (d / "mse_hist.png").read_bytes()[:8] == PNG_MAGIC

        # the Table-1 listing holds the model's own outputs, in softmax order
        cfg = load_config(m["config"])
        logits = np.load(tiny_dump)["logits"].astype(np.float64)
        codes, _ = quantize(cfg, logits)
        y = run_model(cfg, codes).y
        sm = softmax(logits)
        rows = [t["row"] for t in c["table"]]
        assert rows[:2] == [0, 1] and len(rows) in (2, 3)
        for t in c["table"]:
            r = t["row"]
            lanes = [e["lane"] for e in t["top"]]
            assert len(lanes) == 5
            assert np.all(np.diff(sm[r, lanes]) <= 0)                  # descending softmax
            assert sm[r, lanes[-1]] >= np.delete(sm[r], lanes).max()   # they are the top 5
            assert [e["code"] for e in t["top"]] == [int(v) for v in y[r, lanes]]
        md = (d / "report.md").read_text()
        assert f"{y[0, c['table'][0]['top'][0]['lane']]}/{cfg.one}" in md

    dec = (out / "tiny" / "paper_n10_decision" / "report.md").read_text()
    assert ("**0 mismatches** on 12 vectors: the RTL matched the model bit for bit; it replayed this dump "
            "(tiny.npz, same sha256)") in dec
    assert "**3 mismatches** on 12 vectors: the RTL does NOT match the model; tests not passed: smx_smoke" in dec
    assert "replayed other stimulus (other.npz), not this dump" in dec
    # the run's own figures for this dump are quoted beside the model's
    mse = json.loads((out / "tiny" / "paper_n10_decision" / "report.json").read_text())["metrics"]["vs_softmax"]["mse"]
    assert (f"MSE vs softmax mean 0.25, max 0.5 (model here: 12 vectors, mean {mse['mean']:.4g}, "
            f"max {mse['max']:.4g})") in dec
    assert "| icarus | 12 | 0 | 1 | 1 | 0.001 | 0.002 | 87.5 | 11 | 3.5 | 3.4 |" in dec
    full = (out / "tiny" / "paper_n10_full" / "report.md").read_text()
    assert "**No simulation summary exists** for `paper_n10_full`" in full
    index = (out / "index.md").read_text()
    assert "icarus: 0 mismatches / 12 vectors, 12 of them from this dump; verilator: not this dump (other stimulus)" in index
    assert "none found" in index


def test_masked_rows_and_padding(tmp_path):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(5, 6))
    mask = np.ones((5, 6), bool)
    mask[2] = False                    # an empty row: left out of the figures
    mask[4, 3:] = False
    p = save_dump(tmp_path / "masked.npz", logits, mask=mask, meta=META)
    results = tmp_path / "results"
    results.mkdir()
    c = report.make_report(load_config("paper_n10_full"), report.load_dump(p), tmp_path / "r", results,
                           n_table_rows=5)
    assert c["vectors"] == 4 and c["empty_rows"] == 1
    assert sum(c["histogram_vs_softmax"]["counts"]) + c["histogram_vs_softmax"]["zeros"] == 4
    assert "padded to N = 10" in (tmp_path / "r" / "report.md").read_text()
    assert [t["row"] for t in c["table"]] == [0, 1, 3, 4]     # the empty row 2 is not listed
    assert len(c["table"][3]["top"]) == 3                      # row 4: only its 3 live lanes
    assert all(e["lane"] < 3 for e in c["table"][3]["top"])


def test_log_histogram_zeros_and_edges():
    v = np.array([0.0, 0.0, 1e-9, 3e-7, 5e-7, 2e-3, 2e-3])
    h = report.log_histogram(v)
    assert h["zeros"] == 2 and sum(h["counts"]) == 5 and h["total"] == 7
    e = np.array(h["edges"])
    assert np.all(np.diff(e) > 0) and e[0] <= 1e-9 and e[-1] >= 2e-3
    assert report.log_histogram(np.zeros(3)) == {"edges": [], "counts": [], "zeros": 3, "total": 3}
    with pytest.raises(ValueError):
        report.log_histogram(np.array([-1.0]))


def test_bad_inputs_give_one_clear_error(tmp_path, tiny_dump, capsys):
    results = tmp_path / "results"
    bad = results / "paper_n10_decision" / "icarus" / "summary.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(report.ReportError, match="summary.json: simulation summary is not readable JSON"):
        report.run_reports([tiny_dump], ["paper_n10_decision"], tmp_path / "o", results, progress=False)
    assert report.main(["--dump", str(tmp_path / "missing.npz"), "--results", str(results)]) == 2
    assert "missing.npz: file not found" in capsys.readouterr().err
    wide = save_dump(tmp_path / "wide.npz", np.zeros((2, 12)) + np.arange(12), meta=META)
    with pytest.raises(report.ReportError, match=r"no dump/configuration pair fits .*wide.npz \(12 lanes\) on "
                                                 r"paper_n10_decision: does not fit N = 10"):
        report.run_reports([wide], ["paper_n10_decision"], tmp_path / "o", results, progress=False)


def test_dumps_of_different_n_report_what_fits(tmp_path, tiny_dump):
    wide = save_dump(tmp_path / "wide.npz", np.zeros((2, 12)) + np.arange(12), meta=META)
    out = tmp_path / "o"
    made = report.run_reports([tiny_dump, wide], ["paper_n10_decision"], out, tmp_path / "results", progress=False)
    assert [(Path(m["dump"]).name, m["config"]) for m in made] == [("tiny.npz", "paper_n10_decision")]
    index = (out / "index.md").read_text()
    assert "## Not reported" in index and "wide.npz (12 lanes) on paper_n10_decision: does not fit N = 10" in index


@pytest.mark.parametrize("entry, status", [
    ({"sha256": "0" * 64}, "different"),     # a file of the same name with other content
    ({}, "unverified"),                      # same name, no hash recorded: not quoted
])
def test_a_run_of_another_file_is_never_quoted_as_this_dumps(tmp_path, tiny_dump, entry, status):
    results = tmp_path / "results"
    _summary(results, "paper_n10_decision", "icarus", vectors=99, mismatches=0,
             dumps={"/elsewhere/tiny.npz": {"vectors": 99, **entry}})
    out = tmp_path / "o"
    made = report.run_reports([tiny_dump], ["paper_n10_decision"], out, results, progress=False)
    sim = made[0]["simulations"][0]
    assert sim["replay"] == status and sim["this_dump"] is None
    index = (out / "index.md").read_text()
    assert "icarus: not this dump" in index and "99" not in index.split("| icarus")[0].split("|")[-1]
    assert "icarus: 0 mismatches" not in index


def test_report_replays_a_probabilities_file_directly(tmp_path):
    rng = np.random.default_rng(3)
    z = rng.normal(0, 3, size=(6, 10))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    src = tmp_path / "other_tool.npz"
    np.savez(src, predictions=p, ground_truth=np.arange(6))
    out = tmp_path / "o"
    assert report.main(["--dump", str(src), "--dump-from", "probabilities", "--dump-map",
                        "predictions:logits,ground_truth:labels", "--config", "paper_n10_full",
                        "--results", str(tmp_path / "results"), "--out", str(out), "--no-progress"]) == 0
    c = json.loads((out / "other_tool" / "paper_n10_full" / "report.json").read_text())
    assert c["vectors"] == 6 and c["labels"]["vectors"] == 6
    assert any("converted from probabilities" in n for n in c["dump_notes"])


def test_area_check_ratios_and_missing(tmp_path):
    results = tmp_path / "results"
    for name, cells, tr in (("paper_n10_decision", 400, 8000), ("paper_n10_conventional", 1000, 20000),
                            ("paper_n10_full", 500, 10000)):
        p = results / name / "area.json"
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps({"cells": cells, "transistors": tr}))
    c = report_area.area_check(results)
    assert c["ratio"]["conventional"]["decision"] == {"cells": 0.4, "transistors": 0.4}
    assert c["ratio"]["full"]["decision"] == {"cells": 0.8, "transistors": 0.8}
    assert "topk" not in c["ratio"]["conventional"] and c["missing"] == ["paper_n10_top4"]
    assert c["paper_ratio"]["decision"] == pytest.approx(17293 / 43576)
    md = report_area.markdown(c)
    assert "| decision | paper_n10_decision | 1 | - | 400 | 8,000 | 0.40 | 0.80 | 17,293 | 0.40 |" in md
    assert "| topk | paper_n10_top4 | 4 | ln + exp table | missing | missing | - | - | 25,597 | 0.59 |" in md
    assert "**Missing:** no area.json for paper_n10_top4" in md
    assert "top-K unit is **larger**" not in md
    p = results / "paper_n10_top4" / "area.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps({"cells": 550, "transistors": 11000}))
    c = report_area.area_check(results)
    assert c["ratio"]["full"]["topk"] == {"cells": 1.1, "transistors": 1.1} and c["missing"] == []
    md = report_area.markdown(c)
    assert "| 11,000 | 0.55 | 1.10 | 25,597 | 0.59 |" in md and "top-K unit is **larger**" in md
    (results / "paper_n10_full" / "area.json").write_text(json.dumps({"cells": 0, "transistors": 1}))
    with pytest.raises(report_area.AreaError, match="paper_n10_full/area.json: field 'cells'"):
        report_area.area_check(results)

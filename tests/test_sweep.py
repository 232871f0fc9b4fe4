"""Design-space sweep (scripts/sweep.py): a 2-point grid plus an invalid point on a small dump."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from models.dumps import save_dump
from scripts import sweep

META = {"model": "synthetic", "dataset": "test", "captured": "logits", "command": "pytest", "date": "2026-01-01"}


@pytest.fixture
def tiny_dump(tmp_path):
    rng = np.random.default_rng(3)
    return save_dump(tmp_path / "tiny.npz", rng.normal(0, 3, size=(40, 10)), meta=META)


GRID = [
    {"formats": [[6, 5], [6, 3]], "k": [1]},                  # 2 valid decision units
    {"formats": [[6, 5]], "k": ["N"], "out_frac_bits": [6]},   # M = 7 > OF = 6: invalid
]


def test_two_point_sweep(tmp_path, tiny_dump):
    out = tmp_path / "sweep"
    rows = sweep.run_sweep(GRID, [tiny_dump], out, no_area=True, progress=False)
    assert len(rows) == 3
    ok = [r for r in rows if r["status"] == "ok"]
    bad = [r for r in rows if r["status"].startswith("invalid")]
    assert [(r["iw"], r["fw"]) for r in ok] == [(6, 5), (6, 3)]
    assert len(bad) == 1
    assert "field 'ln_mant_bits': must be in 1..out_frac_bits=6, got 7" in bad[0]["status"]
    assert bad[0]["pareto"] == "" and bad[0]["mse_vs_softmax_mean"] == ""

    for r in ok:
        assert r["vectors"] == 40 and r["variant"] == "decision"
        assert r["exp_depth"] == 8 * 2 ** r["fw"]              # exp_step 1: one entry per LSB
        assert r["table_bits"] == r["exp_depth"] * r["of"]
        assert r["argmax_quantized"] == 1.0                     # the argmax port is exact
        # one table entry per LSB: within half an output LSB of eq. 18 (docs/numerics.md section 7)
        assert r["mse_vs_ideal_max"] <= (2.0 ** -(r["of"] + 1)) ** 2
        assert r["cost_metric"] == "table_bits"
    # Pareto on (table bits, MSE): the flags follow the definition
    flags = sweep.pareto_flags([r["table_bits"] for r in ok], [r["mse_vs_softmax_mean"] for r in ok])
    assert [r["pareto"] for r in ok] == ["yes" if f else "no" for f in flags]
    cheap = ok[1]                                               # (6,3): 64 entries, fewer bits
    assert cheap["table_bits"] < ok[0]["table_bits"] and cheap["pareto"] == "yes"

    with open(out / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3 and table[2]["status"] == bad[0]["status"]
    md = (out / "sweep.md").read_text()
    assert "3 points, 1 invalid" in md and "must be in 1..out_frac_bits=6" in md
    for png in ("pareto.png", "fig12.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_area_from_cache_and_pareto_on_transistors(tmp_path, tiny_dump):
    """Areas come from the cache keyed by the hardware hash; Pareto then runs on transistors."""
    dumps = {"tiny": sweep.load_dump(tiny_dump)}
    pts = sweep.expand(GRID[:1], dumps)
    cache = tmp_path / "cache"
    cache.mkdir()
    # the (6,3) unit made deliberately larger than (6,5): it must then drop off the front
    for p, tr in zip(pts, (1000, 5000)):
        (cache / f"{p.key}.json").write_text(json.dumps({"cells": tr // 10, "transistors": tr}))
    rows = sweep.run_sweep(GRID[:1], [tiny_dump], tmp_path / "o", no_area=False, progress=False, cache_dir=cache)
    assert [r["transistors"] for r in rows] == [1000, 5000]
    assert all(r["area_source"] == "cache" and r["cost_metric"] == "transistors" for r in rows)
    better = rows[0]["mse_vs_softmax_mean"] <= rows[1]["mse_vs_softmax_mean"]
    assert rows[0]["pareto"] == "yes" and rows[1]["pareto"] == ("no" if better else "yes")


def test_pareto_flags():
    assert sweep.pareto_flags([1, 2, 3, 2], [3, 2, 1, 3]) == [True, True, True, False]
    assert sweep.pareto_flags([1, 1], [2, 2]) == [True, True]          # identical points: both kept
    assert sweep.pareto_flags([1, math.nan, 2], [1, 0, 0.5]) == [True, False, True]


def test_hash_separates_hardware(tmp_path, tiny_dump):
    dumps = {"tiny": sweep.load_dump(tiny_dump)}
    a = sweep.make_point("tiny", dumps["tiny"], {"iw": 6, "fw": 5, "of": 10, "exp_range": 8.0, "exp_step": 1, "k": 1, "m": 7})
    b = sweep.make_point("tiny", dumps["tiny"], {"iw": 6, "fw": 5, "of": 10, "exp_range": 8.0, "exp_step": 1, "k": 1, "m": 5})
    c = sweep.make_point("tiny", dumps["tiny"], {"iw": 6, "fw": 5, "of": 9, "exp_range": 8.0, "exp_step": 1, "k": 1, "m": 7})
    assert a.key == b.key != c.key        # M means nothing for K = 1: same unit
    d = sweep.make_point("tiny", dumps["tiny"], {"iw": 6, "fw": 0, "of": 9, "exp_range": 8.0, "exp_step": 16, "k": 1, "m": 7})
    assert d.cfg is None and "does not divide the table span" in d.error


def test_grid_errors(tmp_path, tiny_dump):
    dumps = {"tiny": sweep.load_dump(tiny_dump)}
    with pytest.raises(sweep.GridError, match=r"grid\[0\]: unknown key\(s\) \['fromats'\]"):
        sweep.expand([{"fromats": [[6, 5]]}], dumps)
    with pytest.raises(sweep.GridError, match="dump 'nope' is not among the dumps"):
        sweep.expand([{"formats": [[6, 5]], "dumps": ["nope"]}], dumps)
    with pytest.raises(sweep.GridError, match="either 'exp_step' or 'exp_depth'"):
        sweep.expand([{"formats": [[6, 5]], "exp_step": [1], "exp_depth": [256]}], dumps)
    g = tmp_path / "g.toml"
    g.write_text('[[grid]]\nformats = [[6, 5]]\nk = [1, "N"]\n')
    assert sweep.load_grid(str(g)) == [{"formats": [[6, 5]], "k": [1, "N"]}]
    with pytest.raises(sweep.GridError, match="unknown grid 'huge'"):
        sweep.load_grid("huge")


def test_hash_separates_normalise(tiny_dump):
    """The divider and log-domain K = N units are different hardware: different area-cache keys."""
    dumps = {"tiny": sweep.load_dump(tiny_dump)}
    base = {"iw": 6, "fw": 5, "of": 10, "exp_range": 8.0, "exp_step": 1, "k": "N", "m": 7}
    log = sweep.make_point("tiny", dumps["tiny"], {**base, "normalise": "log"})
    div = sweep.make_point("tiny", dumps["tiny"], {**base, "normalise": "divide"})
    assert log.cfg.variant == "full" and div.cfg.variant == "conventional"
    assert log.key != div.key
    # K = 1 never normalises: the grid's normalise value does not split identical units
    k1 = {**base, "k": 1}
    assert sweep.make_point("tiny", dumps["tiny"], {**k1, "normalise": "divide"}).key == \
        sweep.make_point("tiny", dumps["tiny"], {**k1, "normalise": "log"}).key


def test_normalise_axis_in_grid(tiny_dump):
    dumps = {"tiny": sweep.load_dump(tiny_dump)}
    pts = sweep.expand([{"formats": [[6, 5]], "k": ["N"], "normalise": ["log", "divide"]}], dumps)
    assert sorted(p.cfg.variant for p in pts) == ["conventional", "full"]


def test_unknown_variant_colour_is_an_error():
    assert sweep.variant_colour("conventional") == "tab:red"
    with pytest.raises(ValueError, match="no colour for variant 'bogus'"):
        sweep.variant_colour("bogus")


def test_pareto_on_um2_when_timed(tmp_path, tiny_dump, monkeypatch):
    """With --timing, the front is on um^2 (cell-library area) and the columns carry it and fmax."""
    dumps = {"tiny": sweep.load_dump(tiny_dump)}
    pts = sweep.expand(GRID[:1], dumps)
    cache = tmp_path / "cache"
    cache.mkdir()
    for p in pts:        # transistors say (6,5) is smaller; um^2 says (6,3) is: um^2 must decide
        tr = 1000 if p.spec["fw"] == 5 else 5000
        (cache / f"{p.key}.json").write_text(json.dumps({"cells": tr // 10, "transistors": tr}))
    um2 = {pts[0].key: (9e5, 100.0), pts[1].key: (1e5, 150.0)}
    monkeypatch.setattr(sweep, "timing_for", lambda cfg: dict(zip(("area_um2", "fmax_mhz"),
                                                                  um2[cfg.name.removeprefix("sw_")])))
    rows = sweep.run_sweep(GRID[:1], [tiny_dump], tmp_path / "o", progress=False, cache_dir=cache, timing=True)
    assert [(r["area_um2"], r["fmax_mhz"]) for r in rows] == [(9e5, 100.0), (1e5, 150.0)]
    assert all(r["cost_metric"] == "area_um2" for r in rows)
    assert rows[1]["pareto"] == "yes"
    better = rows[0]["mse_vs_softmax_mean"] < rows[1]["mse_vs_softmax_mean"]
    assert rows[0]["pareto"] == ("yes" if better else "no")
    with open(tmp_path / "o" / "sweep.csv") as f:
        assert {"area_um2", "fmax_mhz"} <= set(next(csv.reader(f)))

"""The logit-dump loader and writer (models/dumps.py): every error, conversion, padding, round trip,
and the bundled dumps in data/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.config import list_configs, load_config
from models.dumps import (
    PAD_VALUE,
    PROB_FLOOR,
    REQUIRED_META,
    DumpError,
    dump_sha256,
    import_dump,
    load_dump,
    open_dump_arg,
    pad_to,
    parse_key_map,
    save_dump,
)

DATA = Path(__file__).resolve().parents[1] / "data"
META = {"model": "m", "dataset": "d", "captured": "classifier logits", "command": "cmd", "date": "2026-01-01"}
RNG = np.random.default_rng(1234)


def write(path: Path, **arrays) -> Path:
    """Write arrays straight with numpy, bypassing save_dump's checks (to build bad files)."""
    if "meta" in arrays and isinstance(arrays["meta"], dict):
        arrays["meta"] = np.array(json.dumps(arrays["meta"]))
    np.savez(path, **arrays)
    return path


def logits(m=4, n=10):
    return RNG.normal(0.0, 4.0, size=(m, n)).astype(np.float32)


# --- file-level errors ------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DumpError, match=r"nope\.npz: file not found"):
        load_dump(tmp_path / "nope.npz")


def test_not_an_npz(tmp_path):
    text = tmp_path / "x.npz"
    text.write_text("hello")
    with pytest.raises(DumpError, match="not an .npz archive"):
        load_dump(text)
    npy = tmp_path / "x.npy"
    np.save(npy, logits())
    with pytest.raises(DumpError, match=r"x\.npy: not an .npz archive"):
        load_dump(npy)


def test_object_array_needs_pickle(tmp_path):
    p = tmp_path / "o.npz"
    np.savez(p, logits=np.array([[1, "a"]], dtype=object))
    with pytest.raises(DumpError, match="object arrays are not allowed"):
        load_dump(p)


def test_missing_logits_names_the_keys(tmp_path):
    p = write(tmp_path / "k.npz", scores=logits())
    with pytest.raises(DumpError, match=r"no 'logits' array \(keys present: \['scores'\]\)"):
        load_dump(p)


def test_unknown_key(tmp_path):
    p = write(tmp_path / "u.npz", logits=logits(), extra=np.zeros(4))
    with pytest.raises(DumpError, match=r"unknown key\(s\) \['extra'\]"):
        load_dump(p)


# --- array errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4)])
def test_wrong_rank(tmp_path, shape):
    p = write(tmp_path / "r.npz", logits=np.zeros(shape, np.float32))
    with pytest.raises(DumpError, match=rf"must be 2-D .* got shape {re_shape(shape)}"):
        load_dump(p)


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("shape", [(0, 10), (5, 0)])
def test_empty(tmp_path, shape):
    p = write(tmp_path / "e.npz", logits=np.zeros(shape, np.float32))
    with pytest.raises(DumpError, match="is empty"):
        load_dump(p)


@pytest.mark.parametrize("arr", [np.array([["a", "b"]]), np.ones((2, 2), bool), np.ones((2, 2), np.complex64)])
def test_non_numeric(tmp_path, arr):
    p = write(tmp_path / "t.npz", logits=arr)
    with pytest.raises(DumpError, match=f"non-numeric dtype {arr.dtype}"):
        load_dump(p)


def test_nan_inf_counted_and_located(tmp_path):
    x = logits(5, 8)
    x[2, 6] = np.nan
    x[3, 1] = np.inf
    x[4, 0] = np.nan
    p = write(tmp_path / "n.npz", logits=x)
    with pytest.raises(DumpError, match=r"3 non-finite value\(s\) \(2 NaN, 1 Inf\); first at row 2, lane 6"):
        load_dump(p)


def test_integer_logits_converted_with_note(tmp_path):
    x = np.array([[3, -2, 7], [0, 1, 2]], np.int16)
    d = load_dump(write(tmp_path / "i.npz", logits=x))
    assert d.logits.dtype == np.float64 and np.array_equal(d.logits, x)
    assert any("from int16" in s for s in d.notes)


def test_huge_int64_is_not_rounded_silently(tmp_path):
    x = np.array([[2**62 + 1, 0]], np.int64)
    with pytest.raises(DumpError, match="too large to convert to float64 exactly"):
        load_dump(write(tmp_path / "h.npz", logits=x))


# --- lanes vs configurations ------------------------------------------------------------------


def test_too_many_lanes_names_the_configs_that_fit(tmp_path):
    p = write(tmp_path / "w.npz", logits=logits(3, 64))
    with pytest.raises(DumpError) as ei:
        load_dump(p, n_lanes=10)
    msg = str(ei.value)
    assert "64 lanes do not fit a unit of N=10" in msg
    fit = [c for c in list_configs() if load_config(c).n >= 64]
    unfit = [c for c in list_configs() if load_config(c).n < 64]
    assert fit and unfit  # the configs in the repo cover both cases
    for c in fit:
        assert c in msg
    for c in unfit:
        assert c not in msg


def test_too_many_lanes_for_every_config(tmp_path):
    biggest = max(load_config(c).n for c in list_configs())
    p = write(tmp_path / "w.npz", logits=logits(1, biggest + 1))
    with pytest.raises(DumpError, match=f"no configuration in configs/ has N >= {biggest + 1}"):
        load_dump(p, n_lanes=10)


def test_fewer_lanes_load_and_pad(tmp_path):
    x = logits(3, 6)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]], bool)
    d = load_dump(write(tmp_path / "f.npz", logits=x, mask=mask, labels=np.array([0, 5, 2])), n_lanes=10)
    assert d.n == 6
    p = pad_to(d, 10)
    assert p.logits.shape == (3, 10) and p.mask.shape == (3, 10)
    assert np.array_equal(p.logits[:, :6], d.logits) and np.all(p.logits[:, 6:] == PAD_VALUE)
    assert np.array_equal(p.mask[:, :6], mask) and not p.mask[:, 6:].any()
    assert np.array_equal(p.labels, d.labels)
    assert "padded from 6 to 10 lanes with 4 masked lane(s)" in p.notes[-1]
    assert d.n == 6 and len(p.notes) == len(d.notes) + 1  # the input dump is unchanged
    assert pad_to(d, 6).logits.shape == (3, 6)
    with pytest.raises(DumpError, match="cannot pad 6 lanes down to 4"):
        pad_to(d, 4)


# --- mask and labels --------------------------------------------------------------------------


def test_mask_absent_means_all_live(tmp_path):
    d = load_dump(write(tmp_path / "a.npz", logits=logits()))
    assert d.mask.dtype == bool and d.mask.all()
    assert "no 'mask': all lanes live" in d.notes


def test_mask_shape_mismatch(tmp_path):
    p = write(tmp_path / "m.npz", logits=logits(4, 10), mask=np.ones((4, 9), bool))
    with pytest.raises(DumpError, match=r"'mask' shape \(4, 9\) does not match 'logits' shape \(4, 10\)"):
        load_dump(p)


def test_mask_bad_values(tmp_path):
    p = write(tmp_path / "m.npz", logits=logits(2, 3), mask=np.array([[0, 1, 2], [1, 1, 1]]))
    with pytest.raises(DumpError, match="'mask' must be bool"):
        load_dump(p)


def test_mask_01_integers_and_empty_rows_allowed(tmp_path):
    mask = np.array([[1, 0, 1], [0, 0, 0]], np.uint8)
    d = load_dump(write(tmp_path / "m.npz", logits=logits(2, 3), mask=mask))
    assert d.mask.dtype == bool and np.array_equal(d.mask, mask.astype(bool))
    assert any("1 row(s) have no live lane" in s for s in d.notes)


def test_labels_length(tmp_path):
    p = write(tmp_path / "l.npz", logits=logits(4, 10), labels=np.arange(3))
    with pytest.raises(DumpError, match=r"'labels' must have shape \(4,\) .* got \(3,\)"):
        load_dump(p)


def test_labels_dtype_and_range(tmp_path):
    with pytest.raises(DumpError, match="'labels' must be integers"):
        load_dump(write(tmp_path / "a.npz", logits=logits(2, 10), labels=np.array([0.0, 1.0])))
    with pytest.raises(DumpError, match=r"1 label\(s\) outside 0..9; first at row 1: 10"):
        load_dump(write(tmp_path / "b.npz", logits=logits(2, 10), labels=np.array([3, 10])))


def test_row_arrays(tmp_path):
    d = load_dump(write(tmp_path / "r.npz", logits=logits(4, 10), row_layer=np.arange(4)))
    assert np.array_equal(d.rows["row_layer"], np.arange(4))
    with pytest.raises(DumpError, match=r"'row_head' must have shape \(4,\)"):
        load_dump(write(tmp_path / "s.npz", logits=logits(4, 10), row_head=np.arange(5)))


# --- meta -------------------------------------------------------------------------------------


def test_meta_read_and_missing_keys_noted(tmp_path):
    d = load_dump(write(tmp_path / "m.npz", logits=logits(), meta={"model": "x", "extra": [1, 2]}))
    assert d.meta == {"model": "x", "extra": [1, 2]}
    missing = [k for k in REQUIRED_META if k != "model"]
    assert f"meta lacks {missing}" in d.notes
    assert "no 'meta' in the file" in load_dump(write(tmp_path / "n.npz", logits=logits())).notes


@pytest.mark.parametrize("raw, problem", [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object")])
def test_meta_bad(tmp_path, raw, problem):
    p = write(tmp_path / "b.npz", logits=logits(), meta=np.array(raw))
    with pytest.raises(DumpError, match=problem):
        load_dump(p)


# --- probabilities ----------------------------------------------------------------------------


def _probs(m=5, n=10, seed=5):
    # a local generator: the rows must not depend on which tests ran before (xdist order)
    z = np.random.default_rng(seed).normal(0.0, 3.0, size=(m, n))
    z[0, 3] = z[0].max() - 40.0         # a lane whose probability (~4e-18) may underflow to 0
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return z, p / p.sum(axis=1, keepdims=True)


def test_probabilities_rejected_by_default(tmp_path):
    _, p = _probs()
    path = write(tmp_path / "p.npz", logits=p.astype(np.float32))
    with pytest.raises(DumpError, match="looks like probabilities .* from_probabilities=True"):
        load_dump(path)


def test_probabilities_converted_with_log_and_floor(tmp_path):
    z, p = _probs()
    assert p[0, 3] < 1e-15
    p[0, 3] = 0.0  # an underflowed probability: clamped at the floor, and counted
    path = write(tmp_path / "p.npz", logits=p)
    d = load_dump(path, from_probabilities=True)
    expect = np.log(np.maximum(p, PROB_FLOOR))
    assert np.array_equal(d.logits, expect)
    assert d.logits[0, 3] == np.log(PROB_FLOOR)
    # ln p = z - logsumexp(z): the original logits up to a per-row constant
    shift = (z - d.logits)[1:]
    assert np.allclose(shift, shift[:, :1])
    assert any("converted from probabilities" in s and "1 value(s) clamped" in s for s in d.notes)


def test_probabilities_ignore_masked_lanes(tmp_path):
    _, p = _probs(3, 6)
    x = np.concatenate([p, np.full((3, 2), 7.0)], axis=1)  # masked lanes hold junk
    mask = np.concatenate([np.ones((3, 6), bool), np.zeros((3, 2), bool)], axis=1)
    path = write(tmp_path / "p.npz", logits=x, mask=mask)
    with pytest.raises(DumpError, match="looks like probabilities"):
        load_dump(path)
    d = load_dump(path, from_probabilities=True)
    assert np.all(d.logits[:, 6:] == 0.0) and np.all(d.logits[:, :6] <= 0.0)


def test_from_probabilities_on_logits_is_an_error(tmp_path):
    with pytest.raises(DumpError, match="rows are not probabilities"):
        load_dump(write(tmp_path / "l.npz", logits=logits()), from_probabilities=True)


def test_one_logit_row_breaks_the_probability_pattern(tmp_path):
    _, p = _probs(4, 10)
    p[2] = np.linspace(-3, 3, 10)  # a single real logit row: the dump is not all probabilities
    d = load_dump(write(tmp_path / "mix.npz", logits=p))
    assert np.allclose(d.logits, p)


# --- writer -----------------------------------------------------------------------------------


def test_round_trip(tmp_path):
    x = logits(6, 10)
    mask = RNG.random((6, 10)) > 0.2
    labels = np.array([0, 1, 2, 9, 4, 5])
    rows = {"row_source": np.arange(6, dtype=np.int16)}
    meta = {**META, "tokens": [["a", "b"]]}
    path = save_dump(tmp_path / "sub" / "rt.npz", x.astype(np.float64), mask=mask, labels=labels, meta=meta, rows=rows)
    with np.load(path) as z:
        assert z["logits"].dtype == np.float32 and z["mask"].dtype == bool and z["labels"].dtype == np.int64
    d = load_dump(path, n_lanes=10)
    assert np.array_equal(d.logits, x.astype(np.float64))
    assert np.array_equal(d.mask, mask) and np.array_equal(d.labels, labels)
    assert np.array_equal(d.rows["row_source"], rows["row_source"])
    assert d.meta == meta and d.path == path and (d.m, d.n) == (6, 10)


def test_writer_validates_like_the_reader(tmp_path):
    x = logits(4, 10)
    with pytest.raises(DumpError, match=r"w\.npy: dump files must end in .npz"):
        save_dump(tmp_path / "w.npy", x, meta=META)
    with pytest.raises(DumpError, match="meta is required"):
        save_dump(tmp_path / "w.npz", x)
    with pytest.raises(DumpError, match=r"meta lacks required key\(s\) \['date'\]"):
        save_dump(tmp_path / "w.npz", x, meta={k: v for k, v in META.items() if k != "date"})
    with pytest.raises(DumpError, match="not JSON-serialisable"):
        save_dump(tmp_path / "w.npz", x, meta={**META, "bad": object()})
    with pytest.raises(DumpError, match="'mask' shape"):
        save_dump(tmp_path / "w.npz", x, mask=np.ones((4, 9), bool), meta=META)
    big = x.astype(np.float64)
    big[1, 2] = 1e39  # beyond float32: would become Inf in the file
    with pytest.raises(DumpError, match=r"1 non-finite .* first at row 1, lane 2"):
        save_dump(tmp_path / "w.npz", big, meta=META)
    _, p = _probs()
    with pytest.raises(DumpError, match="looks like probabilities"):
        save_dump(tmp_path / "w.npz", p, meta=META)
    assert not (tmp_path / "w.npz").exists()


# --- the bundled dumps ------------------------------------------------------------------------


def test_bundled_digits_dump():
    d = load_dump(DATA / "digits_cnn_logits.npz", n_lanes=10)
    assert (d.m, d.n) == (360, 10) and d.mask.all()
    assert d.labels is not None and set(np.unique(d.labels)) == set(range(10))
    for k in REQUIRED_META:
        assert d.meta[k]
    assert "scripts/capture_logits.py onnx" in d.meta["command"]


def test_bundled_attention_dump():
    d = load_dump(DATA / "minilm_attention_scores.npz", n_lanes=64)
    assert d.n == 64 and d.labels is None
    for k in REQUIRED_META:
        assert d.meta[k]
    layer, head, src = d.rows["row_layer"], d.rows["row_head"], d.rows["row_source"]
    assert set(np.unique(layer)) == set(range(6)) and set(np.unique(head)) == set(range(12))
    n_sent = len(d.meta["sentences"])
    assert set(np.unique(src)) == set(range(n_sent))
    # live lanes = the sentence's tokens, a prefix of the row; masked lanes hold 0.0
    tokens = np.array([len(t) for t in d.meta["tokens"]])
    live = d.mask.sum(axis=1)
    assert np.array_equal(live, tokens[src]) and np.array_equal(live, d.rows["row_tokens"])
    assert np.array_equal(d.mask, np.arange(64)[None, :] < live[:, None])
    assert np.all(d.logits[~d.mask] == 0.0)
    assert live.min() < live.max() <= 64  # varied lengths, so there is padding
    assert np.all(d.rows["row_query"] < live)


# --- files from other tools (open_dump_arg, import_dump, scripts/import_dump.py) ---------------


def probabilities(m=5, n=10, seed=0):
    z = np.random.default_rng(seed).normal(0.0, 3.0, size=(m, n))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return z, p / p.sum(axis=1, keepdims=True)


def test_no_logits_error_names_the_import_command(tmp_path):
    p = write(tmp_path / "foreign.npz", predictions=logits())
    with pytest.raises(DumpError, match=r"no 'logits' array .*python -m scripts\.import_dump IN OUT --map SRC:logits"):
        load_dump(p)


def test_parse_key_map():
    assert parse_key_map("predictions:logits, ground_truth:labels,img:-,idx:row_index") == {
        "predictions": "logits", "ground_truth": "labels", "img": "-", "idx": "row_index"}
    for bad, msg in (("predictions", "must be SOURCE:TARGET"), ("a:scores", "must be logits, mask, labels"),
                     ("a:logits,a:labels", "names source 'a' twice"), ("a:logits,b:logits", "sends two sources to")):
        with pytest.raises(DumpError, match=msg):
            parse_key_map(bad)


def test_open_dump_arg_maps_keys_and_converts_probabilities(tmp_path):
    z, p = probabilities()
    p[0, 3] = 0.0                                       # an underflowed probability
    p[0] /= p[0].sum()
    src = write(tmp_path / "tool.npz", predictions=p, ground_truth=np.arange(5), images=np.zeros((5, 2)))
    with pytest.raises(DumpError, match=r"array\(s\) \['images'\] have no place in a dump; .* drop them with KEY:-"):
        open_dump_arg(src, from_probabilities=True, key_map="predictions:logits,ground_truth:labels")
    d = open_dump_arg(src, from_probabilities=True, key_map="predictions:logits,ground_truth:labels,images:-",
                      prob_floor=1e-12)
    assert d.labels.tolist() == list(range(5))
    assert d.logits[0, 3] == pytest.approx(np.log(1e-12))
    live = [j for j in range(10) if j != 3]
    # ln p differs from the original logits by one constant per row (softmax ignores it)
    shift = d.logits[1:] - z[1:]
    np.testing.assert_allclose(shift - shift[:, :1], 0.0, atol=1e-9)
    np.testing.assert_allclose(np.diff(d.logits[0, live] - z[0, live]), 0.0, atol=1e-9)
    assert any("'images' dropped" in n for n in d.notes)
    assert any("(1 value(s) clamped at the floor)" in n and "1e-12" in n for n in d.notes)
    with pytest.raises(DumpError, match=r"probability floor must be in \(0, 1\)"):
        open_dump_arg(src, from_probabilities=True, key_map="predictions:logits,ground_truth:labels,images:-", prob_floor=0.0)
    with pytest.raises(DumpError, match=r"key map names \['nothere'\], not in the file"):
        open_dump_arg(src, key_map="nothere:logits")


def test_open_dump_arg_npy_and_csv(tmp_path):
    z, _ = probabilities(m=3, n=4)
    np.save(tmp_path / "a.npy", z)
    d = open_dump_arg(tmp_path / "a.npy")
    np.testing.assert_array_equal(d.logits, z)
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("label,c0,c1,c2,c3\n" + "\n".join(f"{i}," + ",".join(repr(float(v)) for v in r) for i, r in enumerate(z)))
    d = open_dump_arg(csv_path, key_map="label:labels")
    np.testing.assert_array_equal(d.logits, z)
    assert d.labels.tolist() == [0, 1, 2]
    (tmp_path / "b.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(DumpError, match="CSV rows have different numbers of columns"):
        open_dump_arg(tmp_path / "b.csv")
    (tmp_path / "c.txt").write_text("1,2\n")
    with pytest.raises(DumpError, match=r"unsupported file type '\.txt'"):
        open_dump_arg(tmp_path / "c.txt")


def test_import_dump_writes_a_project_dump(tmp_path, capsys):
    from scripts import import_dump as cli

    _, p = probabilities()
    src = write(tmp_path / "tool.npz", predictions=p.astype(np.float32), ground_truth=np.arange(5))
    out = tmp_path / "data" / "imported.npz"
    assert cli.main([str(src), str(out), "--map", "predictions:logits,ground_truth:labels", "--from", "probabilities"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "5 rows x 10 lanes, labels" in printed and "converted from probabilities" in printed
    d = load_dump(out, n_lanes=10)                       # a plain project dump now: no options needed
    assert d.labels.tolist() == list(range(5)) and np.all(d.logits <= 0)
    assert d.meta["imported_sha256"] == dump_sha256(src)
    assert any("converted from probabilities" in n for n in d.meta["import_notes"])
    assert "--from probabilities" in d.meta["command"]
    assert cli.main([str(src), str(tmp_path / "x.npz"), "--map", "predictions:logits,ground_truth:labels"]) == 2
    assert "looks like probabilities" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists() and not list(tmp_path.glob(".*partial*"))
    with pytest.raises(DumpError, match="must not overwrite the input"):
        import_dump(out, out)

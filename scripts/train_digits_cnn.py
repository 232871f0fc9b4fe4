#!/usr/bin/env python3
"""Train a small CNN on scikit-learn's bundled 8x8 digits and export it to ONNX.

Runs in .venv-capture (torch, scikit-learn, onnx: requirements-capture.txt). Writes to --out-dir:

    digits_cnn.onnx          the classifier: input "x" float32 [B, 1, 8, 8] (pixels / 16),
                             output "logits" float32 [B, 10]. Its metadata_props record the
                             seed, the split and the test accuracy measured here with torch.
    digits_test_inputs.npz   the held-out split: x float32 [M, 1, 8, 8], y int64 [M],
                             index int64 [M] (row of sklearn.datasets.load_digits)

The logits of the test split are then captured from the ONNX file by
`scripts/capture_logits.py onnx` (see data/README.md), so the dump comes from the exported
model, and the accuracy stored here is an independent figure to check the capture against.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_model(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=Path("data"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    args = ap.parse_args(argv)

    try:
        import numpy as np
        import onnx
        import torch
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        sys.exit(f"train_digits_cnn: {exc}; run it in the capture env (make capture-env, .venv-capture/bin/python)")

    # One thread and deterministic kernels: the same seed gives the same weights on every run.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)

    digits = load_digits()
    x_all = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y_all = digits.target.astype(np.int64)
    idx = np.arange(len(y_all))
    idx_tr, idx_te = train_test_split(
        idx, test_size=args.test_fraction, random_state=args.seed, stratify=y_all
    )
    idx_te = np.sort(idx_te)
    x_tr, y_tr = torch.from_numpy(x_all[idx_tr]), torch.from_numpy(y_all[idx_tr])
    x_te, y_te = torch.from_numpy(x_all[idx_te]), torch.from_numpy(y_all[idx_te])

    model = build_model(torch.nn)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(y_tr), generator=gen)
        total = 0.0
        for start in range(0, len(perm), args.batch_size):
            b = perm[start : start + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x_tr[b]), y_tr[b])
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  train loss {total / len(perm):.4f}")

    model.eval()
    with torch.no_grad():
        logits_te = model(x_te).numpy()
    correct = int((logits_te.argmax(axis=1) == y_te.numpy()).sum())
    acc = correct / len(y_te)
    print(f"test accuracy (torch) {correct}/{len(y_te)} = {acc:.4f}")
    print(f"test logit range [{logits_te.min():.3f}, {logits_te.max():.3f}]")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out_dir / "digits_cnn.onnx"
    torch.onnx.export(
        model,
        (x_te[:2],),  # batch 2: torch.export specialises a size-1 dim
        str(onnx_path),
        input_names=["x"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        external_data=False,  # one self-contained file
    )
    # Record what was measured here in the model itself, so a capture from it can be checked.
    m = onnx.load(str(onnx_path))
    props = {
        "trained_by": "scripts/train_digits_cnn.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": "sklearn.datasets.load_digits (8x8, pixels / 16)",
        "seed": str(args.seed),
        "epochs": str(args.epochs),
        "test_fraction": str(args.test_fraction),
        "test_correct": str(correct),
        "test_total": str(len(y_te)),
        "test_accuracy": f"{acc:.6f}",
        "torch_version": torch.__version__,
    }
    del m.metadata_props[:]
    for k, v in props.items():
        m.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(m)
    onnx.save(m, str(onnx_path))

    inputs_path = args.out_dir / "digits_test_inputs.npz"
    np.savez_compressed(inputs_path, x=x_all[idx_te], y=y_all[idx_te], index=idx_te.astype(np.int64))

    # The exported model must compute what the torch model computed.
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_logits = sess.run(["logits"], {"x": x_all[idx_te]})[0]
    diff = float(np.abs(onnx_logits - logits_te).max())
    print(f"onnx vs torch max |diff| {diff:.2e}")
    if diff > 1e-4:
        sys.exit(f"train_digits_cnn: ONNX export disagrees with torch by {diff}")
    print(json.dumps({"onnx": str(onnx_path), "inputs": str(inputs_path), **props}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Capture real softmax inputs from a model into a logit dump (.npz, docs/dumps.md).

Subcommands:

  onnx       an ONNX classifier run by onnxruntime on an input batch (.npy or .npz);
             needs only the main requirements.
  torch      a torchvision or timm classifier (architecture + local weights) or a TorchScript
             file, on an image folder or a torchvision dataset already on disk; for users who
             have weights. Needs the capture env (requirements-capture.txt).
  attention  a Hugging Face transformer: the pre-softmax attention scores Q.K^T/sqrt(d) of every
             layer and head, one row per (sentence, layer, head, query position), masked key
             lanes = padding. Needs the capture env.

Run from the repository root as `python -m scripts.capture_logits SUBCOMMAND ...`.
Every dump records the exact command, the date and what was captured in its meta.
Nothing is truncated silently: a sentence longer than the lane count is an error.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from models.dumps import DumpError, save_dump


class CaptureError(RuntimeError):
    """A problem with the capture's inputs; reported as one line and exit status 2."""


def _need(module: str, what: str):
    """Import an optional heavy dependency, or fail with an actionable message."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CaptureError(
            f"the '{what}' subcommand needs {module} ({exc}); install the capture env with "
            "`make capture-env` and run this script with .venv-capture/bin/python"
        ) from None


def _command() -> str:
    return "python -m scripts.capture_logits " + shlex.join(sys.argv[1:])


def _base_meta(model: str, dataset: str, captured: str) -> dict[str, Any]:
    return {
        "model": model,
        "dataset": dataset,
        "captured": captured,
        "command": _command(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "numpy_version": np.__version__,
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report(out: Path, logits: np.ndarray, mask: np.ndarray | None, labels: np.ndarray | None) -> None:
    live = logits if mask is None else logits[mask]
    line = f"wrote {out}: {logits.shape[0]} rows x {logits.shape[1]} lanes, live values in [{live.min():.4f}, {live.max():.4f}]"
    if labels is not None:
        pred = (logits if mask is None else np.where(mask, logits, -np.inf)).argmax(axis=1)
        acc = float((pred == labels).mean())
        line += f", top-1 accuracy {acc:.4f}"
    print(line)


# ----------------------------------------------------------------------------------------------
# onnx


def _load_batch(path: Path, key: str | None, what: str) -> np.ndarray:
    if not path.is_file():
        raise CaptureError(f"{path}: {what} file not found")
    if path.suffix == ".npy":
        if key is not None:
            raise CaptureError(f"{path}: a .npy file holds one array; drop --{what}-key")
        return np.load(path, allow_pickle=False)
    if path.suffix != ".npz":
        raise CaptureError(f"{path}: {what} must be .npy or .npz")
    with np.load(path, allow_pickle=False) as z:
        if key is None:
            if len(z.files) != 1:
                raise CaptureError(f"{path}: holds {sorted(z.files)}; choose one with --{what}-key")
            key = z.files[0]
        if key not in z.files:
            raise CaptureError(f"{path}: no array {key!r} (has {sorted(z.files)})")
        return z[key]


def cmd_onnx(args: argparse.Namespace) -> None:
    ort = _need("onnxruntime", "onnx")
    model = Path(args.model)
    if not model.is_file():
        raise CaptureError(f"{model}: model file not found")
    x = _load_batch(Path(args.inputs), args.input_key, "input")
    labels = None
    if args.labels_key is not None:
        if Path(args.inputs).suffix != ".npz":
            raise CaptureError("--labels-key needs an .npz input file")
        labels = _load_batch(Path(args.inputs), args.labels_key, "input")

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ins, outs = sess.get_inputs(), sess.get_outputs()
    if len(ins) != 1:
        raise CaptureError(f"{model}: has {len(ins)} inputs {[i.name for i in ins]}; only single-input classifiers are supported")
    out_names = [o.name for o in outs]
    out_name = args.output or (out_names[0] if len(out_names) == 1 else None)
    if out_name is None:
        raise CaptureError(f"{model}: has outputs {out_names}; choose one with --output")
    if out_name not in out_names:
        raise CaptureError(f"{model}: no output {out_name!r} (has {out_names})")

    notes = []
    want = {"tensor(float)": np.float32, "tensor(double)": np.float64}.get(ins[0].type)
    if want is not None and x.dtype != want:
        if x.dtype.kind not in "iuf":
            raise CaptureError(f"{args.inputs}: input dtype {x.dtype} cannot feed {ins[0].type}")
        notes.append(f"input cast from {x.dtype} to {np.dtype(want)}")
        x = x.astype(want)
    if x.ndim == 0 or x.shape[0] == 0:
        raise CaptureError(f"{args.inputs}: input batch is empty (shape {x.shape})")

    bs = args.batch_size or x.shape[0]
    parts = [sess.run([out_name], {ins[0].name: x[i : i + bs]})[0] for i in range(0, x.shape[0], bs)]
    logits = np.concatenate(parts, axis=0)
    if logits.ndim != 2:
        raise CaptureError(f"{model}: output {out_name!r} has shape {logits.shape}; a classifier output [batch, classes] is needed")

    mm = sess.get_modelmeta()
    meta = _base_meta(
        model=args.model_name or model.name,
        dataset=args.dataset,
        captured=f"classifier logits (ONNX output '{out_name}')",
    )
    meta.update(
        model_file=str(args.model),
        model_sha256=_sha256(model),
        model_metadata=dict(mm.custom_metadata_map),
        inputs_file=str(args.inputs),
        input_key=args.input_key,
        labels_key=args.labels_key,
        batch_size=bs,
        onnxruntime_version=ort.__version__,
        notes=notes,
    )
    out = save_dump(args.out, logits, labels=labels, meta=meta)
    _report(out, logits, None, None if labels is None else np.asarray(labels))


# ----------------------------------------------------------------------------------------------
# torch


def _torch_model(args: argparse.Namespace, torch):
    """(model, default transform or None, description)."""
    chosen = [a for a in ("torchvision", "timm", "torchscript") if getattr(args, a)]
    if len(chosen) != 1:
        raise CaptureError("give exactly one of --torchvision ARCH, --timm NAME, --torchscript FILE")
    if args.torchscript:
        if args.weights or args.tv_weights:
            raise CaptureError("--weights/--tv-weights do not apply to a TorchScript file")
        path = Path(args.torchscript)
        if not path.is_file():
            raise CaptureError(f"{path}: TorchScript file not found")
        return torch.jit.load(str(path), map_location="cpu"), None, f"TorchScript {path.name} (sha256 {_sha256(path)[:16]})"
    if args.torchvision:
        tv = _need("torchvision", "torch")
        weights = None
        try:
            if args.tv_weights:  # a member of the architecture's weights enum, e.g. IMAGENET1K_V1
                enum = tv.models.get_model_weights(args.torchvision)
                if args.tv_weights not in enum.__members__:
                    raise CaptureError(f"--tv-weights {args.tv_weights}: {args.torchvision} has {list(enum.__members__)}")
                weights = enum[args.tv_weights]
            kw = {} if args.num_classes is None else {"num_classes": args.num_classes}
            model = tv.models.get_model(args.torchvision, weights=weights, **kw)
        except ValueError as exc:  # unknown architecture
            raise CaptureError(f"--torchvision {args.torchvision}: {exc}") from None
        except OSError as exc:  # not in the local torch cache, and no network to fetch it
            raise CaptureError(f"--tv-weights {args.tv_weights}: not in the local torch cache ({exc})") from None
        transform = weights.transforms() if weights is not None else None
        desc = f"torchvision {args.torchvision}" + (f" weights {weights}" if weights is not None else "")
    else:
        timm = _need("timm", "torch")
        if args.tv_weights:
            raise CaptureError("--tv-weights is for --torchvision; for timm use --pretrained or --weights")
        kw = {} if args.num_classes is None else {"num_classes": args.num_classes}
        try:
            model = timm.create_model(args.timm, pretrained=args.pretrained, **kw)
        except RuntimeError as exc:  # timm: "Unknown model"
            raise CaptureError(f"--timm {args.timm}: {exc}") from None
        except OSError as exc:  # pretrained weights not in the local cache, and no network
            raise CaptureError(f"--timm {args.timm} --pretrained: weights not available offline ({exc})") from None
        cfg = timm.data.resolve_data_config({}, model=model)
        transform = timm.data.create_transform(**cfg)
        desc = f"timm {args.timm}" + (" (pretrained, local cache)" if args.pretrained else "")
    if args.weights:
        path = Path(args.weights)
        if not path.is_file():
            raise CaptureError(f"{path}: weights file not found")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state, strict=True)  # no partial loads
        except RuntimeError as exc:
            raise CaptureError(f"{path}: does not match the architecture ({exc}); is --num-classes right?") from None
        desc += f" state dict {path.name} (sha256 {_sha256(path)[:16]})"
    elif not args.tv_weights and not args.pretrained:
        raise CaptureError("an architecture without weights gives meaningless logits: give --weights FILE, --tv-weights or --pretrained")
    return model, transform, desc


def _explicit_transform(args: argparse.Namespace, tv):
    t = tv.transforms
    steps = []
    if args.grayscale:
        steps.append(t.Grayscale(1))
    if args.resize:
        steps.append(t.Resize(args.resize))
    if args.crop:
        steps.append(t.CenterCrop(args.crop))
    steps.append(t.ToTensor())
    if args.mean is not None or args.std is not None:
        if args.mean is None or args.std is None:
            raise CaptureError("give both --mean and --std")
        steps.append(t.Normalize(args.mean, args.std))
    return t.Compose(steps)


def cmd_torch(args: argparse.Namespace) -> None:
    torch = _need("torch", "torch")
    tv = _need("torchvision", "torch")
    model, default_tf, model_desc = _torch_model(args, torch)
    explicit = any([args.resize, args.crop, args.mean, args.std, args.grayscale])
    if explicit or default_tf is None:
        transform, tf_desc = _explicit_transform(args, tv), "explicit"
    else:
        transform, tf_desc = default_tf, "the weights' own"

    if bool(args.image_folder) == bool(args.tv_dataset):
        raise CaptureError("give exactly one of --image-folder DIR or --tv-dataset NAME")
    if args.image_folder:
        root = Path(args.image_folder)
        if not root.is_dir():
            raise CaptureError(f"{root}: image folder not found")
        ds = tv.datasets.ImageFolder(str(root), transform=transform)
        classes = list(ds.classes)
        ds_desc = f"image folder {root} ({len(ds)} images, {len(classes)} classes)"
    else:
        cls = getattr(tv.datasets, args.tv_dataset, None)
        if cls is None:
            raise CaptureError(f"torchvision.datasets has no {args.tv_dataset!r}")
        kw = {"root": args.data_root, "transform": transform, "download": False}
        if args.split in ("train", "test"):
            kw["train"] = args.split == "train"
        elif args.split:
            kw["split"] = args.split
        try:
            ds = cls(**kw)
        except RuntimeError as exc:  # torchvision says "Dataset not found ..." when not on disk
            raise CaptureError(f"{args.tv_dataset} under {args.data_root}: {exc}") from None
        classes = list(getattr(ds, "classes", []))
        ds_desc = f"torchvision {args.tv_dataset} split {args.split or 'default'} from {args.data_root}"

    n = len(ds) if args.limit is None else min(args.limit, len(ds))
    sub = torch.utils.data.Subset(ds, range(n))
    loader = torch.utils.data.DataLoader(sub, batch_size=args.batch_size, shuffle=False)
    model.eval()
    chunks, labels = [], []
    with torch.no_grad():
        for xb, yb in loader:
            out = model(xb)
            if isinstance(out, (tuple, list)):
                raise CaptureError(f"the model returned {type(out).__name__}; a single [batch, classes] tensor is needed")
            chunks.append(out.float().cpu().numpy())
            labels.append(np.asarray(yb))
    logits = np.concatenate(chunks)
    if logits.ndim != 2:
        raise CaptureError(f"model output has shape {logits.shape}; [batch, classes] is needed")
    y = np.concatenate(labels).astype(np.int64)
    meta = _base_meta(args.model_name or model_desc, args.dataset or ds_desc, "classifier logits")
    meta.update(model_detail=model_desc, dataset_detail=ds_desc, transform=f"{tf_desc}: {transform}",
                classes=classes, rows=n, torch_version=torch.__version__)
    if args.no_labels:
        y = None
    out = save_dump(args.out, logits, labels=y, meta=meta)
    _report(out, logits, None, y)


# ----------------------------------------------------------------------------------------------
# attention


def query_positions(live: int, per_head: int) -> np.ndarray:
    """Query positions kept for a sentence of `live` tokens: all of them (per_head = 0), or
    `per_head` evenly spaced ones that always include the first and the last token."""
    if per_head <= 0 or per_head >= live:
        return np.arange(live)
    return np.unique(np.round(np.linspace(0, live - 1, per_head)).astype(np.int64))


def _parse_index_list(text: str | None, count: int, what: str) -> list[int]:
    if text is None:
        return list(range(count))
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CaptureError(f"--{what}: expected a comma-separated list of integers, got {text!r}") from None
    bad = [v for v in vals if not 0 <= v < count]
    if bad or not vals:
        raise CaptureError(f"--{what}: {bad or 'empty'}; the model has {count} ({what} 0..{count - 1})")
    return vals


def _model_location(args: argparse.Namespace) -> str:
    if bool(args.model) == bool(args.model_package):
        raise CaptureError("give exactly one of --model DIR_OR_ID or --model-package PKG")
    if args.model:
        return args.model
    import importlib

    try:
        pkg = importlib.import_module(args.model_package)
    except ImportError as exc:
        raise CaptureError(f"--model-package {args.model_package}: {exc}") from None
    getter = getattr(pkg, "get_model_path", None)
    path = getter() if callable(getter) else getattr(pkg, "MODEL_DIR", None)
    if path is None or not Path(path).is_dir():
        raise CaptureError(f"--model-package {args.model_package}: exposes no model directory (get_model_path() or MODEL_DIR)")
    return str(path)


def cmd_attention(args: argparse.Namespace) -> None:
    torch = _need("torch", "attention")
    transformers = _need("transformers", "attention")
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    src = Path(args.sentences)
    if not src.is_file():
        raise CaptureError(f"{src}: sentences file not found")
    sentences = [ln.strip() for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not sentences:
        raise CaptureError(f"{src}: no sentences (one per line)")
    location = _model_location(args)
    tok = transformers.AutoTokenizer.from_pretrained(location)

    enc_all = tok(sentences, padding=False, truncation=False)
    lengths = [len(ids) for ids in enc_all["input_ids"]]
    too_long = [(i, n) for i, n in enumerate(lengths) if n > args.lanes]
    if too_long:
        i, n = too_long[0]
        raise CaptureError(f"{src}: sentence {i} has {n} tokens > {args.lanes} lanes ({len(too_long)} such); shorten it or raise --lanes")

    # A registered attention function sees the projected (and, where the model uses it, rotated)
    # query and key of every layer: record Q.K^T * scaling there, then run the stock SDPA kernel.
    captured: list[tuple[int | None, Any, Any]] = []

    def capture(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kw):
        s = query.size(-1) ** -0.5 if scaling is None else scaling
        k = key
        if k.shape[1] != query.shape[1]:  # grouped-query attention: one key head serves several
            k = k.repeat_interleave(query.shape[1] // k.shape[1], dim=1)
        scores = torch.matmul(query, k.transpose(-1, -2)) * s
        captured.append((getattr(module, "layer_idx", None), scores.detach().float().cpu(), None if attention_mask is None else attention_mask.detach().cpu()))
        return ALL_ATTENTION_FUNCTIONS["sdpa"](module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kw)

    impl = "softmax_dv_capture"
    transformers.AttentionInterface.register(impl, capture)
    AttentionMaskInterface.register(impl, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])  # without it the mask is dropped
    model = transformers.AutoModel.from_pretrained(location, attn_implementation=impl).eval()
    stock = transformers.AutoModel.from_pretrained(location, attn_implementation="eager").eval()
    cfg = model.config
    n_layers, n_heads = cfg.num_hidden_layers, cfg.num_attention_heads
    layers = _parse_index_list(args.layers, n_layers, "layers")
    heads = _parse_index_list(args.heads, n_heads, "heads")

    rows_logits, rows_mask = [], []
    r_src, r_layer, r_head, r_query, r_len = [], [], [], [], []
    worst = 0.0
    tokens = []
    for b0 in range(0, len(sentences), args.batch_size):
        batch = sentences[b0 : b0 + args.batch_size]
        enc = tok(batch, padding=True, truncation=False, return_tensors="pt")
        captured.clear()
        with torch.no_grad():
            out = model(**enc)
            ref = stock(**enc, output_attentions=True)
        if len(captured) != n_layers:
            raise CaptureError(f"captured {len(captured)} attention calls for a {n_layers}-layer model; this architecture is not supported")
        # The capture must not change the model: same output as the stock eager model.
        hid_diff = float((out.last_hidden_state - ref.last_hidden_state).abs().max())
        pad = enc["attention_mask"].bool().numpy()  # [B, T] True = real token
        t = pad.shape[1]
        for call, (layer_idx, scores, amask) in enumerate(captured):
            layer = call if layer_idx is None else int(layer_idx)
            sc = scores.numpy()  # [B, H, T, T]
            live = np.broadcast_to(pad[:, None, None, :], sc.shape)
            if amask is not None:  # the model's own mask (padding, and causality for decoders)
                am = amask.numpy()
                allowed = am if am.dtype == np.bool_ else am > np.finfo(am.dtype).min / 2
                live = live & np.broadcast_to(allowed, sc.shape)
            # Check: softmax of the captured scores over the live keys = the stock attention probabilities.
            z = np.where(live, sc, -np.inf)
            zmax = np.max(z, axis=-1, keepdims=True)
            e = np.where(live, np.exp(z - np.where(np.isfinite(zmax), zmax, 0.0)), 0.0)
            den = e.sum(-1, keepdims=True)
            p = np.divide(e, den, out=np.zeros_like(e), where=den > 0)
            q_live = pad[:, None, :, None]
            worst = max(worst, float(np.abs(np.where(q_live, p - ref.attentions[layer].numpy(), 0.0)).max()))
            if layer not in layers:
                continue
            for bi in range(len(batch)):
                n_tok = int(pad[bi].sum())
                for h in heads:
                    for q in query_positions(n_tok, args.queries_per_head):
                        row = np.zeros(args.lanes, dtype=np.float32)
                        m = np.zeros(args.lanes, dtype=bool)
                        m[:t] = live[bi, h, q]
                        row[:t] = np.where(m[:t], sc[bi, h, q], 0.0)
                        rows_logits.append(row)
                        rows_mask.append(m)
                        r_src.append(b0 + bi)
                        r_layer.append(layer)
                        r_head.append(h)
                        r_query.append(int(q))
                        r_len.append(n_tok)
        for bi in range(len(batch)):
            tokens.append(tok.convert_ids_to_tokens(enc["input_ids"][bi][: int(pad[bi].sum())].tolist()))
        if hid_diff > args.tolerance:
            raise CaptureError(f"capturing changed the model's output by {hid_diff:.3g} (> {args.tolerance}); not supported for this model")
    if worst > args.tolerance:
        raise CaptureError(f"softmax of the captured scores differs from the model's attention probabilities by {worst:.3g} (> {args.tolerance})")

    meta = _base_meta(
        model=args.model_name or location,
        dataset=f"{len(sentences)} sentences from {src}",
        captured=(
            f"pre-softmax self-attention scores Q.K^T*scaling, layers {layers}, heads {heads}; "
            "one row per (sentence, layer, head, query position); lanes = key positions; "
            "masked lanes = padding keys (value 0.0)"
        ),
    )
    if args.model_package:
        from importlib.metadata import PackageNotFoundError, version

        try:
            meta["model_package"] = f"{args.model_package} {version(args.model_package.replace('_', '-'))}"
        except PackageNotFoundError:
            meta["model_package"] = args.model_package
    meta.update(
        model_location=location,
        model_type=cfg.model_type,
        lanes=args.lanes,
        query_rows=(
            "all live query positions" if args.queries_per_head <= 0 else
            f"{args.queries_per_head} evenly spaced live query positions per (sentence, layer, head), "
            "first and last token included: round(linspace(0, tokens-1, k))"
        ),
        check_max_abs_diff_vs_eager_probs=worst,
        sentences=sentences,
        tokens=tokens,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
        row_keys={"row_source": "sentence index", "row_layer": "layer", "row_head": "head",
                  "row_query": "query token position", "row_tokens": "live tokens in the sentence"},
    )
    logits = np.stack(rows_logits)
    mask = np.stack(rows_mask)
    rows = {"row_source": np.array(r_src, np.int16), "row_layer": np.array(r_layer, np.int16),
            "row_head": np.array(r_head, np.int16), "row_query": np.array(r_query, np.int16),
            "row_tokens": np.array(r_len, np.int16)}
    out = save_dump(args.out, logits, mask=mask, meta=meta, rows=rows)
    print(f"self-check: max |softmax(scores) - model attention probs| = {worst:.3g}")
    _report(out, logits, mask, None)


# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--out", required=True, help="dump to write (.npz)")
        p.add_argument("--model-name", help="model name to record in meta (default: derived)")

    p = sub.add_parser("onnx", help="ONNX classifier through onnxruntime")
    common(p)
    p.add_argument("--model", required=True, help=".onnx file")
    p.add_argument("--inputs", required=True, help=".npy batch, or .npz holding it")
    p.add_argument("--input-key", help="array in the .npz to feed (default: the only one)")
    p.add_argument("--labels-key", help="array in the .npz with the labels")
    p.add_argument("--output", help="model output to capture (default: the only one)")
    p.add_argument("--batch-size", type=int, default=0, help="rows per run (0 = all at once)")
    p.add_argument("--dataset", required=True, help="what the inputs are (recorded in meta)")
    p.set_defaults(func=cmd_onnx)

    p = sub.add_parser("torch", help="torchvision/timm/TorchScript classifier on images")
    common(p)
    p.add_argument("--torchvision", metavar="ARCH", help="torchvision architecture, e.g. resnet18")
    p.add_argument("--timm", metavar="NAME", help="timm model name")
    p.add_argument("--torchscript", metavar="FILE", help="TorchScript file")
    p.add_argument("--weights", metavar="FILE", help="state-dict file for --torchvision/--timm")
    p.add_argument("--tv-weights", metavar="ENUM", help="torchvision weights enum, e.g. IMAGENET1K_V1 (from the local cache)")
    p.add_argument("--pretrained", action="store_true", help="timm pretrained weights (from the local cache)")
    p.add_argument("--num-classes", type=int, help="classifier width when it differs from the architecture's default")
    p.add_argument("--image-folder", metavar="DIR", help="ImageFolder layout: DIR/<class>/<image>")
    p.add_argument("--tv-dataset", metavar="NAME", help="torchvision dataset class already on disk, e.g. CIFAR10")
    p.add_argument("--data-root", default="data/raw", help="root for --tv-dataset")
    p.add_argument("--split", help="train/test, or the dataset's split name")
    p.add_argument("--resize", type=int)
    p.add_argument("--crop", type=int)
    p.add_argument("--mean", type=float, nargs="+")
    p.add_argument("--std", type=float, nargs="+")
    p.add_argument("--grayscale", action="store_true")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, help="first N samples only")
    p.add_argument("--no-labels", action="store_true", help="do not store the dataset's labels")
    p.add_argument("--dataset", help="dataset description for meta (default: derived)")
    p.set_defaults(func=cmd_torch)

    p = sub.add_parser("attention", help="pre-softmax attention scores of a HF transformer")
    common(p)
    p.add_argument("--model", help="model directory or Hugging Face id (set HF_HUB_OFFLINE=1 to stay offline)")
    p.add_argument("--model-package", help="Python package that ships the model (get_model_path())")
    p.add_argument("--sentences", required=True, help="text file, one sentence per line")
    p.add_argument("--lanes", type=int, default=64, help="N: lanes per row (max tokens per sentence)")
    p.add_argument("--queries-per-head", type=int, default=0, help="query rows per (sentence, layer, head); 0 = all")
    p.add_argument("--layers", help="comma-separated layer indices (default all)")
    p.add_argument("--heads", help="comma-separated head indices (default all)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--tolerance", type=float, default=1e-4, help="self-check bound against the stock model")
    p.set_defaults(func=cmd_attention)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CaptureError, DumpError) as exc:
        print(f"capture_logits {args.cmd}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

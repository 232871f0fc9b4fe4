"""Import another tool's output (.npz, .npy or .csv) as a project logit dump (docs/dumps.md).

    python -m scripts.import_dump IN OUT [--map predictions:logits,ground_truth:labels]
                                  [--from probabilities] [--floor 1e-30]

--map SOURCE:TARGET,...  targets: logits, mask, labels, row_<name>, or - (drop that array).
    A .npy file's single array is called `array` (default target logits); in a CSV with a header
    line the map names columns (e.g. label:labels), and every column it does not map is a lane.
--from probabilities      the values are softmax outputs: logit = ln(max(p, FLOOR)). That equals
    the producer's logits minus a per-row constant, which softmax ignores; FLOOR only bounds the
    logit of a probability that underflowed to 0 (ln 1e-30 = -69.1), which then saturates at the
    bottom of the unit's input range like any very negative logit.

Prints what was converted (also stored in the dump's meta['import_notes']). Exit status 2 with
one message on any problem; nothing is written then.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from models.dumps import PROB_FLOOR, DumpError, import_dump


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--map", default="", help="SOURCE:TARGET pairs, comma-separated")
    ap.add_argument("--from", dest="source", choices=("logits", "probabilities"), default="logits")
    ap.add_argument("--floor", type=float, default=PROB_FLOOR, help=f"probability floor before ln (default {PROB_FLOOR:g})")
    ap.add_argument("--model", help="meta.model for the new dump (default: the input's, or 'unknown (imported)')")
    ap.add_argument("--dataset", help="meta.dataset for the new dump")
    args = ap.parse_args(argv)
    extra = {k: v for k, v in (("model", args.model), ("dataset", args.dataset)) if v}
    argv_used = sys.argv[1:] if argv is None else argv
    try:
        d = import_dump(args.input, args.output, key_map=args.map or None,
                        from_probabilities=args.source == "probabilities", prob_floor=args.floor,
                        command="python -m scripts.import_dump " + shlex.join(argv_used), meta=extra)
    except DumpError as exc:
        print(f"import_dump: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {d.m} rows x {d.n} lanes"
          + (f", labels" if d.labels is not None else "") + (f", {', '.join(sorted(d.rows))}" if d.rows else ""))
    for note in d.notes:
        print(f"  - {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

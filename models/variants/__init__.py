"""The variants of the unit family as objects: one module per variant.

A variant owns what differs between the units: its validation rules, its tables (beyond the
shared exp table), its normalise step of the bit-accurate model, its ideal float function, its
extra RTL parameters and latency, and its directed stimulus. Everything else (the max tree, the
diff, the first exp look-up, the quantiser, the testbench plumbing) is shared and asks the
variant instead of branching on K or `normalise`.

The variant of a configuration follows from its fields alone (`variant_name`), so
models/config.py stays a leaf of plain fields: this package imports only models.tables.

Adding a variant: a module here with a `Variant` subclass registered in VARIANTS and a rule in
`variant_name`, its RTL block, a configuration, tests and docs (docs/numerics.md section 7 lists
the files).
"""
from __future__ import annotations

from .base import Variant, Normalised
from .decision import Decision
from .divide import Divide
from .log_domain import LogDomain

VARIANTS: dict[str, Variant] = {v.name: v for v in (Decision(), LogDomain("topk"), LogDomain("full"), Divide())}

# normalise = ... values a configuration may name (K > 1); the variant then follows from K and N
NORMALISE = ("log", "divide")


def variant_name(k: int, n: int, normalise: str) -> str:
    """The variant of a configuration, from its fields: K = 1 is the decision unit (eq. 18)
    whatever `normalise` says; K > 1 normalises by the top-K sum (eq. 30) in the log domain
    ("topk", or "full" when K = N) or with dividers ("conventional", K = N only)."""
    if k == 1:
        return "decision"
    if normalise == "divide":
        return "conventional"
    return "full" if k == n else "topk"


def variant_of(cfg) -> Variant:
    return VARIANTS[variant_name(cfg.k, cfg.n, cfg.normalise)]


__all__ = ["Variant", "Normalised", "VARIANTS", "NORMALISE", "variant_name", "variant_of"]

"""Deterministic sharding of a pytest run across machines: `--shard i/n` (or SHARD=i/n in the
environment) keeps the i-th of n parts of the collected tests and deselects the rest.

The collected node ids are sorted and dealt round-robin: the k-th id goes to part k mod n + 1.
The split depends only on the set of test ids (not on the collection order or the Python hash
seed), so every machine with the same checkout and options computes the same parts; n shards
together run every test exactly once, and their sizes differ by at most one (a hash of the id
would keep a test's part when others are added, but can leave a part of a small run empty).
i counts from 1. Loaded as a plugin: `-p tb.shard`, or `pytest_plugins = ["tb.shard"]` in
tests/conftest.py (docs/regression.md).
"""
from __future__ import annotations

import os

import pytest


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 1 <= i <= n."""
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise ValueError(f"a shard is 'i/n' with integers 1 <= i <= n, got {text!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"a shard is 'i/n' with integers 1 <= i <= n, got {text!r}")
    return i, n


def parts(nodeids: list[str], n: int) -> dict[str, int]:
    """Test id -> its part (1..n)."""
    return {nid: k % n + 1 for k, nid in enumerate(sorted(set(nodeids)))}


def pytest_addoption(parser):
    parser.getgroup("softmax-dv regression").addoption(
        "--shard", default=os.environ.get("SHARD") or None, metavar="i/n",
        help="run only the i-th of n deterministic parts of the collected tests (default: $SHARD)")


def pytest_configure(config):
    text = config.getoption("--shard")
    if text:
        try:
            config._smx_shard = parse_shard(text)
        except ValueError as e:
            raise pytest.UsageError(f"--shard / SHARD: {e}") from None


def pytest_collection_modifyitems(config, items):
    shard = getattr(config, "_smx_shard", None)
    if shard is None:
        return
    i, n = shard
    part = parts([it.nodeid for it in items], n)
    keep = [it for it in items if part[it.nodeid] == i]
    dropped = [it for it in items if part[it.nodeid] != i]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def pytest_report_header(config):
    shard = getattr(config, "_smx_shard", None)
    return None if shard is None else f"shard {shard[0]}/{shard[1]} (tb.shard: sorted test ids dealt round-robin)"

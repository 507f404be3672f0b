"""The NAS-Bench-201 cell search space: ops, edges, arch strings, isomorphism, mutation, sampling."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Candidate operations; an op's position is its digit in the 6-digit op code."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""(to_node, from_node) for each edge, in official arch-string order."""

NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES
NUM_UNIQUE_ARCHS = 6466


def parse(arch_str: str) -> tuple[str, ...]:
    """Split an official arch string into its 6 ops, in edge order."""
    if not isinstance(arch_str, str):
        raise ValueError(f"arch string must be a str, got {type(arch_str).__name__}")
    nodes = arch_str.split("+")
    if len(nodes) != 3:
        raise ValueError(
            f"invalid arch string {arch_str!r}: expected 3 nodes joined by '+', "
            "like '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'"
        )
    ops: list[str] = []
    for node_index, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise ValueError(f"invalid arch string {arch_str!r}: node {node!r} must start and end with '|'")
        entries = node[1:-1].split("|")
        if len(entries) != node_index:
            raise ValueError(
                f"invalid arch string {arch_str!r}: node {node_index} needs {node_index} inputs, got {len(entries)}"
            )
        for source, entry in enumerate(entries):
            op, sep, src = entry.partition("~")
            if not sep or src != str(source):
                raise ValueError(f"invalid arch string {arch_str!r}: entry {entry!r} must be 'OP~{source}'")
            if op not in OPS:
                raise ValueError(f"invalid arch string {arch_str!r}: unknown op {op!r}; allowed: {', '.join(OPS)}")
            ops.append(op)
    return tuple(ops)


def format_ops(ops: Sequence[str]) -> str:
    """Build the official arch string from 6 ops in edge order."""
    ops = tuple(ops)
    if len(ops) != NUM_EDGES:
        raise ValueError(f"an arch has {NUM_EDGES} ops (one per edge), got {len(ops)}")
    for op in ops:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}; allowed: {', '.join(OPS)}")
    return "+".join(
        "|" + "|".join(f"{ops[e]}~{EDGES[e][1]}" for e in range(NUM_EDGES) if EDGES[e][0] == node) + "|"
        for node in (1, 2, 3)
    )


def to_code(arch_str: str) -> str:
    """6-digit op code of an arch string (digit = position of the op in `OPS`)."""
    return "".join(str(OPS.index(op)) for op in parse(arch_str))


def from_code(code: str) -> str:
    """Arch string of a 6-digit op code."""
    if not (isinstance(code, str) and len(code) == NUM_EDGES and all(c in "01234" for c in code)):
        raise ValueError(f"invalid op code {code!r}: expected {NUM_EDGES} digits in 0..4 ({', '.join(OPS)})")
    return format_ops([OPS[int(c)] for c in code])


@cache
def isomorphism_key(arch_str: str) -> str:
    """Canonical string equal exactly for cells computing the same function (NATS-Bench's unique string)."""
    ops = parse(arch_str)
    node_strings = {0: "0"}
    for node in (1, 2, 3):
        terms = []
        for edge, (to, source) in enumerate(EDGES):
            if to != node:
                continue
            op, inp = ops[edge], node_strings[source]
            if op == "none" or inp == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(inp)
            else:
                terms.append(f"({inp})@{op}")
        node_strings[node] = "+".join(sorted(terms))
    return node_strings[3]


def all_arch_strings_by_code() -> list[str]:
    """Every arch string, ordered by op code (not the official index order)."""
    return [format_ops(ops) for ops in itertools.product(OPS, repeat=NUM_EDGES)]


def mutations(arch_str: str) -> list[str]:
    """All archs that differ from `arch_str` in exactly one edge's op."""
    ops = parse(arch_str)
    return [format_ops((*ops[:e], op, *ops[e + 1 :])) for e in range(NUM_EDGES) for op in OPS if op != ops[e]]


def mutate(arch_str: str, rng: np.random.Generator) -> str:
    """One uniformly random one-edge mutation."""
    options = mutations(arch_str)
    return options[int(rng.integers(len(options)))]


def mutate_node_edge(arch_str: str, rng: np.random.Generator) -> str:
    """NB201's REA mutation: a uniform node (1..3), a uniform incoming edge of it, a uniform different op.

    Unlike `mutate`, edges are not equally likely: node 1's single edge is picked with probability 1/3, each of node
    3's three with 1/9 (xautodl's `mutate_arch_func`).
    """
    ops = list(parse(arch_str))
    node = int(rng.integers(1, 4))
    incoming = [e for e, (to, _) in enumerate(EDGES) if to == node]
    edge = incoming[int(rng.integers(len(incoming)))]
    others = [op for op in OPS if op != ops[edge]]
    ops[edge] = others[int(rng.integers(len(others)))]
    return format_ops(ops)


def unique_representatives(arch_strings: Iterable[str]) -> np.ndarray:
    """Indices of the first arch of each isomorphism class, in the given order."""
    seen: set[str] = set()
    keep = []
    for index, arch in enumerate(arch_strings):
        key = isomorphism_key(arch)
        if key not in seen:
            seen.add(key)
            keep.append(index)
    return np.asarray(keep, dtype=np.int64)


def sample_indices(n: int, seed: int, arch_strings: Sequence[str] | None = None, unique: bool = False) -> np.ndarray:
    """Seeded uniform sample of `n` distinct arch indices, over all archs or one per isomorphism class."""
    pool = np.arange(NUM_ARCHS) if not unique else unique_representatives(_require(arch_strings))
    if not 1 <= n <= len(pool):
        raise ValueError(f"sample size must be in 1..{len(pool)}, got {n}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=n, replace=False))


def _require(arch_strings: Sequence[str] | None) -> Sequence[str]:
    if arch_strings is None:
        raise ValueError("sampling unique archs needs the arch strings in index order (GroundTruth.arch_strings)")
    return arch_strings

"""MIP against random search on a BPE table, many seeds, with simulated measured cost.

Each seed splits the table's archs into two halves at random. The searches select on the first half: evaluating a
config returns its rank agreement with ground truth on those archs (Kendall tau or Spearman rho) and charges the
cost the table measured for it there (seconds on the table's device, or multiply-adds relative to full NB201
training). The chosen config is then scored on the second half, which no search saw: no winner's curse. Only
configs with a result for every arch take part. Per method: mean +- std of the chosen config's held-out score over
the seeds (with a 95% CI of the mean), and the share of seeds whose choice is within noise of the table's best on
the held-out half (a paired bootstrap over those archs does not put the best config confidently ahead).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import stats

from harness import metrics, records
from harness.app.bpe_table import BPETable
from harness.records import fmt_ci, fmt_num, markdown_table
from harness.train import BPE
from searchers.mip.cost import CostModel, macs_rates
from searchers.mip.search import Measurement, MIPSettings, random_search, run_mip
from searchers.mip.space import DIMENSIONS, BPESpace, Config, config_key

UNITS: tuple[str, ...] = ("macs", "seconds")
METRICS: tuple[str, ...] = ("kendall", "spearman")
METHODS: tuple[str, ...] = ("mip-learn", "mip-paper", "random")
N_BOOT = 200
SYNTHETIC_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
"""The reference arch of the synthetic table's cost model."""


def rank_metric(name: str, scores: np.ndarray, truth: np.ndarray) -> float:
    """Kendall tau or Spearman rho of `scores` against `truth` (failed runs rank last, as `metrics.prepare` does)."""
    prepared = metrics.prepare(scores, truth)
    fn = metrics.kendall_tau if name == "kendall" else metrics.spearman
    value = fn(prepared.scores, prepared.truth)
    return value if math.isfinite(value) else 0.0


@dataclass(frozen=True, eq=False)
class TableObjective:
    """A search objective read from the table: rank agreement on arch columns `columns`, their measured cost."""

    table: BPETable
    columns: np.ndarray
    metric: str = "kendall"
    unit: str = "macs"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rows", {config_key(_point(c)): i for i, c in enumerate(self.table.configs)})

    def row(self, config: Config) -> int:
        return self._rows[config_key(_point(config))]  # type: ignore[attr-defined]

    def score(self, row: int, columns: np.ndarray | None = None) -> float:
        cols = self.columns if columns is None else columns
        return rank_metric(self.metric, self.table.scores[row, cols], self.table.truth[cols])

    def cost(self, row: int) -> float:
        if self.unit == "seconds":
            return float(self.table.seconds[row, self.columns].sum())
        return float(self.table.macs[row, self.columns].sum() / self.table.full_macs[self.columns].sum())

    def __call__(self, config: Config) -> Measurement:
        row = self.row(config)
        return Measurement(self.score(row), self.cost(row), reused=True)


def table_space(table: BPETable) -> BPESpace:
    """The BPE space spanned by the table's configs (each dimension: the values its configs take)."""
    values = {d: sorted({c[d] for c in table.configs}, key=_order(d)) for d in DIMENSIONS}
    return BPESpace(values, "the configs of a BPE table")


def compare(
    table: BPETable,
    reference_archs: Sequence[str],
    num_classes: int,
    train_images: int,
    eval_images: int,
    seeds: int = 50,
    budget_share: float = 0.25,
    unit: str = "macs",
    metric: str = "kendall",
    settings: dict | None = None,
    methods: Sequence[str] = METHODS,
    log=print,
) -> dict:
    """Every method of `methods` over `seeds` seeds on the complete configs of `table`; the comparison record."""
    if unit not in UNITS or metric not in METRICS:
        raise ValueError(f"unit must be one of {UNITS} and metric one of {METRICS}; got {unit!r}, {metric!r}")
    if not 0 < budget_share <= 1:
        raise ValueError(f"budget share must be in (0, 1], got {budget_share}")
    complete = np.flatnonzero(table.complete)
    if len(complete) < 4:
        raise ValueError(f"the table has {len(complete)} complete configs; a comparison needs at least 4")
    table = table.subset(complete)
    space = table_space(table)
    candidates = [_point(c) for c in table.configs]
    n = len(table.archs)
    per_seed: dict[str, list[dict]] = {m: [] for m in methods}
    start = time.perf_counter()
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(n)
        select, held = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
        objective = TableObjective(table, select, metric, unit)
        held_out = TableObjective(table, held, metric, unit)
        budget = budget_share * sum(objective.cost(r) for r in range(len(candidates)))
        model = CostModel(tuple(reference_archs), num_classes, train_images, eval_images, len(select))
        if unit == "macs":
            prior = macs_rates(float(table.full_macs[select].sum()))
            model = replace(model, rates=prior, prior=prior)
        truth_held = np.array([held_out.score(r) for r in range(len(candidates))])
        best_row = int(truth_held.argmax())
        for method in methods:
            if method == "random":
                result = random_search(space, objective, model, budget, seed, candidates=candidates)
            else:
                options = dict(settings or {})
                if method == "mip-paper":
                    options = {"per_iteration": 4, "beta": 1.0} | {k: v for k, v in options.items() if k == "n_trees"}
                mode = method.removeprefix("mip-")
                result = run_mip(
                    space, objective, model, MIPSettings(budget, mode, **options, seed=seed), None, candidates
                )
            row = objective.row(result.chosen.config) if result.chosen else None
            per_seed[method].append(
                {
                    "seed": seed,
                    "chosen": row,
                    "held_out": float(truth_held[row]) if row is not None else math.nan,
                    "selection": float(result.chosen.tau) if result.chosen else math.nan,
                    "within_noise": _within_noise(held_out, best_row, row, seed) if row is not None else False,
                    "evaluated": len(result.trials),
                    "spent": result.spent,
                    "budget": budget,
                    "best_held_out": float(truth_held[best_row]),
                }
            )
        if log and (seed + 1) % 10 == 0:
            means = ", ".join(f"{m} {np.nanmean([r['held_out'] for r in per_seed[m]]):.3f}" for m in methods)
            log(f"seed {seed + 1}/{seeds}: held-out {metric} so far {means} ({time.perf_counter() - start:.0f} s)")
    return {
        "format": "bpebench-mip-table",
        "version": 1,
        "seeds": seeds,
        "budget_share": budget_share,
        "unit": unit,
        "metric": metric,
        "settings": settings or {},
        "configs": table.configs,
        "complete_configs": len(candidates),
        "archs": len(table.archs),
        "device": table.device,
        "full_table_held_out": _table_best(table, metric),
        "methods": {m: summarise(per_seed[m]) | {"per_seed": per_seed[m]} for m in methods},
        "paired": {
            m: paired(per_seed[m], per_seed["random"]) for m in methods if m != "random" and "random" in methods
        },
        "wall_seconds": time.perf_counter() - start,
    }


def summarise(rows: list[dict]) -> dict:
    values = np.array([r["held_out"] for r in rows], dtype=np.float64)
    return {
        "n": len(values),
        "mean": float(np.nanmean(values)),
        "std": float(np.nanstd(values, ddof=1)) if len(values) > 1 else math.nan,
        "ci": _mean_ci(values),
        "within_noise_share": float(np.mean([r["within_noise"] for r in rows])),
        "mean_evaluated": float(np.mean([r["evaluated"] for r in rows])),
        "mean_spent_over_budget": float(np.mean([r["spent"] / r["budget"] for r in rows])),
    }


def paired(rows: list[dict], baseline: list[dict]) -> dict:
    """Mean per-seed difference of held-out scores against `baseline`, its 95% CI and a Wilcoxon p-value."""
    diff = np.array([a["held_out"] - b["held_out"] for a, b in zip(rows, baseline, strict=True)])
    p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
    return {"n": len(diff), "mean": float(diff.mean()), "ci": _mean_ci(diff), "wilcoxon_p": p}


def render(record: dict, command: str = "") -> str:
    """The comparison as Markdown."""
    unit = "multiply-adds relative to full NB201 training" if record["unit"] == "macs" else "measured seconds"
    metric = "Kendall tau" if record["metric"] == "kendall" else "Spearman rho"
    synthetic = str(record.get("table", "")).startswith("synthetic")
    lines = [
        "# MIP vs random search on "
        + ("a SYNTHETIC BPE table (known answer; not measured)" if synthetic else "the BPE table"),
        "",
        f"{record['complete_configs']} complete configs x {record['archs']} archs; {record['seeds']} seeds per "
        f"method; each seed selects on a random half of the archs and reports the chosen config's {metric} on the "
        f"other half. Budget per seed: {record['budget_share']:.0%} of the cost of evaluating every config on the "
        f"selection half, charged in {unit} as the table measured them (device: {record['device']}).",
        "",
    ]
    if command:
        lines += ["Reproduce:", "", f"    {command}", ""]
    rows = []
    for method, s in record["methods"].items():
        rows.append(
            [
                method,
                str(s["n"]),
                f"{s['mean']:.3f} +- {s['std']:.3f}",
                fmt_ci(s["mean"], *s["ci"]),
                f"{s['within_noise_share']:.2f}",
                f"{s['mean_evaluated']:.1f}",
                f"{s['mean_spent_over_budget']:.2f}",
            ]
        )
    header = ["method", "n seeds", f"held-out {metric} mean +- std", "mean [95% CI]", "share within noise of best"]
    lines += markdown_table([*header, "configs evaluated", "spent / budget"], rows)
    best = record["full_table_held_out"]
    lines += ["", f"Table's best config over all archs: {best['config']} ({metric} {fmt_num(best['value'])}).", ""]
    for method, p in record["paired"].items():
        lines.append(
            f"- {method} minus random: {fmt_ci(p['mean'], *p['ci'])} over {p['n']} paired seeds "
            f"(Wilcoxon p = {p['wilcoxon_p']:.3g})."
        )
    provenance = record.get("provenance")
    if provenance:
        lines += ["", f"Provenance: commit {provenance['commit']}, {provenance['date']}, {provenance['machine']}."]
    return "\n".join(lines) + "\n"


def compare_command(args: argparse.Namespace) -> int:
    """`bpebench mip table compare`: run `compare` on the table, write OUT.json and OUT.md."""
    from harness.app.bpe_table import load
    from harness.app.cli.common import open_groundtruth
    from harness.datasets import NUM_CLASSES, TRAIN_IMAGES, eval_images

    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    if args.synthetic is not None:
        table = synthetic_table(n_configs=args.synthetic)
        record = compare(
            table, [SYNTHETIC_ARCH], 10, 25_000, 10_000, args.seeds, args.budget, args.unit, args.objective
        )
    else:
        with open_groundtruth(args) as gt:
            table = load(args.table, gt)
            spec = table.spec
            refs = [gt.arch_strings[a] for a in table.archs[:5]]
            record = compare(
                table,
                refs,
                NUM_CLASSES[spec["dataset"]],
                TRAIN_IMAGES[spec["dataset"]],
                spec["eval_images"] or eval_images(spec["dataset"], spec["eval_split"]),
                args.seeds,
                args.budget,
                args.unit,
                args.objective,
            )
    command = (
        f"bpebench mip table compare --table {args.table} --seeds {args.seeds} --budget {args.budget:g} "
        f"--unit {args.unit} --objective {args.objective} --out {args.out}"
        + (f" --synthetic {args.synthetic}" if args.synthetic is not None else "")
    )
    record["table"] = "synthetic (harness.app.mip_table.synthetic_table)" if args.synthetic else str(args.table)
    record["command"] = command
    record["provenance"] = records.collect()
    out = Path(args.out)
    records.write_atomic(out.with_suffix(".json"), json.dumps(records.strict_json(record), indent=1) + "\n")
    text = render(record, command)
    records.write_atomic(out.with_suffix(".md"), text)
    print(text)
    return 0


def synthetic_table(n_configs: int = 42, n_archs: int = 60, seed: int = 0, space: str = "cpu") -> BPETable:
    """A fake table with a known answer: score noise shrinks with epochs, channels and resolution (so those matter
    and the best config is the most trained), lr 0.1 is best; costs are the cost model's work at fixed rates."""
    from searchers.mip.design import halton

    rng = np.random.default_rng(seed)
    configs = [c | {"lr_schedule": "epoch", "eval_images": 0} for c in halton(BPESpace.load(space), n_configs, seed)]
    truth = rng.normal(80, 5, n_archs)
    model = CostModel((SYNTHETIC_ARCH,), 10, 25_000, 10_000, 1)
    scores = np.empty((len(configs), n_archs))
    seconds = np.empty_like(scores)
    macs = np.empty_like(scores)
    for i, config in enumerate(configs):
        quality = synthetic_quality(config)
        scores[i] = truth + rng.normal(0, 5 * (1.6 - quality) / max(quality, 0.05), n_archs)
        work = model.features(config)
        seconds[i] = float(work @ np.array(model.rates)) * rng.lognormal(0, 0.1, n_archs)
        macs[i] = work[0] + work[2]
    full = np.full(n_archs, model.features(BPE().to_dict())[0])
    return BPETable(configs, np.arange(n_archs), truth, scores, seconds, macs, full, "synthetic", {})


def synthetic_quality(config: Config) -> float:
    """In [0, 1]: how well a synthetic-table config ranks (epochs, channels, resolution and lr matter; nothing else)."""
    e = {1: 0.0, 2: 0.6, 4: 0.9, 8: 1.0}.get(config["epochs"], 1.0)
    c = {4: 0.0, 8: 0.7, 16: 1.0}.get(config["channels"], 1.0)
    r = {8: 0.0, 16: 0.8, 32: 1.0}.get(config["resolution"], 1.0)
    lr = {0.05: 0.5, 0.1: 1.0, 0.2: 0.6}.get(config["lr"], 0.5)
    return 0.35 * e + 0.3 * c + 0.2 * r + 0.15 * lr


def _table_best(table: BPETable, metric: str) -> dict:
    values = [rank_metric(metric, table.scores[i], table.truth) for i in range(len(table.configs))]
    best = int(np.argmax(values))
    return {"config": BPE(**table.configs[best]).describe(), "value": values[best], "row": best}


def _within_noise(objective: TableObjective, best: int, row: int, seed: int) -> bool:
    """True unless a paired bootstrap over the held-out archs puts `best` ahead of `row` in 97.5% of resamples."""
    if row == best:
        return True
    rng = np.random.default_rng(seed + 99991)
    cols = objective.columns
    ahead = 0
    for _ in range(N_BOOT):
        sample = rng.choice(cols, len(cols), replace=True)
        ahead += objective.score(best, sample) > objective.score(row, sample)
    return ahead / N_BOOT < 0.975


def _mean_ci(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (math.nan, math.nan)
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return (float(values.mean() - half), float(values.mean() + half))


def _point(config: dict) -> Config:
    return {d: config[d] for d in DIMENSIONS}


def _order(dim: str):
    from harness.train import PRECISIONS

    return (lambda v: PRECISIONS.index(v)) if dim == "precision" else (lambda v: v)

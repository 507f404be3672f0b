"""Render the leaderboard (Markdown, CSV, HTML, PNG) from suite reports; same stored results -> same files."""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import asdict, fields
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness.app.report import CEILING, CeilingRow, EstimatorRow, SearchRow, SuiteReport
from harness.records import fmt_ci, fmt_mean_std, fmt_num, fmt_seconds, markdown_table

PNG_METADATA = {"Software": None}
FREE_MACS = 1e6
"""Where free estimators are drawn on the log cost axis."""


def entry_count(reports: list[SuiteReport]) -> int:
    """Rows of the leaderboard: estimator and search entries over all suites."""
    return sum(len(r.estimators) + len(r.searches) for r in reports)


def stored_entry_count(out: Path) -> int:
    """Rows of the leaderboard already written under `out` (0 where there is none)."""
    path = out / "leaderboard.csv"
    if not path.is_file():
        return 0
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def check_replace(reports: list[SuiteReport], out: Path) -> None:
    """Refuse to replace a leaderboard under `out` that has more entries than this one."""
    before, now = stored_entry_count(out), entry_count(reports)
    if before > now:
        missing = sum(len(r.skipped) for r in reports)
        raise ValueError(
            f"{out} holds a leaderboard of {before} entries and this one has {now} ({missing} skipped in the stored "
            "suite runs; `bpebench suite NAME` lists each with the command that enables it). Pass --force to replace "
            "it anyway, or --out DIR to write this one elsewhere"
        )


def write_all(reports: list[SuiteReport], out: Path, force: bool = True, predictors: dict | None = None) -> list[Path]:
    """Write every output under `out` (unless it would replace a bigger leaderboard and not `force`); the paths.

    `predictors`: the stored result of `benchmarks.predictors_experiment` (its JSON), shown as its k = 100 rows."""
    if not force:
        check_replace(reports, out)
    out.mkdir(parents=True, exist_ok=True)
    extra = predictor_blocks(predictors) if predictors is not None else []
    written = [
        _write(out / "LEADERBOARD.md", markdown(reports, extra)),
        _write(out / "leaderboard.csv", table_csv(reports)),
        _write(out / "leaderboard.html", page_html(reports, extra)),
    ]
    estimator_rows = [r for report in reports for r in report.estimators]
    for dataset in sorted({r.dataset for r in estimator_rows}):
        written.append(_pareto_plot([r for r in estimator_rows if r.dataset == dataset], dataset, out))
    trajectories = {k: v for report in reports for k, v in _budgeted(report).items()}
    if trajectories:
        written.append(_trajectory_plot(trajectories, out))
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _limit(search: SearchRow) -> str:
    """'3.33 h', '100 archs' or '3.33 h or 100 archs': what ended each search."""
    limits = [fmt_seconds(search.budget_s)] if math.isfinite(search.budget_s) else []
    return " or ".join(limits + ([f"{search.queries} archs"] if search.queries else []))


def _seconds_on(seconds: float, device: str) -> str:
    """'1.2 h on nb201-gpu', or '-' for a free estimator."""
    return "-" if device == "none" else f"{fmt_seconds(seconds)} on {device}"


def _macs(value: float) -> str:
    """Multiply-adds in engineering notation: '3.1e12'; '0' for a free estimator."""
    return "n/a" if math.isnan(value) else ("0" if value == 0 else f"{value:.2g}")


def _estimator_name(row: EstimatorRow) -> str:
    return f"{row.estimator} ({row.options})" if row.options else row.estimator


def _estimator_cells(r: EstimatorRow) -> list[str]:
    return [
        r.dataset,
        _estimator_name(r),
        r.family,
        r.target,
        str(r.n),
        fmt_ci(r.kendall_tau, r.tau_low, r.tau_high),
        fmt_ci(r.spearman, r.spearman_low, r.spearman_high),
        fmt_ci(r.precision_at_5, r.precision_at_5_low, r.precision_at_5_high),
        fmt_ci(r.tau_top_10, r.tau_top_10_low, r.tau_top_10_high),
        _seconds_on(r.seconds_per_arch, r.device),
        _macs(r.train_macs_per_arch),
        _macs(r.eval_macs_per_arch),
        str(r.n_failed),
    ]


def _optimum_text(searches: list[SearchRow]) -> str:
    """'Regret = optimum - validation mean, in accuracy points; optimum 91.61 on cifar10-valid (...).'"""
    optima = sorted({(s.dataset, s.optimum, s.target.rpartition(":")[0]) for s in searches})
    where = "; ".join(f"{value:.2f} on {dataset} ({target}, best of all archs)" for dataset, value, target in optima)
    return f"Regret = optimum - validation mean, in accuracy points; optimum {where}."


def _identical_notes(searches: list[SearchRow]) -> list[Block]:
    """A note for each group of searchers whose outcomes are identical (same estimator, limit and results)."""
    groups: dict[tuple, list[str]] = {}
    for s in searches:
        key = (s.dataset, s.estimator, s.options, _limit(s), s.protocol, s.mean, s.std, s.test_mean)
        groups.setdefault(key, []).append(s.searcher)
    notes = []
    for (dataset, estimator, _, limit, _, mean, _, _), names in sorted(groups.items(), key=str):
        if len(names) > 1:
            notes.append(
                (
                    "p",
                    f"Identical outcomes: {', '.join(sorted(names))} with {estimator} on {dataset} ({limit}) chose "
                    f"archs of the same ground truth in every seed ({mean:.2f} %). The estimator's scores, not the "
                    "searcher, decide here: with a score that orders archs by size alone, every searcher that can "
                    "reach the biggest archs within the limit ends on them.",
                )
            )
    return notes


def _by_sample(rows: list[EstimatorRow]) -> list[tuple[str, list[EstimatorRow]]]:
    """Rows grouped by arch sample (its spec and seed), the biggest sample first."""
    groups: dict[str, list[EstimatorRow]] = {}
    for row in rows:
        groups.setdefault(row.archs if row.seed == 0 else f"{row.archs}, seed {row.seed}", []).append(row)
    return sorted(groups.items(), key=lambda item: (-max(r.n for r in item[1]), item[0]))


def _sorted_estimators(rows: list[EstimatorRow]) -> list[EstimatorRow]:
    """By dataset, then arch sample (taus on different samples are not ranked together), then tau."""
    return sorted(
        rows,
        key=lambda r: (r.dataset, -r.n, r.archs, -(-2 if math.isnan(r.kendall_tau) else r.kendall_tau), r.estimator),
    )


def _ceiling_text(ceilings: list[CeilingRow]) -> str:
    parts = [
        f"{c.dataset}, sample {c.archs}: seed {c.seeds}, tau {fmt_ci(c.kendall_tau, c.tau_low, c.tau_high)} "
        f"(n = {c.n}; inside the top 10%: {fmt_num(c.tau_top_10)})"
        for c in ceilings
    ]
    return (
        "Noise ceiling: two independent full trainings ranked against each other (the first two seeds, on the archs "
        "that have both): " + "; ".join(parts) + f". The `{CEILING}` rows score one seed against the held-out seeds."
    )


Block = tuple  # ("h", level, text) | ("p", text) | ("table", header, rows) | ("img", path, alt) | ("ul", items)


def blocks(reports: list[SuiteReport]) -> list[Block]:
    """The leaderboard's content, independent of the output format."""
    out: list[Block] = [
        ("h", 1, "BPE-Bench leaderboard"),
        (
            "p",
            "Generated by `bpebench leaderboard` from stored suite runs (`bpebench suite NAME`); do not edit by hand. "
            "Kendall tau-b, Spearman and the top-k metrics against the mean 200-epoch accuracy on the dataset's "
            "validation split (`target`; `:held-out` = without the seed the estimator read), with percentile-bootstrap "
            "95% intervals (1,000 resamples of the archs); n = archs with ground truth; failed estimates rank last; "
            "top-k metrics are n/a where the top set has fewer than 10 archs. Costs per arch: seconds on the named "
            "device (`nb201-gpu` = NB201's recorded GTX 1080 Ti times) and multiply-adds (MACs) of training and of "
            "evaluation; seconds of different devices are never compared.",
        ),
    ]
    out += _missing_blocks(reports)
    for report in reports:
        p = report.provenance
        out += [
            ("h", 2, f"Suite `{report.label or report.suite}`"),
            (
                "p",
                f"Run at {p['date']} on commit `{p['commit']}`, {p['machine']}, Python {p['python']}; "
                + ", ".join(f"{k} {v}" for k, v in sorted(p["versions"].items()))
                + f". Ground truth: {', '.join(report.groundtruth_sources)}.",
            ),
        ]
        if report.estimators:
            header = [
                "dataset",
                "estimator",
                "family",
                "target",
                "n",
                "Kendall tau [95% CI]",
                "Spearman [95% CI]",
                "P@top5% [95% CI]",
                "tau in top 10% [95% CI]",
                "seconds per arch",
                "training MACs per arch",
                "evaluation MACs per arch",
                "failed",
            ]
            out.append(("h", 3, "Estimators"))
            out.append(
                ("p", "One table per arch sample: estimators are ranked against each other only on the same archs.")
            )
            for sample, sample_rows in _by_sample(report.estimators):
                rows = [_estimator_cells(r) for r in _sorted_estimators(sample_rows)]
                n = max(r.n for r in sample_rows)
                out += [("h", 4, f"Sample `{sample}` (n = {n} archs)"), ("table", header, rows)]
                if below := [r for r in sample_rows if r.tau_high < 0]:
                    names = ", ".join(f"{_estimator_name(r)} on {r.dataset}" for r in below)
                    out.append(
                        (
                            "p",
                            f"Anti-correlated: the whole tau interval of {names} lies below 0, so that estimator "
                            "ranks better archs lower; reversing it would help, using it as is hurts.",
                        )
                    )
            if report.ceilings:
                out.append(("p", _ceiling_text(report.ceilings)))
        if report.searches:
            header = [
                "dataset",
                "searcher",
                "estimator",
                "limit",
                "protocol",
                "seeds",
                "validation (%)",
                "regret (points)",
                "test (%)",
                "search cost (seconds)",
                "search cost (MACs)",
                "queries",
            ]
            rows = [
                [
                    s.dataset,
                    s.searcher,
                    f"{s.estimator} ({s.options})" if s.options else s.estimator,
                    _limit(s),
                    s.protocol,
                    str(s.n),
                    fmt_mean_std(s.mean, s.std),
                    fmt_num(s.optimum - s.mean),
                    fmt_mean_std(s.test_mean, s.test_std),
                    _seconds_on(s.mean_search_cost_s, s.cost_device),
                    _macs(s.mean_search_macs),
                    f"{s.mean_queries:.0f}",
                ]
                for s in sorted(report.searches, key=lambda s: (s.dataset, s.searcher, -s.mean, s.estimator))
            ]
            out += [
                ("h", 3, "Searches"),
                (
                    "p",
                    "Ground truth of the arch each seed chose (mean 200-epoch accuracy, %; held-out seeds where the "
                    "search read that target), mean +- std over seeds; search cost is the estimator's cost of the "
                    "queried archs per search, in seconds on the named device (simulated for tabular estimators) and "
                    "in multiply-adds. Under the nb201 protocol every query is paid, repeats included. "
                    + _optimum_text(report.searches),
                ),
                ("table", header, rows),
                *_identical_notes(report.searches),
            ]
    plots = sorted({f"pareto_{r.dataset}.png" for report in reports for r in report.estimators})
    if any(_budgeted(report) for report in reports):
        plots.append("search_trajectories.png")
    if plots:
        out.append(("h", 2, "Plots"))
        out += [("img", plot, plot.removesuffix(".png")) for plot in plots]
    return out


def _missing_blocks(reports: list[SuiteReport]) -> list[Block]:
    """At the top: which entries the stored runs skipped, why, and what enables each (nothing when complete)."""
    rows = [[r.suite, s["what"], s["reason"], s.get("enable", "-")] for r in reports for s in r.skipped]
    if not rows:
        return [("p", f"Complete: every entry of the suites shown ran ({entry_count(reports)} entries).")]
    text = (
        f"**Incomplete: {len(rows)} entries are missing** ({entry_count(reports)} ran). The suite runs skipped them "
        "for the reasons below; each becomes available with the command beside it, then `bpebench suite NAME` again."
    )
    return [("h", 2, "Missing entries"), ("p", text), ("table", ["suite", "entry", "why", "enable with"], rows)]


PREDICTOR_K = 100


def predictor_blocks(stored: dict, k: int = PREDICTOR_K) -> list[Block]:
    """Every feature set x regressor row at `k` labelled archs of a stored predictors result (no selection)."""
    curves = stored["curves"]
    rows = [r for r in curves["rows"] if r["k"] == k]
    if not rows:
        return []
    made = stored.get("made", {}).get("curves", {})
    text = (
        f"From `results/predictors.json` (regenerate: `{stored['command']}`; commit {made.get('commit', 'unknown')}): "
        f"a regressor fitted on k = {k} archs labelled by {curves['label']}, scored on the row's test archs (never "
        f"fitted) against {curves['target']}; mean over {curves['seeds']} seeds with 95% t-intervals. Label cost = "
        "the k trainings; total cost adds features paid on the same device (the 12-epoch training of every arch "
        "for `hp12`); zero-cost features add CPU seconds on another device, reported apart in that file."
    )
    header = ["features", "regressor", "test archs", "Kendall tau [95% CI]", "Spearman", "label cost", "total cost"]
    cells = [
        [
            r["features"],
            r["regressor"],
            str(r["test_archs"]),
            fmt_ci(r["kendall_tau"]["mean"], r["kendall_tau"]["low"], r["kendall_tau"]["high"]),
            fmt_num(r["spearman"]["mean"]),
            _seconds_on(r["label_seconds"], r["cost_device"]),
            _seconds_on(r["total_seconds"], r["cost_device"]),
        ]
        for r in sorted(rows, key=lambda r: -r["kendall_tau"]["mean"])
    ]
    return [("h", 2, f"Learned predictors at k = {k}"), ("p", text), ("table", header, cells)]


def markdown(reports: list[SuiteReport], extra: list[Block] = ()) -> str:
    lines: list[str] = []
    for block in [*blocks(reports), *extra]:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            lines += [*markdown_table(block[1], block[2], rule="---"), ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "img":
            lines += [f"![{block[2]}]({block[1]})", ""]
    return "\n".join(lines)


def page_html(reports: list[SuiteReport], extra: list[Block] = ()) -> str:
    parts: list[str] = []
    for block in [*blocks(reports), *extra]:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(c)}</th>" for c in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in block[2])
            parts.append(f"<table>\n<tr>{head}</tr>\n{rows}</table>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "img":
            parts.append(f'<img src="{html.escape(block[1])}" alt="{html.escape(block[2])}" width="720">')
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
    )
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>BPE-Bench leaderboard</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def table_csv(reports: list[SuiteReport]) -> str:
    """One CSV: estimator rows then search rows, with a `kind` column and provenance columns."""
    columns = ["kind", "commit", "date"] + [f.name for f in fields(EstimatorRow)]
    columns += [f.name for f in fields(SearchRow) if f.name not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for report in reports:
        stamp = {"commit": report.provenance["commit"], "date": report.provenance["date"]}
        for row in _sorted_estimators(report.estimators):
            writer.writerow({"kind": "estimator", **stamp, **_rounded(asdict(row))})
        for row in report.searches:
            writer.writerow({"kind": "search", **stamp, **_rounded(asdict(row))})
    return buffer.getvalue()


def _rounded(row: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}


def _pareto_plot(rows: list[EstimatorRow], dataset: str, out: Path) -> Path:
    """Kendall tau vs multiply-adds per arch (log), CIs as error bars, the one-seed noise ceiling as a band."""
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    ceiling = [r for r in rows if r.estimator == CEILING]
    for row in ceiling[:1]:
        ax.axhspan(row.tau_low, row.tau_high, color="0.85", zorder=0)
        ax.axhline(row.kendall_tau, color="0.4", ls="--", lw=1, label=f"noise ceiling ({CEILING})")
    families = sorted({r.family for r in rows})
    markers = dict(zip(families, "osD^vP*X", strict=False))
    for row in sorted(rows, key=lambda r: (r.family, r.estimator, r.options)):
        cost = max(row.train_macs_per_arch + row.eval_macs_per_arch, FREE_MACS)
        ax.errorbar(
            cost,
            row.kendall_tau,
            yerr=[[row.kendall_tau - row.tau_low], [row.tau_high - row.kendall_tau]],
            fmt=markers.get(row.family, "o"),
            capsize=3,
            label=f"{_estimator_name(row)} (n={row.n})",
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"multiply-adds per arch, training + evaluation ({FREE_MACS:.0e} shown for free estimators)")
    ax.set_ylabel("Kendall tau-b vs 200-epoch accuracy (unitless, 95% CI bars)")
    ax.set_title(f"Rank agreement vs cost on {dataset}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = out / f"pareto_{dataset}.png"
    fig.savefig(path, metadata=PNG_METADATA)
    plt.close(fig)
    return path


def _budgeted(report: SuiteReport) -> dict:
    """Trajectories of searches under a time budget (query-limited ones share no cost axis; the table has them)."""
    return {key: runs for key, runs in report.trajectories.items() if math.isfinite(key[3])}


def _trajectory_plot(trajectories: dict, out: Path) -> Path:
    """Mean best-so-far ground truth vs search cost, one line per searcher x estimator x budget."""
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for (searcher, estimator, dataset, budget), runs in sorted(trajectories.items()):
        grid = [budget * (i + 1) / 100 for i in range(100)]
        means, spreads = [], []
        for limit in grid:
            values = [_best_at(costs, truths, limit) for costs, truths in runs]
            values = [v for v in values if not math.isnan(v)]
            mean = sum(values) / len(values) if values else math.nan
            means.append(mean)
            spreads.append(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else math.nan)
        (line,) = ax.plot(grid, means, label=f"{searcher} / {estimator} ({dataset}, {fmt_seconds(budget)})")
        low = [m - s for m, s in zip(means, spreads, strict=True)]
        high = [m + s for m, s in zip(means, spreads, strict=True)]
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("search cost (seconds on the estimator's device; nb201-gpu for table estimators)")
    ax.set_ylabel("accuracy of the current best arch, % (mean over seeds, band +- 1 std)")
    ax.set_title("Search trajectories")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = out / "search_trajectories.png"
    fig.savefig(path, metadata=PNG_METADATA)
    plt.close(fig)
    return path


def _best_at(costs: list[float], truths: list[float], limit: float) -> float:
    best = math.nan
    for cost, truth in zip(costs, truths, strict=True):
        if cost > limit:
            break
        best = truth
    return best

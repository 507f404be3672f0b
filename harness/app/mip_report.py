"""Render a MIP run record (`mip_run.run_experiment`) as Markdown: iterations, Pareto front, chosen BPE, baselines."""

from __future__ import annotations

from harness.records import fmt_ci, fmt_num, markdown_table
from harness.train import BPE
from searchers.mip.space import DIMENSIONS


def iteration_table(search: dict) -> list[str]:
    rows = []
    for it in search["iterations"]:
        ranked = sorted(it["importances"].items(), key=lambda kv: -kv[1])
        importances = ", ".join(f"{d} {v:.3f}" for d, v in ranked) or "-"
        pruned = f"{it['pruned']} = {it['fixed_to']}" if it["pruned"] else "-"
        rows.append(
            [
                str(it["index"]),
                str(len(it["remaining"])),
                str(it["configs"]),
                fmt_num(it["best_tau"]),
                f"{it['cost']:.4g}",
                f"{it['spent']:.4g}",
                importances,
                pruned,
            ]
        )
    header = ["iter", "free dims", "configs", "best tau", "cost", "spent", "importance", "pruned"]
    return markdown_table(header, rows)


def trial_table(trials: list[dict], label: str) -> list[str]:
    rows = [
        [
            label,
            str(t["iteration"]),
            BPE(**t["config"]).describe(),
            fmt_num(t["tau"]),
            f"{t['cost']:.4g}",
            f"{t['predicted_cost']:.4g}",
            "stored" if t["reused"] else "computed",
        ]
        for t in trials
    ]
    return markdown_table(["method", "iter", "BPE", "tau", "cost", "predicted", "result"], rows)


def pareto_table(record: dict) -> list[str]:
    rows = []
    for method in ("mip", "random_search"):
        search = record.get(method)
        if not search:
            continue
        for i in search["pareto_front"]:
            t = search["trials"][i]
            rows.append([method, BPE(**t["config"]).describe(), fmt_num(t["tau"]), f"{t['cost']:.4g}"])
    return markdown_table(["method", "BPE", "tau", "cost"], rows)


def _tau_ci(entry: dict) -> str:
    """'0.512 [0.431, 0.590]' from the entry's rank report, else its bare tau."""
    report = entry.get("report")
    if not report:
        return fmt_num(entry.get("tau"))
    tau = report["kendall_tau"]
    return fmt_ci(tau["value"], tau["low"], tau["high"])


def comparison_table(record: dict) -> list[str]:
    rows = []
    for method, chosen in record["chosen"].items():
        if chosen:
            fresh = chosen.get("fresh")
            rows.append(
                [
                    f"{method} (chosen)",
                    BPE(**chosen["config"]).describe(),
                    _tau_ci(chosen),
                    _tau_ci(fresh) if fresh else "-",
                    f"{chosen['cost']:.4g}",
                    "",
                ]
            )
    for base in record["baselines"]:
        cost = base.get("cost", base.get("cost_seconds"))
        config = BPE(**base["config"]).describe() if "config" in base else "NB201 12-epoch table"
        note = base.get("note", "")
        if base["name"] == "tabular-hp12" and base.get("fraction_of_full_cost") is not None:
            note = f"{base['cost_unit']}; {base['fraction_of_full_cost']:.3f} of the 200-epoch cost"
        elif "predicted_cost" in base and cost is not None:
            note = f"predicted {base['predicted_cost']:.4g}"
        rows.append([base["name"], config, _tau_ci(base), "-", f"{cost:.4g}" if cost is not None else "-", note])
    header = ["estimator", "BPE", "tau [95% CI], searched archs", "tau [95% CI], fresh archs", "cost", "note"]
    return markdown_table(header, rows)


def render(record: dict, command: str | None = None) -> str:
    """The whole run as Markdown."""
    exp = record["experiment"]
    mip = record["mip"]
    lines = [
        f"# MIP over the `{exp['space']}` BPE space on {exp['dataset']}",
        "",
        f"{len(record['archs'])} unique archs (seed {exp['seed']}), target {record['target']}, BPE scores on "
        f"{exp['eval_split']}; objective {exp['metric']}; budget {exp['budget']:.4g} of measured cost per method "
        f"({_unit(exp['unit'])}); MIP mode {exp['mode']}, {exp['per_iteration']} configs per iteration, cost bias "
        f"beta {exp['beta']}, importance {exp['importance']} over {exp['resamples']} resamples; chosen configs "
        f"re-scored on {len(record.get('fresh_archs', []))} fresh archs"
        + (f"; chosen = best measured under {exp['cost_cap']:.4g}" if exp["cost_cap"] else "")
        + ".",
        "",
    ]
    if command:
        lines += ["Reproduce (resumes from the results store):", "", f"    {command}", ""]
    lines += ["## Chosen BPE against the baselines", "", *comparison_table(record), ""]
    lines += [
        f"Costs are {_unit(exp['unit'])} ({_devices(record)}), summed over the archs; tabular-hp12's is NB201's "
        "recorded GPU time. "
        "Its scores need the 12-epoch table in the ground-truth file: `bpebench data build --out gt.h5 && "
        "bpebench data add-csv ../shared/data/nb201/nb201-hp12-final-accuracy.csv --preset nb201-hp12 "
        "--groundtruth gt.h5`, then `--groundtruth gt.h5`.",
        "",
    ]
    lines += [
        f"## MIP iterations (stopped: {mip['stop_reason']}; spent {mip['spent']:.4g} of {mip['budget']:.4g})",
        "",
        *iteration_table(mip),
        "",
    ]
    final = mip.get("final_space")
    if final:
        fixed = ", ".join(f"{d} = {final['dimensions'][d][0]}" for d in final["fixed"])
        free = [d for d in DIMENSIONS if len(final["dimensions"][d]) > 1]
        lines += [f"Pruned in order: {fixed or 'none'}; left free: {', '.join(free) or 'none'}.", ""]
    lines += ["## Pareto front (tau vs cost)", "", *pareto_table(record), ""]
    lines += ["## Every evaluated config", "", *trial_table(mip["trials"], "mip")]
    rs = record.get("random_search")
    if rs:
        lines += trial_table(rs["trials"], "random")[2:]
        lines += ["", f"Random search stopped: {rs['stop_reason']}; spent {rs['spent']:.4g} of {rs['budget']:.4g}."]
    model = mip["cost_model"]
    rates = ", ".join(f"{f} {r:.3g}" for f, r in zip(model["features"], model["rates"], strict=True))
    lines += ["", f"Cost model (cost per unit of work, fitted on {model['fitted_on']} MIP configs): {rates}.", ""]
    provenance = record.get("provenance")
    if provenance:
        lines += [
            f"Provenance: commit {provenance['commit']}, {provenance['date']}, {provenance['machine']}, "
            f"Python {provenance['python']}; wall time {record['wall_seconds']:.0f} s.",
            "",
        ]
    return "\n".join(lines)


def _unit(unit: str) -> str:
    return (
        "measured seconds on the device the units ran on"
        if unit == "seconds"
        else ("training plus evaluation multiply-adds relative to full NB201 training of the same archs")
    )


def _devices(record: dict) -> str:
    """The devices the MIP and random-search units ran on, as the store recorded them."""
    names = {t.get("device") for m in ("mip", "random_search") if record.get(m) for t in record[m]["trials"]}
    return "device: " + (", ".join(sorted(n for n in names if n)) or "not recorded")

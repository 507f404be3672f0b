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
                f"{it['cost_seconds']:.0f}",
                f"{it['spent_seconds']:.0f}",
                importances,
                pruned,
            ]
        )
    header = ["iter", "free dims", "configs", "best tau", "cost s", "spent s", "importance", "pruned"]
    return markdown_table(header, rows)


def trial_table(trials: list[dict], label: str) -> list[str]:
    rows = [
        [
            label,
            str(t["iteration"]),
            BPE(**t["config"]).describe(),
            fmt_num(t["tau"]),
            f"{t['cost_seconds']:.0f}",
            f"{t['predicted_cost_seconds']:.0f}",
            "stored" if t["reused"] else "computed",
        ]
        for t in trials
    ]
    return markdown_table(["method", "iter", "BPE", "tau", "cost s", "predicted s", "result"], rows)


def pareto_table(record: dict) -> list[str]:
    rows = []
    for method in ("mip", "random_search"):
        search = record.get(method)
        if not search:
            continue
        for i in search["pareto_front"]:
            t = search["trials"][i]
            rows.append([method, BPE(**t["config"]).describe(), fmt_num(t["tau"]), f"{t['cost_seconds']:.0f}"])
    return markdown_table(["method", "BPE", "tau", "cost s"], rows)


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
            rows.append(
                [
                    f"{method} (chosen)",
                    BPE(**chosen["config"]).describe(),
                    _tau_ci(chosen),
                    f"{chosen['cost_seconds']:.0f} s",
                    "",
                ]
            )
    for base in record["baselines"]:
        cost = base.get("cost_seconds")
        config = BPE(**base["config"]).describe() if "config" in base else "NB201 12-epoch table"
        note = base.get("note", "")
        if base["name"] == "tabular-hp12" and base.get("fraction_of_full_cost") is not None:
            note = f"{base['cost_unit']}; {base['fraction_of_full_cost']:.3f} of the 200-epoch cost"
        elif "predicted_cost_seconds" in base and cost is not None:
            note = f"predicted {base['predicted_cost_seconds']:.0f} s"
        rows.append([base["name"], config, _tau_ci(base), f"{cost:.0f} s" if cost is not None else "-", note])
    return markdown_table(["estimator", "BPE", "Kendall tau [95% CI]", "cost", "note"], rows)


def render(record: dict, command: str | None = None) -> str:
    """The whole run as Markdown."""
    exp = record["experiment"]
    mip = record["mip"]
    lines = [
        f"# MIP over the `{exp['space']}` BPE space on {exp['dataset']}",
        "",
        f"{len(record['archs'])} unique archs (seed {exp['seed']}), target {record['target']}, BPE scores on "
        f"{exp['eval_split']}; budget {exp['budget']:.0f} s of evaluation cost per method; {exp['per_iteration']} "
        f"configs per iteration, cost bias beta {exp['beta']}, importance {exp['importance']}; chosen BPE = highest "
        f"tau" + (f" under {exp['cost_cap']:.0f} s" if exp["cost_cap"] else "") + ".",
        "",
    ]
    if command:
        lines += ["Reproduce (resumes from the results store):", "", f"    {command}", ""]
    lines += ["## Chosen BPE against the baselines", "", *comparison_table(record), ""]
    lines += [
        "Costs are measured seconds of this machine summed over the archs; tabular-hp12's is NB201's recorded GPU "
        "time. Its scores need the 12-epoch table in the ground-truth file: `bpebench data build --out gt.h5 && "
        "bpebench data add-csv ../shared/data/nb201/nb201-hp12-final-accuracy.csv --preset nb201-hp12 "
        "--groundtruth gt.h5`, then `--groundtruth gt.h5`.",
        "",
    ]
    lines += [
        f"## MIP iterations (stopped: {mip['stop_reason']}; spent {mip['spent_seconds']:.0f} s)",
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
        lines += ["", f"Random search stopped: {rs['stop_reason']}; spent {rs['spent_seconds']:.0f} s."]
    model = mip["cost_model"]
    rates = ", ".join(f"{f} {r:.3g}" for f, r in zip(model["features"], model["rates"], strict=True))
    lines += ["", f"Cost model (seconds per unit, fitted on {model['fitted_on']} MIP configs): {rates}.", ""]
    provenance = record.get("provenance")
    if provenance:
        lines += [
            f"Provenance: commit {provenance['commit']}, {provenance['date']}, {provenance['machine']}, "
            f"Python {provenance['python']}; wall time {record['wall_seconds']:.0f} s.",
            "",
        ]
    return "\n".join(lines)

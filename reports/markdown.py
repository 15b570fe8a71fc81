"""``report.md``: a compact summary of a run, suitable for a CI job summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mtrec.measure.group_headlines import group_gap_headlines
from mtrec.reports.ablation import markdown_lines as ablation_lines
from mtrec.reports.explanations import markdown_lines as explanation_lines
from mtrec.reports.leaderboard import leaderboard_markdown
from mtrec.reports.overview import build_overview, labelled
from mtrec.reports.rounds import markdown_lines as rounds_lines
from mtrec.reports.scenes import markdown_lines as scene_lines
from mtrec.reports.summary import (
    TaskColumn,
    compact,
    flops_cell,
    metric_cell,
    number,
    ranking_columns,
    strategy,
    task_columns,
    task_types,
)
from mtrec.reports.text import markdown_cell
from mtrec.reports.timing import markdown_lines as time_lines
from mtrec.run.plugin_values import metric_result
from mtrec.store.leaderboard import build_leaderboard, source_of
from mtrec.store.results_reader import unfinished


def _escape(text: Any) -> str:
    """Every cell and data string of report.md: see :func:`mtrec.reports.text.markdown_cell`."""
    return markdown_cell(text)


def render_markdown(document: Mapping[str, Any], run_dir: Path | None = None) -> str:
    """The Markdown report: the leaderboard, accuracy, trivial reference, efficiency, group
    gaps, tradeoffs, per-task gains (when the run has single-task baselines) and failures.
    ``run_dir`` (the run folder) gives single-seed leaderboard cells their interval from the
    saved predictions."""
    # One backbone listed twice with different settings: rows labelled by what differs.
    records = labelled(document.get("records", []))
    ok = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] != "ok"]
    env = document.get("environment", {})
    suite = document.get("suite", {})
    lines = [
        f"# mtrec run: {_escape(suite.get('name', '?'))}",
        "",
        f"{len(ok)} ok, {len(failed)} failed, started {document.get('started')}, "
        f"device {env.get('device')} ({_escape(env.get('device_name'))}), "
        f"torch {env.get('torch')}, transformers {env.get('transformers')}, "
        f"mtrec {env.get('mtrec')}.",
        "",
    ]
    problem = unfinished(document)
    if problem is not None:
        lines += [f"**Unfinished run**: {_escape(problem)}.", ""]
    if not records:
        lines += ["No records: this run holds no combinations.", ""]
    else:
        board = build_leaderboard([source_of(document, run_dir)])
        lines += [*leaderboard_markdown(board), ""]
    columns = task_columns(ok)
    if ok:
        lines += ["## Accuracy (test split)", ""]
        header = ["backbone", "strategy", "head set", "domain", "seed", *(c.title for c in columns)]
        lines += _table(
            header,
            [
                [
                    r["backbone"],
                    strategy(r),
                    r["head_set"],
                    r["domain"],
                    str(r["seed"]),
                    *(metric_cell(r, c) for c in columns),
                ]
                for r in ok
            ],
        )
        ranked = "ranking" in task_types(ok)
        lines += [
            "",
            "Trivial predictor on the same test split (majority class, train mean, base rate"
            + (
                "; for a ranking task the most-popular ranking of the same candidates"
                if ranked
                else ""
            )
            + "):",
            "",
        ]
        lines += _table(["domain", *(c.title for c in columns)], _reference_rows(ok, columns))
        lines += _ranking_lines(ok)
        lines += rounds_lines(document)  # the feedback loop (protocol: rounds)
        lines += ["", "## Efficiency", ""]
        if any(r["efficiency"].get("flops_per_sample_cached") is not None for r in ok):
            lines += [
                "Latency and FLOPs are the end-to-end serving cost (a frozen backbone encodes "
                "the request's texts); \"cached\" is the cost when both texts' features are "
                "already cached. The Pareto front uses the end-to-end cost.",
                "",
            ]
        sizes = sorted(
            {size for r in ok for size in r["efficiency"].get("latency_ms", {})}, key=int
        )
        ranks = any(r["efficiency"].get("ranking") for r in ok)
        lines += _table(
            [
                "backbone",
                "strategy",
                "head set",
                "domain",
                "seed",
                *(f"latency p50 / p95 ms (bs {size})" for size in sizes),
                *(["ranking ms/user"] if ranks else []),
                "train samples/s",
                "infer samples/s",
                "params",
                "trainable",
                "FLOPs/sample",
                "peak RSS MB",
                "CUDA peak MB",
                "MFU",
                "epochs (best)",
            ],
            [
                [
                    r["backbone"],
                    strategy(r),
                    r["head_set"],
                    r["domain"],
                    str(r["seed"]),
                    *(_latency_cell(r, size) for size in sizes),
                    *([_ranking_cell(r)] if ranks else []),
                    number(r["efficiency"].get("train_samples_per_s"), 1),
                    number(r["efficiency"].get("inference_samples_per_s"), 1),
                    compact(r["efficiency"].get("params")),
                    compact(r["efficiency"].get("trainable_params")),
                    flops_cell(r),
                    number(r["efficiency"].get("peak_memory_mb"), 0),
                    number(r["efficiency"].get("cuda_peak_memory_mb"), 0),
                    number(r["efficiency"].get("mfu"), 3),
                    f"{r['training']['epochs_run']} ({r['training']['best_epoch']})",
                ]
                for r in ok
            ],
        )
        lines += _headline_gap_lines(ok)
        lines += _attribute_gap_lines(ok)
        lines += _tradeoff_lines(document)
        lines += ablation_lines(document)
        lines += scene_lines(ok)  # each task per context value (context-gap)
        lines += explanation_lines(document, run_dir)
    lines += time_lines(document)  # where the sweep's time went
    if failed:
        lines += ["", "## Failed combinations", ""]
        lines += _table(
            ["backbone", "head set", "domain", "seed", "reason"],
            [
                [r["backbone"], r["head_set"], r["domain"], str(r["seed"]), r.get("error") or "?"]
                for r in failed
            ],
        )
    lines += [
        "",
        "Metrics are recomputable from `predictions/KEY/TASK.csv` "
        "(ranking tasks: `predictions/KEY/ranking/TASK.csv` and `TASK.json`); "
        "full figures are in `results.json`.",
        "",
    ]
    return "\n".join(lines)


def _reference_rows(
    ok: Sequence[Mapping[str, Any]], columns: Sequence[TaskColumn]
) -> list[list[str]]:
    """The trivial reference's figures, once per domain."""
    seen: set[str] = set()
    rows = []
    for r in ok:
        if r["domain"] in seen:
            continue
        seen.add(r["domain"])
        trivial = {"metrics": r.get("reference", {}).get("trivial", {})}
        rows.append([r["domain"], *(metric_cell(trivial, c) for c in columns)])
    return rows


def _ranking_lines(ok: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ranking tasks' item-side figures at the primary cut-off, the most-popular ranking
    last; every other cut-off is in results.json and the HTML report."""
    columns = ranking_columns(ok)
    if not columns:
        return []
    rows = [
        [
            r["backbone"],
            strategy(r),
            r["domain"],
            str(r["seed"]),
            *(metric_cell(r, c) for c in columns),
        ]
        for r in ok
    ]
    rows += [["(most-popular)", "", row[0], "", *row[1:]] for row in _reference_rows(ok, columns)]
    return [
        "",
        "## Ranking: item side",
        "",
        "Over every user's list at the primary cut-off: catalogue coverage, Gini of the "
        "exposure, popularity lift (mean training popularity of the listed items over the "
        "catalogue's) and tail share (listed items outside the most popular 20 %). Every "
        "cut-off and figure is in `results.json`; the lists are in "
        "`predictions/KEY/ranking/TASK.csv`.",
        "",
        *_table(["backbone", "strategy", "domain", "seed", *(c.title for c in columns)], rows),
    ]


def _attribute_gap_lines(ok: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each task's between-group gap per sensitive attribute (intersections: results.json)."""
    rows = []
    for r in ok:
        for task, attributes in metric_result(r, "group-gap").items():
            if not isinstance(attributes, Mapping):
                continue
            for attribute, figures in attributes.items():
                if "&" in attribute or not isinstance(figures, Mapping):
                    continue
                interval = figures.get("difference_ci")
                rows.append(
                    [
                        r["backbone"],
                        strategy(r),
                        r["domain"],
                        task,
                        attribute,
                        str(figures.get("metric")),
                        number(figures.get("difference")),
                        "-" if not interval else f"[{number(interval[0])}, {number(interval[1])}]",
                        str(figures.get("worst_group") or "-"),
                        _left_out(figures),
                    ]
                )
    if not rows:
        return []
    return [
        "",
        "## Group gaps per attribute",
        "",
        *_table(
            [
                "backbone",
                "strategy",
                "domain",
                "task",
                "attribute",
                "metric",
                "gap",
                "95% CI",
                "worst group",
                "left out (too few users)",
            ],
            rows,
        ),
    ]


def _left_out(figures: Mapping[str, Any]) -> str:
    """The groups below fairness.min_group_users, with their users."""
    users = figures.get("group_users") or {}
    return (
        ", ".join(f"{g} ({users.get(g, '?')})" for g in figures.get("excluded_groups") or []) or "-"
    )


def _tradeoff_lines(document: Mapping[str, Any]) -> list[str]:
    """The tradeoff summary per combination and, when the run has them, per-task gains."""
    overview = build_overview(document)
    objectives = overview["objectives"]
    lines = ["", "## Tradeoffs", ""]
    lines += _table(
        ["combination", *(o["label"] for o in objectives), "Pareto-optimal"],
        [
            [
                c["label"],
                *(number((c["summary"] or {}).get(o["name"]), 3) for o in objectives),
                "yes" if c["pareto_optimal"] else "",
            ]
            for c in overview["combinations"]
            if c["status"] == "ok"
        ],
    )
    gains = overview["subtask_gains"]
    if gains:
        lines += ["", "## Per-task gain over single-task baselines (D_t %)", ""]
        lines += _table(
            ["combination", "task", "metric", "gain", "CI", "negative transfer"],
            [
                [
                    row["label"],
                    row["task"],
                    str(row["metric"]),
                    number(row["gain"], 2),
                    "-"
                    if not row["ci"]
                    else f"[{number(row['ci'][0], 2)}, {number(row['ci'][1], 2)}]",
                    "yes" if row["negative_transfer"] else "",
                ]
                for row in gains
            ],
        )
    return lines


def _ranking_cell(record: Mapping[str, Any]) -> str:
    """Wall time to rank every test user's candidates, per user (and the candidate count)."""
    entry = record["efficiency"].get("ranking")
    if not entry:
        return "-"
    return f"{number(entry['ms_per_user'], 2)} ({compact(entry['candidate_pairs'])} pairs)"


def _latency_cell(record: Mapping[str, Any], size: str) -> str:
    entry = record["efficiency"].get("latency_ms", {}).get(size)
    if entry is None:
        return "-"
    shown = f"{number(entry['p50'], 3)} / {number(entry['p95'], 3)}"
    cached = (record["efficiency"].get("latency_ms_cached") or {}).get(size)
    return shown if not cached else f"{shown} (cached {number(cached['p50'], 3)})"


def _headline_gap_lines(ok: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per record and task: the largest gap between groups with enough users, in the task's
    own metric (gaps of different metrics are never compared)."""
    rows = [
        [
            r["backbone"],
            r["head_set"],
            r["domain"],
            str(r["seed"]),
            h.task,
            h.metric,
            h.attribute,
            number(h.difference),
            "-" if h.interval is None else f"[{number(h.interval[0])}, {number(h.interval[1])}]",
            h.worst_group or "-",
            h.support(),
        ]
        for r in ok
        for h in group_gap_headlines(r)
    ]
    header = ["backbone", "head set", "domain", "seed", "task", "metric", "where", "gap"]
    return [
        "",
        "## Group fairness (largest gap per task)",
        "",
        "Groups with fewer users than `fairness.min_group_users` are left out of the gaps.",
        "",
        *_table([*header, "95% CI", "worst group", "support"], rows),
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_escape(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows]
    return lines

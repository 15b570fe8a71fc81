"""``report.html``: one self-contained page with plots and sortable tables.

Nothing is fetched when the page is opened: the CSS, the table-sorting script and the SVG
plots are inline, and a Content-Security-Policy forbids every network request and every
script but the page's own (allowed by its hash). Strings from the run (plugin, task, group
names, error messages) are escaped where they enter markup; the overview embedded as JSON for
other tools has ``<``, ``>`` and ``&`` written as ``\\u003c`` etc., so it cannot end its
``<script>`` element.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtrec.reports import plots
from mtrec.reports.ablation import html_section as ablation_section
from mtrec.reports.explanations import STYLE as EXPLANATION_STYLE
from mtrec.reports.explanations import html_section as explanation_section
from mtrec.reports.leaderboard import leaderboard_html
from mtrec.reports.overview import build_overview, finite
from mtrec.reports.plots import text
from mtrec.reports.rounds import html_section as rounds_section
from mtrec.reports.summary import compact, is_ranking, number, reference_name, shown_metrics
from mtrec.reports.timing import html_section as time_section
from mtrec.store.leaderboard import build_leaderboard, source_of


def render_html(document: Mapping[str, Any], run_dir: Path | None = None) -> str:
    """The HTML report of a run (``results.json`` as loaded); ``run_dir`` (the run folder)
    gives single-seed leaderboard cells their interval from the saved predictions."""
    board = None
    if document.get("records"):
        board = leaderboard_html(build_leaderboard([source_of(document, run_dir)]))
    return render_overview_html(
        build_overview(document),
        leaderboard=board,
        explanations=explanation_section(document, run_dir),
        timing=time_section(document),
        feedback=rounds_section(document),
    )


def render_overview_html(
    overview: Mapping[str, Any],
    leaderboard: str | None = None,
    explanations: str | None = None,
    timing: str | None = None,
    feedback: str | None = None,
) -> str:
    """The HTML report from an overview built by ``mtrec.reports.overview.build_overview``;
    ``leaderboard``: the leaderboard section's HTML (:mod:`mtrec.reports.leaderboard`);
    ``explanations``: the Explanations section's (:mod:`mtrec.reports.explanations`);
    ``timing``: the "Where the time went" section's (:mod:`mtrec.reports.timing`);
    ``feedback``: the "Feedback loop" section's (:mod:`mtrec.reports.rounds`)."""
    run = overview["run"]
    title = f"mtrec report: {run.get('suite') or '?'}"
    sections = [
        *([("leaderboard", "Leaderboard", leaderboard)] if leaderboard else []),
        ("combinations", "Combinations", _combinations_section(overview)),
        ("tradeoffs", "Tradeoffs", _tradeoffs_section(overview)),
        ("gains", "Per-task gains", _gains_section(overview)),
        *(
            [("ablation", "Input ablation", ablation_section(overview["ablations"]))]
            if overview.get("ablations")
            else []
        ),
        ("accuracy", "Accuracy", _accuracy_section(overview)),
        *([("feedback-loop", "Feedback loop", feedback)] if feedback else []),
        ("group-fairness", "Group fairness", _group_section(overview)),
        ("latency", "Latency and cost", _latency_section(overview)),
        *([("explanations", "Explanations", explanations)] if explanations else []),
        *([("time", "Where the time went", timing)] if timing else []),
        ("failures", "Failed combinations", _failures_section(overview)),
    ]
    nav = " ".join(f'<a href="#{anchor}">{text(name)}</a>' for anchor, name, _ in sections)
    body = "".join(
        f'<section id="{anchor}"><h2>{text(name)}</h2>{content}</section>'
        for anchor, name, content in sections
    )
    env = run.get("environment") or {}
    meta = (
        f"{run['ok']} ok, {run['failed']} failed; started {run.get('started')}, "
        f"finished {run.get('finished')}; device {env.get('device')} ({env.get('device_name')}), "
        f"python {env.get('python')}, torch {env.get('torch')}, "
        f"transformers {env.get('transformers')}, mtrec {env.get('mtrec')}"
    )
    script_hash = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{script_hash}'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{text(title)}</title><style>{STYLE}{EXPLANATION_STYLE}</style></head><body>"
        f"<header><h1>{text(title)}</h1>"
        f'<p class="description">{text(run.get("description") or "")}</p>'
        f'<p class="meta">{text(meta)}</p><nav>{nav}</nav></header>'
        f"<main>{body}</main>"
        "<footer>Generated by mtrec from results.json. Every metric is recomputable from "
        "predictions/KEY/TASK.csv. Click a table header to sort; hover a mark for its "
        "figures.</footer>"
        f'<script type="application/json" id="mtrec-overview">{script_json(overview)}</script>'
        f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (and has no NaN, which JSON lacks)."""
    encoded = json.dumps(_finite_only(value), ensure_ascii=False, separators=(",", ":"))
    for character, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        encoded = encoded.replace(character, escaped)
    # U+2028/2029 are valid in JSON but end a line in older JavaScript parsers.
    return encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _finite_only(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite_only(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Cell:
    """A table cell: what is shown and what it sorts by."""

    shown: str  # displayed text (raw; escaped when rendered)
    sort: float | str | None = None  # sort key: "" (no value) sorts last; None: the shown text
    css: str = ""  # class of the cell


def _value(value: Any, digits: int = 4) -> Cell:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return Cell(shown="-", sort="", css="num")
    if isinstance(value, float) and not math.isfinite(value):
        return Cell(shown=str(value), sort="", css="num")
    return Cell(shown=number(value, digits), sort=float(value), css="num")


def _compact(value: Any) -> Cell:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return Cell(shown="-", sort="", css="num")
    return Cell(shown=compact(value), sort=float(value), css="num")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Cell | str]], name: str) -> str:
    """A sortable table; ``name`` becomes its ``data-table`` attribute (for tests, styling)."""
    head = "".join(f'<th scope="col">{text(h)}</th>' for h in headers)
    lines = []
    for row in rows:
        cells = []
        for cell in row:
            cell = cell if isinstance(cell, Cell) else Cell(shown=cell)
            key = "" if cell.sort is None else f' data-sort="{text(cell.sort)}"'
            css = f' class="{cell.css}"' if cell.css else ""
            cells.append(f"<td{css}{key}>{text(cell.shown)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="sortable" data-table="{text(name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table></div>"
    )


def _none(message: str) -> str:
    return f'<p class="none">{text(message)}</p>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{text(caption)}</figcaption></figure>"


def _ok(overview: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in overview["combinations"] if c["status"] == "ok"]


# --------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------


def _combinations_section(overview: Mapping[str, Any]) -> str:
    combinations = overview["combinations"]
    if not combinations:
        return _none("This run has no combinations.")
    objectives = overview["objectives"]
    headers = ["backbone", "strategy", "head set", "domain", "seed", "status"]
    headers += [f"{o['label']} {_arrow(o['direction'])}" for o in objectives]
    headers.append("Pareto-optimal")
    rows = []
    for c in combinations:
        summary = c.get("summary") or {}
        row: list[Cell | str] = [
            c["backbone_label"],
            c["strategy"],
            c["head_set"],
            c["domain"],
            _value(c["seed"]),
            Cell(shown=c["status"], css=f"status-{c['status']}"),
        ]
        row += [_value(summary.get(o["name"]), 3) for o in objectives]
        on_front = c["pareto_optimal"]
        row.append(Cell(shown="yes" if on_front else "", sort=1 if on_front else 0))
        rows.append(row)
    explanation = (
        "A combination is Pareto-optimal when no other is at least as good on every objective "
        "both report and better on one. The accuracy score is the geometric-mean gain (%) of "
        "the tasks' primary test metrics over the trivial predictor, the rule that also picks "
        "each checkpoint: every task's relative change counts alike."
    )
    return f"<p>{text(explanation)}</p>" + _table(headers, rows, "combinations")


def _tradeoffs_section(overview: Mapping[str, Any]) -> str:
    ok = _ok(overview)
    labels = {o["name"]: o["label"] for o in overview["objectives"]}
    parts = []
    for x_name, caption in (
        ("latency_p50_ms", "Accuracy score against p50 latency (batch size 1)."),
        (
            "worst_group_gap",
            "Accuracy score against the largest per-task group gap (group-gap metric), in % "
            "of the task's metric: gaps in different metrics are never compared raw.",
        ),
    ):
        points = []
        for c in ok:
            summary = c.get("summary") or {}
            x, y = finite(summary.get(x_name)), finite(summary.get("score"))
            if x is not None and y is not None:
                details = "; ".join(
                    f"{labels[name]}: {plots.number(value, 4)}"
                    for name, value in summary.items()
                    if name not in (x_name, "score") and _plottable(value) and name in labels
                )
                points.append(
                    plots.Point(
                        x=x,
                        y=y,
                        label=c["label"],
                        on_front=c["pareto_optimal"],
                        details=details,
                    )
                )
        title = f"{labels['score']} vs {labels[x_name]}"
        if points:
            svg = plots.scatter(
                points, x_label=labels[x_name], y_label=labels["score"], title=title
            )
            parts.append(f"<h3>{text(title)}</h3>" + _figure(svg, caption))
        else:
            parts.append(
                f"<h3>{text(title)}</h3>"
                + _none(f"No data: no combination reports both {labels[x_name]} and the score.")
            )
    return "".join(parts)


def _gains_section(overview: Mapping[str, Any]) -> str:
    subtask = overview["subtask_gains"]
    if subtask:
        bars = [
            plots.Bar(
                group=row["label"],
                series=row["task"],
                value=row["gain"],
                low=(row["ci"] or [None, None])[0],
                high=(row["ci"] or [None, None])[1],
                details=(
                    f"{row['metric']}: multi-task {_fmt(row['multi_task'])} vs single-task "
                    f"{_fmt(row['baseline'])}"
                    + ("; negative transfer" if row["negative_transfer"] else "")
                ),
                flagged=row["negative_transfer"],
            )
            for row in subtask
        ]
        svg = plots.gain_bars(
            bars, x_label="gain D_t over the single-task baseline (%)", title="per-task gain"
        )
        caption = (
            "Per-task gain of the multi-task model over single-task baselines "
            "(same backbone, domain and budget), with confidence intervals; "
            "dashed outline: negative transfer."
        )
        return _figure(svg, caption) + _subtask_table(overview, subtask)
    trivial = overview["trivial_gains"]
    if not trivial:
        return _none("No data: no ok combination has both test metrics and a trivial reference.")
    bars = [
        plots.Bar(
            group=row["label"],
            series=row["task"],
            value=row["gain"],
            low=(row["range"] or [None, None])[0],
            high=(row["range"] or [None, None])[1],
            details=(
                f"{row['metric']} over {row.get('reference', 'trivial')}; "
                f"seeds {', '.join(str(s) for s in row['seeds'])}"
            ),
        )
        for row in trivial
    ]
    svg = plots.gain_bars(
        bars,
        x_label="relative gain of the primary metric over the trivial predictor (%)",
        title="per-task gain over the trivial predictor",
    )
    seeds = max(len(row["seeds"]) for row in trivial)
    caption = (
        "This run has no single-task baselines, so the bars show each task's relative gain "
        "over the trivial predictor (majority class, train mean, base rate"
        + (
            "; a ranking task's: the most-popular ranking"
            if any(row.get("reference") == "most-popular" for row in trivial)
            else ""
        )
        + ")"
        + (
            ", averaged over seeds; whiskers span the seeds' range."
            if seeds > 1
            else "; one seed, so no interval."
        )
    )
    return _figure(svg, caption)


def _subtask_table(overview: Mapping[str, Any], subtask: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for row in subtask:
        low, high = row["ci"] or [None, None]
        rows.append(
            [
                row["label"],
                row["task"],
                row["metric"] or "-",
                _value(row["multi_task"]),
                _value(row["baseline"]),
                _value(row["gain"], 3),
                Cell(shown="-" if low is None else f"[{_fmt(low, 3)}, {_fmt(high, 3)}]"),
                Cell(shown="yes" if row["negative_transfer"] else "", css="flag"),
            ]
        )
    return _table(
        [
            "combination",
            "task",
            "metric",
            "multi-task",
            "single-task",
            "gain D_t %",
            "CI",
            "negative transfer",
        ],
        rows,
        "subtask-gain",
    )


def _accuracy_section(overview: Mapping[str, Any]) -> str:
    ok = _ok(overview)
    tasks = overview["tasks"]
    if not ok or not tasks:
        return _none("No data: no combination finished.")
    columns = [
        (t["task"], metric, t["directions"][metric]) for t in tasks for metric in shown_metrics(t)
    ]
    ranked = [t for t in tasks if is_ranking(t)]
    reference = reference_name(t.get("type") for t in tasks)
    rows: list[list[Cell | str]] = [
        [
            c["label"],
            *(_value(c["metrics"].get(task, {}).get(metric)) for task, metric, _ in columns),
        ]
        for c in ok
    ]
    note = (
        " A ranking task shows NDCG, recall, hit rate and MRR at its primary cut-off here; "
        "every figure of it is in the fold below the reference table."
        if ranked
        else ""
    )
    return (
        f"<p>Test-split metrics; the first metric of each task is its primary metric.{note}</p>"
        + _table(["combination", *_column_titles(columns)], rows, "accuracy")
        + f"<h3>{text(_REFERENCE_HEADINGS.get(reference, reference))} on the same test split</h3>"
        + _table(
            ["domain", *_column_titles(columns)],
            _reference_rows(overview["trivial"], columns, f"({reference})"),
            "trivial",
        )
        + "".join(_ranking_details(ok, overview["trivial"], task) for task in ranked)
    )


Columns = Sequence[tuple[str, str, str]]  # (task, metric, direction)
_REFERENCE_HEADINGS = {
    "trivial": "Trivial predictor",
    "most-popular": "Most-popular ranking",
    "trivial; most-popular for ranking": (
        "Trivial predictor (most-popular ranking for ranking tasks)"
    ),
}


def _column_titles(columns: Columns) -> list[str]:
    return [f"{task} {metric} {_arrow(direction)}" for task, metric, direction in columns]


def _reference_rows(
    reference: Sequence[Mapping[str, Any]], columns: Columns, label: str
) -> list[list[Cell | str]]:
    """The trivial reference's figures, one row per domain (``label`` before the domain)."""
    return [
        [f"{label} {row['domain']}".strip()]
        + [_value(row["metrics"].get(task, {}).get(metric)) for task, metric, _ in columns]
        for row in reference
    ]


def _ranking_details(
    ok: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]], task: Mapping[str, Any]
) -> str:
    """Every figure of one ranking task (every cut-off, the item side), folded away; the
    most-popular ranking last."""
    columns = [
        (task["task"], metric, direction) for metric, direction in task["directions"].items()
    ]
    rows: list[list[Cell | str]] = [
        [c["label"], *(_value(c["metrics"].get(t, {}).get(metric)) for t, metric, _ in columns)]
        for c in ok
        if task["task"] in c["metrics"]
    ]
    rows += _reference_rows(reference, columns, f"({task['reference']})")
    return (
        f"<details><summary>{text(task['task'])}: every ranking figure ({len(columns)})"
        "</summary>"
        + _table(
            ["combination", *(f"{metric} {_arrow(d)}" for _, metric, d in columns)],
            rows,
            f"ranking {task['task']}",
        )
        + "</details>"
    )


def _group_section(overview: Mapping[str, Any]) -> str:
    rows = overview["group_gaps"]
    if not rows:
        return _none("No data: no combination has group-gap figures (no sensitive attribute).")
    counted = [row["shortfall"] for row in rows if not row.get("excluded")]
    scale_max = max(counted or [row["shortfall"] for row in rows]) or 1.0
    parts = [
        "<p>Per task (rows) and sensitive attribute and group (columns): each group's primary "
        "metric, coloured by its shortfall from the best group of that attribute, in the "
        "metric's own units. An outlined cell is the attribute's worst group.</p>",
        plots.colour_legend(scale_max, "shortfall from the best group"),
    ]
    by_combination: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_combination.setdefault(row["label"], []).append(row)
    for label, members in by_combination.items():
        tasks = list(dict.fromkeys(row["task"] for row in members))
        columns = list(dict.fromkeys(f"{row['attribute']}: {row['group']}" for row in members))
        cells = {
            (row["task"], f"{row['attribute']}: {row['group']}"): plots.Cell(
                colour_value=row["shortfall"],
                label=plots.number(row["value"], 3),
                details=(
                    f"{label}\n{row['task']} {row['metric']} for {row['attribute']} = "
                    f"{row['group']}: {plots.number(row['value'], 4)} "
                    f"(n = {row['size']}); shortfall from the best group "
                    f"{plots.number(row['shortfall'], 4)}"
                    + ("; worst group" if row["worst"] else "")
                    + (
                        f"; {row['users']} users: too few to count in the gap"
                        if row.get("excluded")
                        else ""
                    )
                ),
                marked=row["worst"],
            )
            for row in members
        }
        svg = plots.heatmap(
            tasks, columns, cells, scale_max=scale_max, title=f"group gaps: {label}"
        )
        parts.append(f"<h3>{text(label)}</h3>" + _figure(svg, f"Group figures of {label}."))
    seen: set[tuple[str, str, str]] = set()
    table_rows = []
    for row in rows:
        identity = (row["label"], row["task"], row["attribute"])
        if identity in seen:
            continue
        seen.add(identity)
        interval = row["difference_ci"]
        table_rows.append(
            [
                row["label"],
                row["task"],
                row["attribute"],
                row["metric"] or "-",
                _value(row["difference"]),
                Cell(shown="-" if not interval else f"[{_fmt(interval[0])}, {_fmt(interval[1])}]"),
                next(
                    (
                        r["group"]
                        for r in rows
                        if r["worst"] and (r["label"], r["task"], r["attribute"]) == identity
                    ),
                    "-",
                ),
            ]
        )
    parts.append("<h3>Largest gap per task and attribute</h3>")
    parts.append(
        _table(
            [
                "combination",
                "task",
                "attribute",
                "metric",
                "difference",
                "difference CI",
                "worst group",
            ],
            table_rows,
            "group-gap",
        )
    )
    return "".join(parts)


def _latency_section(overview: Mapping[str, Any]) -> str:
    parts = []
    latency = overview["latency"]
    sizes = sorted({row["batch_size"] for row in latency}, key=_batch_order)
    for size in sizes:
        rows = [
            plots.Distribution(
                label=row["label"],
                samples=row["samples"],
                details=(
                    f"p50 {_fmt(row['p50'])}, p95 {_fmt(row['p95'])}, p99 {_fmt(row['p99'])} ms; "
                    f"padded length {row['seq_len']}"
                ),
            )
            for row in latency
            if row["batch_size"] == size and row["samples"]
        ]
        parts.append(f"<h3>Latency at batch size {text(size)}</h3>")
        if rows:
            svg = plots.distributions(
                rows,
                x_label=f"latency per call, batch size {size} (ms)",
                title=f"latency bs {size}",
            )
            parts.append(
                _figure(
                    svg,
                    "Box: quartiles and median; whiskers: 1.5 IQR; dots: every timed call.",
                )
            )
        else:
            parts.append(_none("No data: no raw latency samples at this batch size."))
    if not sizes:
        parts.append(_none("No data: no combination has latency measurements."))
    ok = _ok(overview)
    if ok:
        p50 = {(row["combination"], row["batch_size"]): row["p50"] for row in latency}
        headers = ["combination"] + [f"p50 ms bs {size}" for size in sizes]
        ranks = any(c["efficiency"].get("ranking") for c in ok)
        if ranks:
            headers.append("ranking ms/user")
        headers += [
            "train samples/s",
            "infer samples/s",
            "params",
            "trainable",
            "FLOPs/sample",
            "peak RSS MB",
            "CUDA peak MB",
            "MFU",
        ]
        rows_table = []
        for c in ok:
            efficiency = c["efficiency"]
            rows_table.append(
                [
                    c["label"],
                    *(_value(p50.get((c["id"], size)), 3) for size in sizes),
                    *(
                        [_value((efficiency.get("ranking") or {}).get("ms_per_user"), 2)]
                        if ranks
                        else []
                    ),
                    _value(efficiency.get("train_samples_per_s"), 1),
                    _value(efficiency.get("inference_samples_per_s"), 1),
                    _compact(efficiency.get("params")),
                    _compact(efficiency.get("trainable_params")),
                    _compact(efficiency.get("flops_per_sample")),
                    _value(efficiency.get("peak_memory_mb"), 0),
                    _value(efficiency.get("cuda_peak_memory_mb"), 0),
                    _value(efficiency.get("mfu"), 3),
                ]
            )
        parts.append("<h3>Cost</h3>" + _table(headers, rows_table, "efficiency"))
    return "".join(parts)


def _failures_section(overview: Mapping[str, Any]) -> str:
    failed = [c for c in overview["combinations"] if c["status"] != "ok"]
    if not failed:
        return _none("None: every combination finished.")
    return _table(
        ["backbone", "head set", "domain", "seed", "reason"],
        [
            [c["backbone_label"], c["head_set"], c["domain"], _value(c["seed"]), c["error"] or "?"]
            for c in failed
        ],
        "failures",
    )


def _plottable(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any, digits: int = 4) -> str:
    return plots.number(value, digits) if _plottable(value) else "-"


def _arrow(direction: str) -> str:
    return "\u2191" if direction == "higher" else "\u2193"


def _batch_order(size: str) -> tuple[int, str]:
    return (int(size), size) if size.isdigit() else (1 << 30, size)


STYLE = """
:root { color-scheme: light; --ink: #1d1d1f; --muted: #666; --rule: #d9d9de; --accent: #0072b2; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 1100px; padding: 0 20px 40px; }
header { border-bottom: 1px solid var(--rule); margin-bottom: 8px; }
h1 { font-size: 24px; margin: 20px 0 4px; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta, .description, figcaption, footer { color: var(--muted); }
nav a { margin-right: 12px; color: var(--accent); }
.none { font-style: italic; color: var(--muted); }
figure { margin: 8px 0 16px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 9px; border-bottom: 1px solid var(--rule); text-align: left;
  white-space: nowrap; }
td.num { text-align: right; }
td.best { background: #e8f4ea; }
td .ci { color: var(--muted); font-size: 12px; white-space: nowrap; }
th { cursor: pointer; user-select: none; background: #f4f4f6; vertical-align: bottom;
  white-space: normal; min-width: 5em; max-width: 13em; }
th:hover, th:focus { background: #e6eef6; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 10px; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 10px; }
.status-failed { color: #b00020; font-weight: 600; }
svg.plot { display: block; max-width: 100%; height: auto; font-size: 11px; }
svg.plot text { fill: var(--ink); }
svg.plot .tick { fill: var(--muted); }
svg.plot .cell text.on-dark { fill: #fff; }
svg.plot .axis-label { font-size: 12px; }
svg.plot .point-label { font-size: 11px; fill: var(--ink); }
svg.plot .axis { stroke: #555; }
svg.plot .grid { stroke: #eee; }
svg.plot .zero { stroke: #333; stroke-width: 1; }
svg.plot .whisker { stroke: #222; stroke-width: 1.3; fill: none; }
svg.plot .box rect { fill: #cfe3f3; stroke: #0072b2; }
svg.plot .median { stroke: #0b3c66; stroke-width: 2; }
svg.plot .sample { fill: #0072b2; fill-opacity: 0.45; }
svg.plot .empty { fill: none; stroke: #ccc; stroke-dasharray: 3 2; }
footer { margin-top: 32px; border-top: 1px solid var(--rule); padding-top: 8px; }
"""

# Sortable tables: click (or Enter on) a header; numbers sort as numbers, empty cells last.
SORT_SCRIPT = """
(function () {
  "use strict";
  function sortKey(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent.trim(); }
    if (raw === "") { return null; }
    var value = Number(raw);
    return isNaN(value) ? raw.toLowerCase() : value;
  }
  function compare(a, b, direction) {
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    if (typeof a !== typeof b) { return (typeof a === "number" ? -1 : 1) * direction; }
    return (a < b ? -1 : (a > b ? 1 : 0)) * direction;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (header, index) {
      header.tabIndex = 0;
      function sort() {
        var direction = header.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        Array.prototype.slice.call(body.rows)
          .map(function (row, i) { return { row: row, key: sortKey(row.cells[index]), i: i }; })
          .sort(function (a, b) { return compare(a.key, b.key, direction) || a.i - b.i; })
          .forEach(function (item) { body.appendChild(item.row); });
      }
      header.addEventListener("click", sort);
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });
})();
"""

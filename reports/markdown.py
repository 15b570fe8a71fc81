"""``report.md``: a compact summary of a run, suitable for a CI job summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.summary import compact, latency_p50, metric_cell, number, task_columns, worst_group_gap


def _escape(text: Any) -> str:
    """Keep data from breaking the table: pipes and newlines."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(document: Mapping[str, Any]) -> str:
    records = document.get("records", [])
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
    columns = task_columns(ok)
    if ok:
        lines += ["## Accuracy (test split)", ""]
        header = ["backbone", "head set", "domain", "seed", *(c.title for c in columns)]
        lines += _table(
            header,
            [
                [
                    r["backbone"],
                    r["head_set"],
                    r["domain"],
                    str(r["seed"]),
                    *(metric_cell(r, c) for c in columns),
                ]
                for r in ok
            ],
        )
        lines += [
            "",
            "Trivial predictor on the same test split (majority class, train mean, base rate):",
            "",
        ]
        seen: set[str] = set()
        trivial_rows = []
        for r in ok:
            if r["domain"] in seen:
                continue
            seen.add(r["domain"])
            trivial = {"metrics": r.get("reference", {}).get("trivial", {})}
            trivial_rows.append([r["domain"], *(metric_cell(trivial, c) for c in columns)])
        lines += _table(["domain", *(c.title for c in columns)], trivial_rows)
        lines += ["", "## Efficiency", ""]
        lines += _table(
            [
                "backbone",
                "head set",
                "domain",
                "seed",
                "latency p50 ms (bs 1)",
                "train samples/s",
                "infer samples/s",
                "params",
                "trainable",
                "FLOPs/sample",
                "peak RSS MB",
                "epochs (best)",
            ],
            [
                [
                    r["backbone"],
                    r["head_set"],
                    r["domain"],
                    str(r["seed"]),
                    number(latency_p50(r), 3),
                    number(r["efficiency"].get("train_samples_per_s"), 1),
                    number(r["efficiency"].get("inference_samples_per_s"), 1),
                    compact(r["efficiency"].get("params")),
                    compact(r["efficiency"].get("trainable_params")),
                    compact(r["efficiency"].get("flops_per_sample")),
                    number(r["efficiency"].get("peak_memory_mb"), 0),
                    f"{r['training']['epochs_run']} ({r['training']['best_epoch']})",
                ]
                for r in ok
            ],
        )
        lines += ["", "## Group fairness (largest between-group gap)", ""]
        lines += _table(
            ["backbone", "head set", "domain", "seed", "where", "gap"],
            [
                [
                    r["backbone"],
                    r["head_set"],
                    r["domain"],
                    str(r["seed"]),
                    *(_gap_cells(worst_group_gap(r))),
                ]
                for r in ok
            ],
        )
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
        "Metrics are recomputable from `predictions/KEY/TASK.csv`; "
        "full figures are in `results.json`.",
        "",
    ]
    return "\n".join(lines)


def _gap_cells(gap: tuple[str, float] | None) -> list[str]:
    return ["-", "-"] if gap is None else [gap[0], number(gap[1])]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_escape(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows]
    return lines

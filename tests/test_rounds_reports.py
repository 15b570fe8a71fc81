"""The feedback loop (``protocol: {kind: rounds}``) in every report: report.md, the terminal
summary, report.html (lines over rounds with interval bands) and the leaderboard.

A results document is built by hand in the shape of a rounds record (2 backbones x 3 update
strategies x 4 rounds, a higher-is-better and a lower-is-better task); every expected figure
is recomputed here from the planted numbers, never through the code under test. A document
without ``rounds`` sections shows no feedback-loop section anywhere.
"""

from __future__ import annotations

import copy
import io
import itertools
import re
from typing import Any

import pytest
from rich.console import Console

from mtrec.reports import print_summary, render_html, render_markdown
from mtrec.reports.leaderboard import leaderboard_html, leaderboard_markdown, print_leaderboard
from mtrec.store.leaderboard import build_leaderboard, leaderboard_json, source_of

BACKBONES = ("tiny-bert", "id-embedding")
UPDATES = ("frozen", "fine-tune", "replay")
ROUNDS = 4  # windows 0..3: rounds 1..3 are evaluated
EVALUATED = (1, 2, 3)
TASKS = {"click": ("auc", "higher"), "rating": ("rmse", "lower")}
DOMAIN = "synthetic-ecommerce"


def four(value: float) -> str:
    """A figure as the reports print it in the planted range (4 decimals)."""
    return f"{value:.4f}"


def planted(b: int, s: int, task: str, r: int) -> float:
    """The primary metric of backbone b, strategy s, task, round r (distinct, 4 decimals)."""
    if task == "click":
        return round(0.6 + 0.05 * b + 0.01 * s + 0.003 * r, 4)
    return round(1.1 - 0.03 * b - 0.02 * s + 0.007 * r, 4)


def interval(value: float) -> list[float]:
    return [round(value - 0.0125, 4), round(value + 0.0175, 4)]


def planted_forgetting(b: int, s: int, task: str, r: int) -> float:
    sign = 1.0 if task == "click" else -1.0
    return round(sign * (0.0031 * r + 0.0107 * s - 0.0042 * b) + 0.0011, 4)


def cold_n(r: int) -> int:
    return 10 + 3 * r


def warm_n(r: int) -> int:
    return 90 - 5 * r


def cold_value(b: int, s: int, task: str, r: int) -> float:
    return round(planted(b, s, task, r) - 0.05 - 0.01 * r, 4)


def warm_value(b: int, s: int, task: str, r: int) -> float:
    return round(planted(b, s, task, r) + 0.02 + 0.002 * r, 4)


def update_seconds(b: int, s: int, r: int) -> float:
    return round(1.25 + 0.5 * r + 2.0 * s + 0.75 * b, 2)


def update_samples(s: int, r: int) -> int:
    return 1000 + 250 * s + 10 * r


def update_steps(s: int, r: int) -> int:
    return 30 + 5 * s + r


def update_flops(s: int, r: int) -> float | None:
    return None if UPDATES[s] == "frozen" else 2.0e9 * (s + 1) + 1.0e8 * r


def update_peak(b: int, s: int, r: int) -> float:
    return 400.0 + 100.0 * b + 10.0 * s + r


def loop_record(b: int, s: int, seed: int = 0) -> dict[str, Any]:
    backbone, update = BACKBONES[b], UPDATES[s]
    protocol = {
        "kind": "rounds",
        "rounds": ROUNDS,
        "window": "time",
        "budget": {"epochs": 2, "samples": 2000},
        "replay": 1.0,
        "holdout": 0.2,
    }

    def metrics(value: Any) -> dict[str, dict[str, float]]:
        return {task: {metric: value(task)} for task, (metric, _) in TASKS.items()}

    results: list[dict[str, Any]] = [
        {
            "round": 0,
            "evaluation": None,
            "update": {
                "strategy": "initial",
                "seconds": 20.0 + b,
                "samples": 5000,
                "steps": 100,
                "rows": 5000,
                "flops": None,
                "peak_memory_mb": 900.0,
            },
            "probe": {"metrics": metrics(lambda t: 0.5), "predictions": {}},
            "forgetting": None,
        }
    ]
    for r in EVALUATED:
        results.append(
            {
                "round": r,
                "evaluation": {
                    "n": cold_n(r) + warm_n(r),
                    "metrics": metrics(lambda t, r=r: planted(b, s, t, r)),
                    "intervals": {
                        task: {metric: interval(planted(b, s, task, r))}
                        for task, (metric, _) in TASKS.items()
                    },
                    "cold": {
                        "n": cold_n(r),
                        "metrics": metrics(lambda t, r=r: cold_value(b, s, t, r)),
                    },
                    "warm": {
                        "n": warm_n(r),
                        "metrics": metrics(lambda t, r=r: warm_value(b, s, t, r)),
                    },
                    "fairness": {},
                    "predictions": {},
                },
                "update": {
                    "strategy": update,
                    "seconds": update_seconds(b, s, r),
                    "samples": update_samples(s, r),
                    "steps": update_steps(s, r),
                    "rows": 500,
                    "flops": update_flops(s, r),
                    "peak_memory_mb": update_peak(b, s, r),
                },
                "probe": {"metrics": metrics(lambda t: 0.5), "predictions": {}},
                "forgetting": metrics(lambda t, r=r: planted_forgetting(b, s, t, r)),
            }
        )
    # the record's metrics: the prequential figures (planted apart from the rounds' values)
    prequential = metrics(lambda t: round(sum(planted(b, s, t, r) for r in EVALUATED) / 3, 4))
    return {
        "key": f"{backbone}-{update}-{seed}",
        "backbone": backbone,
        "head_set": "ecommerce-seed",
        "domain": DOMAIN,
        "seed": seed,
        "status": "ok",
        "error": None,
        "tasks": {
            task: {
                "type": "binary" if task == "click" else "regression",
                "primary_metric": metric,
                "directions": {metric: direction},
            }
            for task, (metric, direction) in TASKS.items()
        },
        "metrics": prequential,
        "reference": {"trivial": {"click": {"auc": 0.5}, "rating": {"rmse": 1.3}}},
        "efficiency": {"peak_memory_mb": 500.0, "params": 1_000_000},
        "fairness": {},
        "training": {"strategy": "full", "epochs_run": 1, "best_epoch": 1},
        "config": {
            "backbone": {"name": backbone, "pooling": None, "options": {}},
            "training": {"strategy": "full", "lr": 0.001},
            "protocol": {**protocol, "update": update},
        },
        "rounds": {
            "protocol": protocol,
            "update": update,
            "primary_metrics": {task: metric for task, (metric, _) in TASKS.items()},
            "directions": {
                task: {metric: direction} for task, (metric, direction) in TASKS.items()
            },
            "windows": [
                {
                    "round": r,
                    "rows": 100,
                    "start": None,
                    "end": None,
                    "new_users": 3,
                    "new_items": 2,
                }
                for r in range(ROUNDS)
            ],
            "results": results,
            "resumed_from": None,
        },
    }


def loop_document() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "suite": {
            "name": "loop",
            "description": "hand-built feedback loop",
            "config": {"protocol": {"kind": "rounds", "rounds": ROUNDS, "updates": list(UPDATES)}},
        },
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:05:00+00:00",
        "environment": {"device": "cpu"},
        "records": [loop_record(b, s) for b in range(len(BACKBONES)) for s in range(len(UPDATES))],
    }


def without_rounds(document: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(document)
    for record in stripped["records"]:
        record.pop("rounds")
    return stripped


def combos() -> list[tuple[int, int]]:
    return [(b, s) for b in range(len(BACKBONES)) for s in range(len(UPDATES))]


def count_text(value: float) -> str:
    """A count as the tables print it: whole with separators, else one decimal."""
    return f"{int(value):,}" if value == int(value) else f"{value:,.1f}"


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the first table after the line ``heading``."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows[1:]  # past the header


# --------------------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------------------


def test_markdown_metric_over_rounds_with_intervals() -> None:
    markdown = render_markdown(loop_document())
    assert "## Feedback loop" in markdown
    # the other tables tell the records of one backbone apart by their update strategy
    for b, s in combos():
        assert f"| {BACKBONES[b]} (update={UPDATES[s]}) | full |" in markdown
    for task, (metric, direction) in TASKS.items():
        arrow = "\u2191" if direction == "higher" else "\u2193"
        rows = table_rows(markdown, f"### {task} {metric} {arrow} per round")
        assert len(rows) == 6
        for (b, s), row in zip(combos(), rows, strict=True):
            expected = [BACKBONES[b], UPDATES[s]]
            for r in EVALUATED:
                value = planted(b, s, task, r)
                low, high = interval(value)
                expected.append(f"{four(value)} [{four(low)}, {four(high)}]")
            assert row == expected


def test_markdown_forgetting_last_round_and_mean() -> None:
    rows = table_rows(render_markdown(loop_document()), "### Forgetting")
    expected = []
    for b, s in combos():
        for task, (metric, _) in TASKS.items():
            values = [planted_forgetting(b, s, task, r) for r in EVALUATED]
            mean = sum(values) / len(values)
            expected.append(
                [DOMAIN, BACKBONES[b], UPDATES[s], task, metric,
                 f"{four(values[-1])} (round 3)", four(mean)]
            )  # fmt: skip
    assert rows == expected


def test_markdown_update_cost() -> None:
    rows = table_rows(render_markdown(loop_document()), "### Update cost")
    assert len(rows) == 6
    for (b, s), row in zip(combos(), rows, strict=True):
        seconds = [update_seconds(b, s, r) for r in EVALUATED]
        samples = [update_samples(s, r) for r in EVALUATED]
        steps = [update_steps(s, r) for r in EVALUATED]
        assert row[:4] == [DOMAIN, BACKBONES[b], UPDATES[s], "3"]
        assert row[4] == f"{20.0 + b:.2f}"  # round 0's training
        assert row[5] == f"{sum(seconds) / 3:.2f}"
        assert row[6] == f"{sum(seconds):.2f}"
        assert row[7] == count_text(sum(samples) / 3)
        assert row[8] == f"{sum(samples):,}"
        assert row[9] == count_text(sum(steps) / 3)
        assert row[10] == f"{sum(steps):,}"
        if UPDATES[s] == "frozen":  # no FLOPs recorded: none shown
            assert row[11:13] == ["-", "-"]
        else:
            flops = [update_flops(s, r) or 0.0 for r in EVALUATED]
            assert row[11] == f"{sum(flops) / 3 / 1e9:.1f}G"
            assert row[12] == f"{sum(flops) / 1e9:.1f}G"
        assert row[13] == f"{max(update_peak(b, s, r) for r in EVALUATED):.0f}"


def test_markdown_cold_and_warm_rows_weighted_by_rows() -> None:
    rows = table_rows(render_markdown(loop_document()), "### Cold and warm rows")
    expected = []
    for b, s in combos():
        for task, (metric, _) in TASKS.items():
            cold = sum(cold_n(r) * cold_value(b, s, task, r) for r in EVALUATED)
            warm = sum(warm_n(r) * warm_value(b, s, task, r) for r in EVALUATED)
            cold_rows = sum(cold_n(r) for r in EVALUATED)
            warm_rows = sum(warm_n(r) for r in EVALUATED)
            expected.append(
                [DOMAIN, BACKBONES[b], UPDATES[s], task, metric, four(cold / cold_rows),
                 str(cold_rows), four(warm / warm_rows), str(warm_rows)]
            )  # fmt: skip
    assert rows == expected


def test_several_domains_are_grouped_and_named() -> None:
    document = loop_document()
    other = [copy.deepcopy(r) for r in document["records"][:2]]
    for record in other:
        record["domain"] = "synthetic-video"
        record["key"] += "-video"
    # interleaved: the tables still group each domain's rows together
    document["records"] = [other[0], *document["records"], other[1]]
    markdown = render_markdown(document)
    rows = table_rows(markdown, f"### click auc \u2191 per round ({DOMAIN})")
    assert len(rows) == 6
    rows = table_rows(markdown, "### click auc \u2191 per round (synthetic-video)")
    assert [row[:2] for row in rows] == [["tiny-bert", "frozen"], ["tiny-bert", "fine-tune"]]
    domains = [row[0] for row in table_rows(markdown, "### Forgetting")]
    assert domains == ["synthetic-video"] * 4 + [DOMAIN] * 12


# --------------------------------------------------------------------------------------
# terminal
# --------------------------------------------------------------------------------------


SEP = r"[\s\u2502]+"  # between two cells of a rich table


def terminal(document: dict[str, Any]) -> str:
    buffer = io.StringIO()
    print_summary(document, Console(file=buffer, width=240, color_system=None))
    return buffer.getvalue()


def test_terminal_shows_every_table() -> None:
    shown = terminal(loop_document())
    lines = shown.splitlines()
    for task, (metric, direction) in TASKS.items():
        arrow = "\u2191" if direction == "higher" else "\u2193"
        start = next(
            i for i, line in enumerate(lines) if f"{task} {metric} {arrow} per round" in line
        )
        for b, s in combos():
            row = next(line for line in lines[start:] if f" {BACKBONES[b]} {UPDATES[s]} " in line)
            values = [four(planted(b, s, task, r)) for r in EVALUATED]
            assert re.search(SEP.join(re.escape(v) for v in values), row), row
            under = lines[lines.index(row, start) + 1]  # the intervals on the line below
            bounds = [interval(planted(b, s, task, r)) for r in EVALUATED]
            assert all(f"[{four(lo)}, {four(hi)}]" in under for lo, hi in bounds), under
    start = next(i for i, line in enumerate(lines) if "forgetting (positive" in line)
    for b, s in combos():
        for task, (metric, _) in TASKS.items():
            forgotten = [planted_forgetting(b, s, task, r) for r in EVALUATED]
            pattern = (
                rf"{re.escape(BACKBONES[b])} {re.escape(UPDATES[s])}\s.*{task} {metric}{SEP}"
                rf"{re.escape(four(forgotten[-1]))}{SEP}{re.escape(four(sum(forgotten) / 3))}"
            )
            assert any(re.search(pattern, line) for line in lines[start:]), pattern
    start = next(i for i, line in enumerate(lines) if "update cost" in line)
    for b, s in combos():
        seconds = [update_seconds(b, s, r) for r in EVALUATED]
        pattern = (
            rf"{re.escape(BACKBONES[b])} {re.escape(UPDATES[s])}\s.*"
            rf"{sum(seconds) / 3:.2f}{SEP}{sum(seconds):.2f}\s"
        )
        assert any(re.search(pattern, line) for line in lines[start:]), pattern
    start = next(i for i, line in enumerate(lines) if "cold vs warm" in line)
    b, s = 1, 2
    cold = sum(cold_n(r) * cold_value(b, s, "rating", r) for r in EVALUATED)
    rows = sum(cold_n(r) for r in EVALUATED)
    assert any(
        f"{four(cold / rows)} ({rows})" in line and "id-embedding replay" in line
        for line in lines[start:]
    )


# --------------------------------------------------------------------------------------
# report.html
# --------------------------------------------------------------------------------------


def _points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+) (-?[\d.]+)", d)]


def test_html_draws_a_line_and_a_band_per_record_and_task() -> None:
    page = render_html(loop_document())
    assert 'id="feedback-loop"' in page and 'href="#feedback-loop"' in page
    plots = re.findall(r'<svg class="plot plot-lines".*?</svg>', page, re.DOTALL)
    assert len(plots) == len(TASKS)
    for svg, (task, (metric, _)) in zip(plots, TASKS.items(), strict=True):
        lines = re.findall(r'<path class="line" d="M([^"]+)"', svg)
        bands = re.findall(r'<path class="band" d="M([^"]+)Z"', svg)
        assert len(lines) == len(bands) == 6
        # y pixels fall as the planted values rise, over every point of the plot
        pairs = []
        for (b, s), d, band in zip(combos(), lines, bands, strict=True):
            points = _points(d)
            assert len(points) == len(EVALUATED)
            assert [x for x, _ in points] == sorted(x for x, _ in points)
            pairs += [
                (planted(b, s, task, r), y) for r, (_, y) in zip(EVALUATED, points, strict=True)
            ]
            edge = _points(band)  # the upper bounds left to right, then the lower ones back
            assert len(edge) == 2 * len(EVALUATED)
            for (_, y), (_, top), (_, bottom) in zip(points, edge[:3], edge[3:][::-1], strict=True):
                assert top < y < bottom  # the interval around the value, high above
        pairs.sort()
        assert all(a[1] > b[1] for a, b in itertools.pairwise(pairs) if a[0] < b[0])
        assert f"{task} {metric}" in svg
    # the tables' figures
    value = planted(1, 2, "rating", 2)
    low, high = interval(value)
    assert f"<td>{four(value)} [{four(low)}, {four(high)}]</td>" in page
    values = [planted_forgetting(0, 1, "click", r) for r in EVALUATED]
    assert f"<td>{four(values[-1])} (round 3)</td><td>{four(sum(values) / 3)}</td>" in page
    seconds = [update_seconds(1, 0, r) for r in EVALUATED]
    assert f"<td>{sum(seconds) / 3:.2f}</td><td>{sum(seconds):.2f}</td>" in page


# --------------------------------------------------------------------------------------
# leaderboard
# --------------------------------------------------------------------------------------


def test_leaderboard_ranks_the_strategies_per_task() -> None:
    document = loop_document()
    board = build_leaderboard([source_of(document, None)])
    assert not board.notes  # one variant per update strategy: no record replaces another
    markdown = "\n".join(leaderboard_markdown(board))
    rows = table_rows(markdown, "### Feedback loop: update strategies ranked")
    assert len(rows) == 2 * 6
    for task, (metric, direction) in TASKS.items():
        arrow = "\u2191" if direction == "higher" else "\u2193"
        mine = [row for row in rows if row[1] == f"{task} {metric} {arrow}"]
        prequential = {
            (b, s): round(sum(planted(b, s, task, r) for r in EVALUATED) / 3, 4)
            for b, s in combos()
        }
        order = sorted(prequential, key=lambda k: prequential[k], reverse=direction == "higher")
        assert [(row[3], row[4]) for row in mine] == [(BACKBONES[b], UPDATES[s]) for b, s in order]
        for rank, ((b, s), row) in enumerate(zip(order, mine, strict=True), 1):
            seconds = [update_seconds(b, s, r) for r in EVALUATED]
            assert row == [
                DOMAIN, f"{task} {metric} {arrow}", str(rank), BACKBONES[b], UPDATES[s],
                four(prequential[(b, s)]), four(planted_forgetting(b, s, task, 3)),
                f"{sum(seconds) / 3:.2f}", "0",
            ]  # fmt: skip
    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    print_leaderboard(board, console)
    shown = console.export_text()
    assert "feedback loop (strategies ranked)" in shown
    assert re.search(
        r"rating rmse \u2193\s+\u2502\s+1\s+\u2502\s+id-embedding \u00b7 replay", shown
    )
    narrow = Console(width=80, record=True, color_system=None, file=io.StringIO())
    print_leaderboard(board, narrow)  # one table at 80 columns, not split in parts
    assert re.search(r"feedback loop \(strategies ranked\) *\n", narrow.export_text())
    assert "leaderboard feedback" in leaderboard_html(board)
    assert len(leaderboard_json(board)["feedback"]) == 2


def test_leaderboard_seeds_are_averaged() -> None:
    document = loop_document()
    twin = loop_record(0, 1, seed=1)
    twin["metrics"]["click"]["auc"] = 0.9
    twin["rounds"]["results"][-1]["forgetting"]["click"]["auc"] = 0.05
    document["records"].append(twin)
    board = build_leaderboard([source_of(document, None)])
    table = next(t for t in board.feedback if t.task == "click")
    row = next(r for r in table.rows if (r.variant, r.update) == ("tiny-bert", "fine-tune"))
    first = round(sum(planted(0, 1, "click", r) for r in EVALUATED) / 3, 4)
    assert row.mean == pytest.approx((first + 0.9) / 2)
    assert row.seeds == (0, 1)
    assert row.rank == 1
    assert row.forgetting == pytest.approx((planted_forgetting(0, 1, "click", 3) + 0.05) / 2)


# --------------------------------------------------------------------------------------
# without rounds
# --------------------------------------------------------------------------------------


def test_a_run_without_rounds_shows_no_feedback_loop() -> None:
    document = without_rounds(loop_document())
    assert "Feedback loop" not in render_markdown(document)
    page = render_html(document)
    assert "Feedback loop" not in page and "plot-lines" not in page
    assert "per round" not in terminal(document)
    board = build_leaderboard([source_of(document, None)])
    assert board.feedback == ()
    assert "Feedback loop" not in "\n".join(leaderboard_markdown(board))
    assert "feedback" not in leaderboard_json(board)
    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    print_leaderboard(board, console)
    assert "feedback loop" not in console.export_text()


def test_a_failed_record_is_left_out_of_the_loop() -> None:
    document = loop_document()
    document["records"][0]["status"] = "failed"
    rows = table_rows(render_markdown(document), "### Forgetting")
    assert len(rows) == 2 * 5
    assert [BACKBONES[0], UPDATES[0]] not in [row[1:3] for row in rows]


def test_a_partial_section_shows_dashes_not_errors() -> None:
    """Two windows (one evaluated round), no intervals, no cold/warm split, no forgetting and
    no update entry: every renderer still draws the section, with "-" where figures lack."""
    document = loop_document()
    document["records"] = document["records"][:1]
    section = document["records"][0]["rounds"]
    section["results"] = section["results"][:2]
    evaluation = section["results"][1]["evaluation"]
    for key in ("intervals", "cold", "warm"):
        evaluation.pop(key)
    section["results"][1]["forgetting"] = None
    section["results"][1].pop("update")
    markdown = render_markdown(document)
    value = planted(0, 0, "click", 1)
    assert table_rows(markdown, "### click auc \u2191 per round") == [
        ["tiny-bert", "frozen", four(value)]
    ]
    assert table_rows(markdown, "### Forgetting")[0][-2:] == ["-", "-"]
    assert table_rows(markdown, "### Update cost")[0][3:7] == ["0", "20.00", "-", "-"]
    assert table_rows(markdown, "### Cold and warm rows")[0][5:] == ["-", "0", "-", "0"]
    page = render_html(document)
    svg = re.findall(r'<svg class="plot plot-lines".*?</svg>', page, re.DOTALL)[0]
    assert svg.count('<path class="line"') == 1 and 'class="band"' not in svg
    assert "round 1" in terminal(document)

"""The report renderers without a browser: overview figures, escaping, empty sections, the
``mtrec report`` verb and the SVG building blocks. Documents are built by hand in the shape
results.json has, so every test runs in milliseconds."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtrec.cli import main
from mtrec.reports import build_overview, render_html, render_markdown
from mtrec.reports.html import SORT_SCRIPT, script_json
from mtrec.reports.plots import Scale, fitted_scale, heat_colour, quantile, tick_label
from mtrec.reports.summary import number

HOSTILE = "<script>alert(1)</script>"


def record(
    backbone: str,
    seed: int = 0,
    *,
    accuracy: float = 0.8,
    rmse: float = 0.9,
    p50: float = 1.0,
    gap: float = 0.1,
) -> dict[str, Any]:
    """An ok record with two tasks, latency samples and one group-gap attribute."""
    return {
        "key": f"{backbone}-{seed}",
        "backbone": backbone,
        "head_set": "ecommerce-seed",
        "domain": "synthetic-ecommerce",
        "seed": seed,
        "status": "ok",
        "error": None,
        "tasks": {
            "category": {"primary_metric": "accuracy", "directions": {"accuracy": "higher"}},
            "rating": {"primary_metric": "rmse", "directions": {"rmse": "lower"}},
        },
        "metrics": {"category": {"accuracy": accuracy}, "rating": {"rmse": rmse}},
        "reference": {"trivial": {"category": {"accuracy": 0.5}, "rating": {"rmse": 1.2}}},
        "efficiency": {
            "latency_ms": {
                "1": {
                    "p50": p50,
                    "p95": 1.2 * p50,
                    "p99": 1.3 * p50,
                    "samples": [0.9 * p50, p50, 1.1 * p50, 1.3 * p50],
                    "seq_len": 12,
                }
            },
            "peak_memory_mb": 500.0,
            "params": 2_000_000,
        },
        "fairness": {
            "group-gap": {
                "category": {
                    "age": {
                        "metric": "accuracy",
                        "direction": "higher",
                        "by_group": {"young": accuracy, "old": accuracy - gap},
                        "group_sizes": {"young": 10, "old": 12},
                        "group_min": accuracy - gap,
                        "group_max": accuracy,
                        "difference": gap,
                        "ratio": (accuracy - gap) / accuracy,
                        "worst_group": "old",
                    }
                }
            }
        },
        "training": {"strategy": "full", "epochs_run": 1, "best_epoch": 1},
        "config": {},
    }


def document(*records: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "suite": {"name": "unit", "description": "hand-built"},
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:05:00+00:00",
        "environment": {"device": "cpu"},
        "records": list(records),
    }


def failed(backbone: str, error: str) -> dict[str, Any]:
    return {
        "key": f"{backbone}-failed",
        "backbone": backbone,
        "head_set": "ecommerce-seed",
        "domain": "synthetic-ecommerce",
        "seed": 0,
        "status": "failed",
        "error": error,
        "metrics": {},
        "efficiency": {},
        "fairness": {},
        "config": {"training": {"strategy": "full"}},
    }


# --------------------------------------------------------------------------------------
# overview
# --------------------------------------------------------------------------------------


def test_overview_gathers_tradeoffs_gains_groups_and_latency() -> None:
    fast = record("fast", p50=1.0, accuracy=0.7, gap=0.2)
    slow = record("slow", p50=5.0, accuracy=0.9, gap=0.05)
    worse = record("worse", p50=6.0, accuracy=0.6, gap=0.3)
    overview = build_overview(document(fast, slow, worse, failed("broken", "no cache")))
    by_label = {c["label"]: c for c in overview["combinations"]}
    assert {name for name, c in by_label.items() if c["pareto_optimal"]} == {"fast", "slow"}
    assert overview["front"] == ["fast-0", "slow-0"]
    assert by_label["broken"]["summary"] is None and by_label["broken"]["error"] == "no cache"
    # one seed: the gain over trivial has no interval; rating's lower-is-better is signed
    gains = {(g["label"], g["task"]): g for g in overview["trivial_gains"]}
    assert gains[("slow", "category")]["gain"] == pytest.approx(80.0)
    assert gains[("slow", "rating")]["gain"] == pytest.approx(25.0)
    assert gains[("slow", "rating")]["range"] is None
    shortfalls = {
        (g["label"], g["group"]): g["shortfall"] for g in overview["group_gaps"] if g["worst"]
    }
    assert shortfalls == pytest.approx(
        {("fast", "old"): 0.2, ("slow", "old"): 0.05, ("worse", "old"): 0.3}
    )
    assert [row["samples"] for row in overview["latency"] if row["label"] == "fast"] == [
        [0.9, 1.0, 1.1, 1.3]
    ]
    assert overview["subtask_gains"] == []


def test_trivial_gains_pool_seeds_with_their_range() -> None:
    overview = build_overview(
        document(record("bert", 0, accuracy=0.6), record("bert", 1, accuracy=0.8))
    )
    category = next(g for g in overview["trivial_gains"] if g["task"] == "category")
    assert category["label"] == "bert"
    assert category["gain"] == pytest.approx(40.0)
    assert category["range"] == pytest.approx([20.0, 60.0])
    assert category["seeds"] == [0, 1]
    # the per-combination labels keep the seeds apart
    assert [c["label"] for c in overview["combinations"]] == [
        "bert \u00b7 seed 0",
        "bert \u00b7 seed 1",
    ]


def test_subtask_gains_are_read_when_the_run_has_them() -> None:
    with_gain = record("bert")
    with_gain["fairness"]["subtask-gain"] = {
        "tasks": {
            "category": {
                "metric": "accuracy",
                "gain": -6.0,
                "ci": [-9.0, -3.0],
                "baseline": 0.85,
                "multi_task": 0.8,
                "negative_transfer": True,
            }
        },
        "d_min": -6.0,
    }
    overview = build_overview(document(with_gain))
    assert overview["subtask_gains"] == [
        {
            "combination": "c0",
            "label": "bert",
            "task": "category",
            "metric": "accuracy",
            "gain": -6.0,
            "ci": [-9.0, -3.0],
            "se": None,
            "baseline": 0.85,
            "multi_task": 0.8,
            "negative_transfer": True,
        }
    ]
    html = render_html(document(with_gain))
    assert "gain D_t over the single-task baseline" in html
    assert 'stroke-dasharray="3 2"' in html  # negative transfer drawn dashed
    assert "Per-task gain over single-task baselines" in render_markdown(document(with_gain))


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------


def test_html_is_self_contained_and_allows_only_its_own_script() -> None:
    html = render_html(document(record("a"), record("b", p50=3.0, accuracy=0.9)))
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert not re.search(r"\b(src|href)=\"(?!#)", html)
    digest = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html and "default-src 'none'" in html
    assert html.count("<script") == 2
    assert html.count('<svg class="plot') == 2 + 1 + 2 + 1 + 1  # legend and one batch size


def test_html_escapes_every_data_string() -> None:
    hostile = record(HOSTILE)
    hostile["domain"] = f"{HOSTILE} domain"
    hostile["tasks"][HOSTILE] = hostile["tasks"].pop("category")
    hostile["metrics"][HOSTILE] = hostile["metrics"].pop("category")
    hostile["reference"]["trivial"][HOSTILE] = hostile["reference"]["trivial"].pop("category")
    figures = hostile["fairness"]["group-gap"].pop("category")["age"]
    figures["by_group"][HOSTILE] = figures["by_group"].pop("old")
    figures["group_sizes"][HOSTILE] = figures["group_sizes"].pop("old")
    hostile["fairness"]["group-gap"][HOSTILE] = {f"gender&{HOSTILE}": figures}
    run = document(hostile, failed("x", f"</script>{HOSTILE}&"))
    run["suite"]["name"] = HOSTILE
    html = render_html(run)
    assert "alert(1)" in html
    assert HOSTILE not in html and "</script>" + HOSTILE not in html
    assert html.count("<script") == 2 and html.count("</script>") == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    embedded = re.search(r'id="mtrec-overview">(.*?)</script>', html, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1))["run"]["suite"] == HOSTILE


def test_script_json_cannot_close_its_element() -> None:
    value = {"a": "</script><b>&amp;", "nan": float("nan"), "line": "x\u2028y"}
    encoded = script_json(value)
    assert not set("<>&") & set(encoded)
    assert "\u2028" not in encoded
    assert json.loads(encoded) == {"a": "</script><b>&amp;", "nan": None, "line": "x\u2028y"}


def test_sections_without_data_say_so() -> None:
    html = render_html(document(failed("a", "boom")))
    assert '<svg class="plot' not in html
    for message in (
        "No data: no combination reports both p50 latency ms and the score.",
        "No data: no ok combination has both test metrics and a trivial reference.",
        "No data: no combination finished.",
        "No data: no combination has group-gap figures",
        "No data: no combination has latency measurements.",
    ):
        assert message in html
    assert "boom" in html
    # an ok run without sensitive attributes: the heatmap section says so, the rest plots
    plain = record("a")
    plain["fairness"] = {}
    html = render_html(document(plain))
    assert "No data: no combination has group-gap figures" in html
    assert "None: every combination finished." in html


def test_markdown_lists_the_tradeoffs() -> None:
    text = render_markdown(
        document(record("fast", p50=1.0, accuracy=0.7), record("slow", p50=5.0, accuracy=0.6))
    )
    section = text.split("## Tradeoffs", 1)[1]
    rows = [
        line
        for line in section.splitlines()
        if line.startswith("| fast") or line.startswith("| slow")
    ]
    assert rows[0].endswith("| yes |") and rows[1].endswith("|  |")


def test_markdown_lists_group_gaps_per_attribute_not_intersections() -> None:
    one = record("a")
    gaps = one["fairness"]["group-gap"]["category"]
    gaps["age"]["difference_ci"] = [0.01, 0.2]
    gaps["age&region"] = {**gaps["age"], "difference": 0.9}
    section = render_markdown(document(one)).split("## Group gaps per attribute", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| a ")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[3:] == ["category", "age", "accuracy", number(gaps["age"]["difference"]),
                         "[0.0100, 0.2000]", "old", "-"]  # fmt: skip


# --------------------------------------------------------------------------------------
# mtrec report
# --------------------------------------------------------------------------------------


def test_report_verb_writes_both_or_prints_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = document(record("a"), record("b", p50=2.0))
    (tmp_path / "results.json").write_text(json.dumps(run), encoding="utf-8")
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == (tmp_path / "report.md").read_text(encoding="utf-8").strip()
    assert "report.html" in out.err
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == render_html(run)

    assert main(["report", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(build_overview(run)))
    assert main(["report", str(tmp_path), "--format", "html"]) == 0
    assert capsys.readouterr().out == render_html(run)

    (tmp_path / "results.json").write_text("{broken", encoding="utf-8")
    assert main(["report", str(tmp_path), "--format", "html"]) == 2
    assert "results.json: not valid JSON" in capsys.readouterr().err


def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    """`mtrec report RUN --format json | head`: exit 0, no traceback."""
    run = document(*(record(f"r{i}") for i in range(150)))
    (tmp_path / "results.json").write_text(json.dumps(run), encoding="utf-8")
    assert len(json.dumps(build_overview(run))) > 1 << 17  # more than a pipe buffer holds
    command = [sys.executable, "-m", "mtrec.cli", "report", str(tmp_path), "--format", "json"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.read(100)
    child.stdout.close()
    error = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0, error
    assert "Traceback" not in error and "BrokenPipe" not in error


# --------------------------------------------------------------------------------------
# SVG building blocks
# --------------------------------------------------------------------------------------


def test_scales_map_and_tick() -> None:
    linear = Scale(low=0.0, high=10.0, start=100.0, end=200.0)
    assert linear(5.0) == 150.0
    assert linear.ticks(5) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    log = fitted_scale([1.0, 100.0], 0.0, 100.0, allow_log=True)
    assert log.log and log(10.0) == pytest.approx(50.0)
    assert log.ticks() == [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    assert not fitted_scale([1.0, 10.0], 0.0, 1.0, allow_log=True).log
    assert [tick_label(v) for v in (0.25, 2.0, 1500.0, 1e-5)] == ["0.25", "2", "1,500", "1.000e-05"]


def test_quantiles_and_colours() -> None:
    values = sorted(np.random.default_rng(0).normal(size=37).tolist())
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        assert quantile(values, share) == pytest.approx(float(np.percentile(values, share * 100)))
    assert heat_colour(0.0) == "#fff7ec" and heat_colour(1.0) == "#b30000"
    assert heat_colour(-1.0) == heat_colour(0.0) and heat_colour(2.0) == heat_colour(1.0)


def test_report_says_when_a_run_is_unfinished_or_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = document(record("a"))
    run["finished"] = None
    (tmp_path / "results.json").write_text(json.dumps(run), encoding="utf-8")
    assert main(["report", str(tmp_path), "--format", "md"]) == 0
    out = capsys.readouterr()
    assert out.err.strip() == (
        f"mtrec report: warning: {tmp_path}: the run has not finished (no 'finished' time; "
        "1 record so far): still running, or stopped before the end"
    )
    assert "**Unfinished run**" in out.out
    (tmp_path / "results.json").write_text(json.dumps(document()), encoding="utf-8")
    assert main(["report", str(tmp_path), "--format", "md"]) == 0
    out = capsys.readouterr()
    assert out.err.strip() == f"mtrec report: warning: {tmp_path}: the run holds no records"
    assert "No records" in out.out


def test_one_backbone_with_different_settings_is_labelled_by_what_differs() -> None:
    import io

    from rich.console import Console

    from mtrec.reports import print_summary

    small, large = record("id-embedding"), record("id-embedding", accuracy=0.9)
    for entry, dim in ((small, 32), (large, 64)):
        entry["key"] = f"id-{dim}"
        entry["config"] = {
            "backbone": {"name": "id-embedding", "pooling": None, "options": {"dim": dim}},
            "training": {"lr": 0.001, "strategy": "full"},
        }
    other = record("tiny-bert")
    run = document(small, large, other)
    markdown = render_markdown(run)
    assert "| id-embedding (options.dim=32) | full |" in markdown
    assert "| id-embedding (options.dim=64) | full |" in markdown
    assert "| tiny-bert | full |" in markdown
    labels = [c["label"] for c in build_overview(run)["combinations"]]
    assert labels == ["id-embedding (options.dim=32)", "id-embedding (options.dim=64)", "tiny-bert"]
    assert "id-embedding (options.dim=64)" in render_html(run)
    buffer = io.StringIO()
    print_summary(run, Console(file=buffer, width=300, color_system=None))
    assert "id-embedding (options.dim=32)" in buffer.getvalue()

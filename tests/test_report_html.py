"""report.html in a real browser: headless Chromium through selenium and chromedriver.

The page comes from a real tiny sweep (two random-init backbones, one epoch) into which hostile
strings are injected where data reaches the report: a plugin (backbone) name, a task name, a
group name, a domain name, the suite's name and description, and a failed combination's
error. A subtask-gain entry in the shape the fairness plugin writes is added so that the
gain plot with intervals is drawn too.

Skipped only when Chromium is not installed and this is not CI (``make browser`` installs
it); under ``CI`` a missing browser fails.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtrec.cli import main
from mtrec.reports import render_html, render_markdown

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOSTILE = "<script>alert(1)</script>"
HOSTILE_GROUP = '<img src=x onerror="alert(2)">'
HOSTILE_ERROR = "boom </script><script>alert(3)</script> & more"

SUITE = """
name: html-report
backbones: [tiny-bert, id-embedding]
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_users: 40, n_items: 40, n_interactions: 200}}]
fairness_metrics: [group-gap]  # subtask gains are injected below: no single-task baselines
fairness: {min_group_users: 2}  # 40 users: every group counts, so each record has a heatmap
training: {epochs: 1, batch_size: 32, lr: 0.001}
measure: {latency_batch_sizes: [1, 4], latency_warmup: 1, latency_min_repeats: 8,
          latency_min_seconds: 0, flops: false}
"""


@pytest.fixture(scope="module")
def run_document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real sweep through ``mtrec run``, which writes both reports next to results.json."""
    folder = tmp_path_factory.mktemp("run")
    (folder / "suite.yaml").write_text(SUITE, encoding="utf-8")
    out = folder / "run"
    assert main(["run", str(folder / "suite.yaml"), "--out", str(out), "--quiet"]) == 0
    document: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    # the leaderboard's single-seed intervals come from the predictions in the run folder
    assert (out / "report.md").read_text(encoding="utf-8") == render_markdown(document, out)
    assert (out / "report.html").read_text(encoding="utf-8") == render_html(document, out)
    return document


def _rename_task(record: dict[str, Any], old: str, new: str) -> None:
    for section in (record["metrics"], record["tasks"], record["reference"]["trivial"]):
        section[new] = section.pop(old)
    gaps = record["fairness"].get("group-gap", {})
    if old in gaps:
        gaps[new] = gaps.pop(old)


def _rename_group(record: dict[str, Any], old: str, new: str) -> None:
    for attributes in record["fairness"].get("group-gap", {}).values():
        for figures in attributes.values():
            for field in ("by_group", "group_sizes"):
                if old in figures[field]:
                    figures[field][new] = figures[field].pop(old)
            if figures.get("worst_group") == old:
                figures["worst_group"] = new


def hostile(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of a real run with data strings an attacker could choose."""
    document = copy.deepcopy(document)
    document.pop("tradeoffs", None)  # recomputed from the records by the report
    document["suite"]["name"] = HOSTILE
    document["suite"]["description"] = f"description {HOSTILE}"
    first, second = document["records"][:2]
    first["backbone"] = HOSTILE
    second["domain"] = f"{HOSTILE} domain"
    for record in (first, second):
        _rename_task(record, "click", HOSTILE)
        group = next(iter(record["fairness"]["group-gap"]["category"]["age_group"]["by_group"]))
        _rename_group(record, group, HOSTILE_GROUP)
        tasks = {}
        for offset, task in enumerate(record["tasks"]):
            gain = 4.0 - 5.0 * offset
            tasks[task] = {
                "metric": record["tasks"][task]["primary_metric"],
                "direction": "higher",
                "baseline": 0.5,
                "multi_task": 0.5 + gain / 200,
                "gain": gain,
                "se": 1.0,
                "ci": [gain - 2.0, gain + 2.0],
                "negative_transfer": gain < -2.0,
            }
        record["fairness"]["subtask-gain"] = {"baseline_seeds": [0], "tasks": tasks}
    failed = copy.deepcopy(second)
    failed.update(status="failed", error=HOSTILE_ERROR, key="f" * 16, backbone="tiny-distilbert")
    for field in ("metrics", "efficiency", "fairness"):
        failed[field] = {}
    for field in ("summary", "pareto_optimal"):
        failed.pop(field, None)
    document["records"].append(failed)
    return document


@pytest.fixture(scope="module")
def report_path(run_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-run")
    (folder / "results.json").write_text(json.dumps(hostile(run_document)), encoding="utf-8")
    assert main(["report", str(folder)]) == 0
    return folder / "report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = f"{' and '.join(missing)} not installed (`make browser` installs Chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a browser for the HTML report test: {reason}")
        pytest.skip(reason)
    profile = tempfile.mkdtemp(prefix="mtrec-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        # Record alert() calls instead of blocking on a dialog; runs before any page script.
        driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "window.__alerts = []; window.alert = function (m) { "
             "window.__alerts.push(String(m)); };"},
        )  # fmt: skip
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(browser: Any, report_path: Path) -> Any:
    browser.get(report_path.as_uri())
    browser.implicitly_wait(0)
    return browser


def test_page_loads_without_console_errors(page: Any) -> None:
    page.find_element("css selector", "footer")
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    assert page.title == f"mtrec report: {HOSTILE}"


def test_every_plot_is_displayed_with_a_size(page: Any) -> None:
    plots = page.find_elements("css selector", "svg.plot")
    kinds = {p.get_attribute("class").split()[1] for p in plots}
    # two tradeoff scatters, gain bars, a heatmap per combination and its colour scale,
    # latency distributions per batch size
    assert kinds == {
        "plot-scatter",
        "plot-bars",
        "plot-heatmap",
        "plot-legend",
        "plot-distribution",
    }
    assert len(plots) == 2 + 1 + 2 + 1 + 2
    for plot in plots:
        assert plot.is_displayed()
        assert plot.size["width"] > 100 and plot.size["height"] > 40, plot.size
    # each tradeoff scatter shows both combinations, the Pareto-optimal ones filled
    for scatter in page.find_elements("css selector", "svg.plot-scatter"):
        assert len(scatter.find_elements("css selector", "circle.front, circle.dominated")) == 2
        assert scatter.find_elements("css selector", "circle.front")


def _column(page: Any, table: str, index: int) -> list[str]:
    """A column's sort keys (its text where a cell has no ``data-sort``), top to bottom."""
    return [
        cell.text if (key := cell.get_attribute("data-sort")) is None else key
        for cell in page.find_elements(
            "css selector", f'table[data-table="{table}"] tbody tr td:nth-child({index + 1})'
        )
    ]


def test_clicking_a_header_sorts_the_table(page: Any) -> None:
    headers = page.find_elements("css selector", 'table[data-table="efficiency"] thead th')
    index = next(i for i, h in enumerate(headers) if h.text.startswith("p50 ms bs 1"))
    labels_before = _column(page, "efficiency", 0)
    before = [float(v) for v in _column(page, "efficiency", index)]
    assert len(set(before)) == len(before) == 2
    headers[index].click()
    ascending = [float(v) for v in _column(page, "efficiency", index)]
    assert ascending == sorted(before)
    assert headers[index].get_attribute("aria-sort") == "ascending"
    headers[index].click()
    descending = [float(v) for v in _column(page, "efficiency", index)]
    assert descending == sorted(before, reverse=True)
    # whole rows move, not just the cells of one column
    assert _column(page, "efficiency", 0) != labels_before or ascending != before
    assert sorted(_column(page, "efficiency", 0)) == sorted(labels_before)

    # a failed combination has no score: its empty cell stays last in both directions
    headers = page.find_elements("css selector", 'table[data-table="combinations"] thead th')
    score = next(i for i, h in enumerate(headers) if h.text.startswith("accuracy score"))
    headers[score].click()
    values = _column(page, "combinations", score)
    assert values[-1] == "" and [float(v) for v in values[:-1]] == sorted(
        float(v) for v in values[:-1]
    )
    headers[score].click()
    values = _column(page, "combinations", score)
    assert values[-1] == "" and [float(v) for v in values[:-1]] == sorted(
        (float(v) for v in values[:-1]), reverse=True
    )


def test_data_strings_are_shown_escaped_and_never_run(page: Any) -> None:
    text = page.find_element("css selector", "body").text
    assert HOSTILE in text  # a backbone, a task, a domain, the suite: shown literally
    assert "alert(3)" in text  # the failed combination's error
    assert page.execute_script("return window.__alerts") == []
    scripts = page.execute_script(
        "return Array.from(document.scripts).map(s => [s.type, s.textContent.slice(0, 40)])"
    )
    assert len(scripts) == 2, scripts  # the embedded overview (JSON) and the sorting script
    assert [s[0] for s in scripts] == ["application/json", ""]
    assert page.find_elements("css selector", "img") == []
    # the hostile group name sits in the heatmap as text
    groups = page.execute_script(
        "return Array.from(document.querySelectorAll('svg.plot-heatmap text'))"
        ".map(t => t.textContent)"
    )
    assert any(HOSTILE_GROUP in g for g in groups)
    # the embedded overview parses back to the same strings
    overview = json.loads(page.execute_script("return document.scripts[0].textContent"))
    assert overview["run"]["suite"] == HOSTILE
    assert any(c["error"] == HOSTILE_ERROR for c in overview["combinations"])


def test_plots_shrink_to_a_narrow_window(page: Any) -> None:
    page.set_window_size(420, 900)
    try:
        for plot in page.find_elements("css selector", "svg.plot"):
            assert plot.size["width"] <= 420
    finally:
        page.set_window_size(1280, 1000)

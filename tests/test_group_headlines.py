"""Headline group gaps: one per task in its own metric, with support, in every report."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from mtrec.measure.group_headlines import group_gap_headlines, worst_relative_group_gap
from mtrec.reports.markdown import render_markdown
from mtrec.reports.overview import build_overview
from mtrec.reports.terminal import print_summary
from tests.test_reports import document, record


def _with_rating_gaps(record: dict[str, Any]) -> dict[str, Any]:
    """Adds rating gaps: a large raw one in RMSE units and an intersection with support."""
    record["fairness"]["group-gap"]["category"]["age"].update(
        {
            "difference_ci": [0.02, 0.18],
            "difference_ci_all": [0.0, 0.21],
            "support": {"groups": 2, "smallest_group_users": 25},
            "min_group_users": 20,
            "group_users": {"young": 25, "old": 30, "middle": 3},
            "excluded_groups": ["middle"],
        }
    )
    record["fairness"]["group-gap"]["category"]["age"]["by_group"]["middle"] = 0.99
    record["fairness"]["group-gap"]["rating"] = {
        "age": {"metric": "rmse", "difference": 0.3, "group_min": 0.8, "group_max": 1.1},
        "age&occupation": {
            "metric": "rmse",
            "direction": "lower",
            "by_group": {"young&none": 0.8, "old&none": 1.3, "old&writer": 9.0},
            "group_users": {"young&none": 40, "old&none": 31, "old&writer": 1},
            "excluded_groups": ["old&writer"],
            "support": {"groups": 2, "smallest_group_users": 31},
            "min_group_users": 20,
            "group_min": 0.8,
            "group_max": 1.3,
            "difference": 0.5,
            "difference_ci": [0.2, 0.8],
            "difference_ci_all": [0.1, 0.9],
            "worst_group": "old&none",
        },
    }
    return record


def test_one_headline_per_task_in_its_own_metric() -> None:
    one = _with_rating_gaps(record("tiny-bert", gap=0.1))
    headlines = {h.task: h for h in group_gap_headlines(one)}
    assert set(headlines) == {"category", "rating"}
    rating, category = headlines["rating"], headlines["category"]
    assert (rating.metric, rating.attribute, rating.difference) == ("rmse", "age&occupation", 0.5)
    assert rating.interval == (0.1, 0.9)  # the interval that holds for all gaps at once
    assert rating.support() == "2 groups, \u2265 31 users"
    assert (category.metric, category.difference) == ("accuracy", 0.1)
    # one number across tasks only as a share of each task's metric: 0.5 / 1.3 beats 0.1 / 0.8
    assert worst_relative_group_gap(one) == 100 * 0.5 / 1.3


def test_reports_show_each_task_headline_with_support() -> None:
    one = _with_rating_gaps(record("tiny-bert", gap=0.1))
    markdown = render_markdown(document(one))
    assert "## Group fairness (largest gap per task)" in markdown
    assert (
        "| tiny-bert | ecommerce-seed | synthetic-ecommerce | 0 | rating | rmse | age&occupation "
        "| 0.5000 | [0.1000, 0.9000] | old&none | 2 groups, \u2265 31 users |"
    ) in markdown
    assert "| category | accuracy | age | 0.1000 | [0.0000, 0.2100] | old |" in markdown
    assert "| [0.0200, 0.1800] | old | middle (3) |" in markdown  # left out, and marked
    overview = build_overview(document(one))
    marked = {row["group"]: row["excluded"] for row in overview["group_gaps"]}
    shortfall = {row["group"]: row["shortfall"] for row in overview["group_gaps"]}
    # the three-user group scores best, but the best counted group is the reference
    assert shortfall["young"] == 0.0 and shortfall["old"] == pytest.approx(0.1)
    assert marked == {
        "young": False,
        "old": False,
        "middle": True,
        "young&none": False,
        "old&none": False,
        "old&writer": True,
    }
    buffer = io.StringIO()
    print_summary(document(one), Console(file=buffer, width=250, color_system=None))
    assert "category accuracy 0.100; rating rmse 0.500" in buffer.getvalue()

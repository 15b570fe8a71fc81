"""Renderers of a run's results: the terminal table, the Markdown and the HTML report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtrec.reports.html import render_html
from mtrec.reports.markdown import render_markdown
from mtrec.reports.overview import build_overview
from mtrec.reports.terminal import print_summary

__all__ = ["build_overview", "print_summary", "render_html", "render_markdown", "write_reports"]


def write_reports(document: Mapping[str, Any], run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` of a run into its folder; return both paths."""
    markdown, page = run_dir / "report.md", run_dir / "report.html"
    markdown.write_text(render_markdown(document, run_dir), encoding="utf-8")
    page.write_text(render_html(document, run_dir), encoding="utf-8")
    return markdown, page

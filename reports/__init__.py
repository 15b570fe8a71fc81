"""Renderers of a run's results: the terminal table and the Markdown report."""

from reports.markdown import render_markdown
from reports.terminal import print_summary

__all__ = ["print_summary", "render_markdown"]

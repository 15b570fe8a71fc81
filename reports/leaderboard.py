"""The leaderboard (:mod:`mtrec.store.leaderboard`) in the terminal, in Markdown and in HTML.

Terminal tables fit the console's width by wrapping cells at spaces and, where the columns
still do not fit, by splitting a table into several that repeat its row names
(:func:`fit_to_width`): a number is never cut, shortened or hidden in a zero-width column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

from mtrec.reports.plots import text as html_text
from mtrec.reports.rounds import board_html, board_markdown, board_table
from mtrec.reports.summary import compact, number
from mtrec.reports.text import markdown_cell, terminal_markup
from mtrec.store.leaderboard import (
    MOST_POPULAR,
    Cell,
    Leaderboard,
    TaskTable,
    build_leaderboard,
    source_of,
)

TRIVIAL = "(trivial predictor)"  # the reference row of a task table, not ranked
BEST = "*"  # after the best mean of a column, in every format (bold too where there is bold)
ONE_SEED = "\u2020"  # after an interval from a bootstrap over users (one seed)

READING = (
    "Cells: mean over seeds [95% interval]; t-interval over seeds with two or more seeds, "
    f"{ONE_SEED} a bootstrap over users of the test predictions with one seed. {BEST} best mean "
    f"of the column. {TRIVIAL}: the no-input reference on the same test splits (not ranked; "
    f"a ranking task's is ({MOST_POPULAR}), its candidates by training popularity). "
    "Rank: on each domain, variants ordered by their mean win rate over the "
    "domain's tasks (the share of other variants a variant beats in a task, ties half); the "
    "board is ordered by the mean win rate over domains."
)


# --------------------------------------------------------------------------------------
# shared text
# --------------------------------------------------------------------------------------


def mean_text(cell: Cell) -> str:
    return number(cell.mean) + (BEST if cell.best else "")


def interval_text(cell: Cell) -> str:
    if cell.low is None or cell.high is None:
        return f"[no interval, n={len(cell.seeds)}]"
    mark = ONE_SEED if cell.method == "bootstrap over users" else ""
    return f"[{number(cell.low)}, {number(cell.high)}]{mark}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _rank(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cost_rows(board: Leaderboard) -> list[list[str]]:
    return [
        [
            c.variant,
            number(c.latency_p50_ms, 2),
            compact(c.train_samples_per_s),
            number(c.peak_memory_mb, 0),
            compact(c.flops_per_sample),
            compact(c.params),
            str(c.records),
        ]
        for c in board.costs
    ]


COST_HEADERS = [
    "variant",
    "p50 ms bs 1",
    "train rows/s",
    "peak MB",
    "FLOPs /sample",
    "params",
    "records",
]


def _failure_lines(board: Leaderboard) -> list[str]:
    several = len(board.runs) > 1
    return [
        f"{f.variant} x {f.head_set} x {f.domain} (seed {f.seed}"
        + (f", {f.run}" if several else "")
        + f"): {f.error}"
        for f in board.failures
    ]


def _settings_lines(board: Leaderboard, hidden_only: bool = False) -> list[str]:
    """Each variant's settings that set it apart from its backbone's other rows (the recipe
    too, which a name leaves out); ``hidden_only``: only variants whose name omits one."""
    return [
        f"{variant}: " + ", ".join(f"{k}={v}" for k, v in settings.items())
        for variant, settings in board.variants.items()
        if settings and (not hidden_only or any(v not in variant for v in settings.values()))
    ]


# --------------------------------------------------------------------------------------
# terminal
# --------------------------------------------------------------------------------------


def fit_to_width(table: Table, console: Console, keep: int = 1) -> list[Table]:
    """``table`` as tables no wider than the console: its first ``keep`` columns (the row
    names) in each, the others split between them so that every column gets at least its
    longest word, and the width left shared out in proportion to what each column could use.
    Cells wrap at spaces; only a word wider than a whole console folds, and nothing is
    truncated."""
    width = console.width
    columns = list(table.columns)
    cells = [list(column.cells) for column in columns]
    options = console.options.update_width(width)

    def measure(i: int) -> tuple[int, int]:
        """Column i's longest word and longest line, header included."""
        low, high = 1, 1
        for content in [columns[i].header, *cells[i]]:
            renderable = console.render_str(content) if isinstance(content, str) else content
            measured = Measurement.get(console, options, renderable)
            low, high = max(low, measured.minimum), max(high, measured.maximum)
        return low, high

    ranges = [measure(i) for i in range(len(columns))]
    padding = 3  # a cell's padding (1 + 1) and the rule after it

    def needed(indices: Sequence[int]) -> int:
        return 1 + sum(ranges[i][0] + padding for i in indices)

    head = list(range(min(keep, len(columns))))

    def build(indices: Sequence[int], part: str = "") -> Table:
        title = table.title
        if part and isinstance(title, str):
            title = f"{title} {part}"
        spare = width - 1 - sum(ranges[i][1] + padding for i in indices)
        if spare >= 0:
            widths = [ranges[i][1] for i in indices]
        else:  # every column its longest word; what is left goes to the figures first
            left = max(0, width - needed(indices))
            widths = [ranges[i][0] for i in indices]
            for group in (range(len(head), len(indices)), range(len(head))):
                for position in group:
                    i = indices[position]
                    extra = min(left, ranges[i][1] - ranges[i][0])
                    widths[position] += extra
                    left -= extra
        built = Table(
            title=title,
            title_justify=table.title_justify,
            caption=table.caption,
            caption_justify=table.caption_justify,
            show_lines=table.show_lines,
        )
        squeezed = needed(indices) > width
        for position, (i, column_width) in enumerate(zip(indices, widths, strict=True)):
            column = columns[i]
            # rich narrows the row names (folding them) where they leave too little room,
            # never the figures
            fixed = None if squeezed and position < len(head) else column_width
            built.add_column(
                column.header,
                justify=column.justify,
                style=column.style,
                overflow="fold",
                no_wrap=False,
                width=fixed,
            )
        for row in range(table.row_count):
            built.add_row(*(cells[i][row] for i in indices))
        return built

    chunks: list[list[int]] = []
    current: list[int] = []
    for i in range(len(head), len(columns)):
        if current and needed([*head, *current, i]) > width:
            chunks.append(current)
            current = []
        current.append(i)
    if current or not chunks:
        chunks.append(current)
    if len(chunks) == 1:
        return [build(head + chunks[0])]
    return [build(head + chunk, f"({n}/{len(chunks)})") for n, chunk in enumerate(chunks, 1)]


def print_fitted(console: Console, table: Table, keep: int = 1) -> None:
    for part in fit_to_width(table, console, keep):
        console.print(part)


def _cell_markup(cell: Cell | None) -> RenderableType:
    if cell is None:
        return "-"
    mean = terminal_markup(mean_text(cell))
    shown = f"[bold green]{mean}[/bold green]" if cell.best else mean
    return f"{shown}\n[dim]{terminal_markup(interval_text(cell))}[/dim]"


def print_leaderboard(board: Leaderboard, console: Console, title: str = "leaderboard") -> None:
    """Every table of the board, each fitted to the console's width."""
    if not board.tables:
        console.print(f"{terminal_markup(title)}: no ok record reports a task metric.")
    for task_table in board.tables:
        table = Table(title=f"{title}: {terminal_markup(task_table.title)}", title_justify="left")
        table.add_column("variant")
        for domain in task_table.domains:
            table.add_column(terminal_markup(domain), justify="right")
        for variant, cells in task_table.rows:
            table.add_row(
                terminal_markup(variant), *(_cell_markup(cells.get(d)) for d in task_table.domains)
            )
        if task_table.reference:
            table.add_row(
                f"[dim]{terminal_markup(reference_row(task_table))}[/dim]",
                *(_cell_markup(task_table.reference.get(d)) for d in task_table.domains),
            )
        print_fitted(console, table)
    if board.standings:
        table = Table(title=f"{title}: rank per domain", title_justify="left")
        table.add_column("variant")
        for domain in board.domains:
            table.add_column(terminal_markup(domain), justify="right")
        table.add_column("mean rank", justify="right")
        table.add_column("mean win rate", justify="right")
        for s in board.standings:
            table.add_row(
                terminal_markup(s.variant),
                *(str(s.domain_ranks[d]) if d in s.domain_ranks else "-" for d in board.domains),
                _rank(s.mean_rank),
                _rate(s.mean_win_rate),
            )
        print_fitted(console, table)
        console.print(f"[dim]{terminal_markup(READING)}[/dim]")
    if board.costs:
        table = Table(title=f"{title}: cost (mean over domains and seeds)", title_justify="left")
        for i, heading in enumerate(COST_HEADERS):
            table.add_column(heading, justify="left" if i == 0 else "right")
        for row in _cost_rows(board):
            table.add_row(*(terminal_markup(x) for x in row))
        print_fitted(console, table)
    for fairness in board.fairness:
        table = Table(title=f"{title}: {terminal_markup(fairness.title)}", title_justify="left")
        table.add_column("variant")
        for domain in fairness.domains:
            table.add_column(terminal_markup(domain), justify="right")
        for variant, cells in fairness.rows:
            table.add_row(
                terminal_markup(variant), *(_cell_markup(cells.get(d)) for d in fairness.domains)
            )
        print_fitted(console, table)
    for matrix in board.transfers:
        table = Table(
            title=f"{title}: transfer gain % over the target alone, "
            f"{terminal_markup(matrix.variant)} (source x target)",
            title_justify="left",
        )
        table.add_column("source")
        for target in matrix.targets:
            table.add_column(terminal_markup(target), justify="right")
        for source in matrix.sources:
            table.add_row(
                terminal_markup(source),
                *(_cell_markup(matrix.cells.get((source, t))) for t in matrix.targets),
            )
        print_fitted(console, table)
    loop = board_table(board.feedback, title)  # the feedback loop (protocol: rounds)
    if loop is not None:
        print_fitted(console, loop)
    settings = _settings_lines(board, hidden_only=True)
    if settings:
        console.print("[bold]variants[/bold] (the settings that set each apart):")
        for line in settings:
            console.print("  " + terminal_markup(line))
    if board.failures:
        console.print(f"[bold red]failed records ({len(board.failures)})[/bold red]:")
        for line in _failure_lines(board):
            console.print("  " + terminal_markup(line))
    for note in board.notes:
        console.print("[dim]note: " + terminal_markup(note) + "[/dim]")


def print_run_leaderboard(document: Mapping[str, Any], run_dir: Path, console: Console) -> None:
    """The leaderboard of one run (the end of ``mtrec run``)."""
    suite = str((document.get("suite") or {}).get("name", "run"))
    board = build_leaderboard([source_of(document, run_dir)])
    print_leaderboard(board, console, title=f"mtrec {suite}")


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------


def reference_row(table: TaskTable) -> str:
    """The name of a task table's reference row: ``(trivial predictor)``, ``(most-popular)``."""
    return f"({table.reference_name})"


def _with_reference(table: TaskTable) -> list[tuple[str, Mapping[str, Cell]]]:
    """The table's rows and, last, its trivial reference row."""
    rows: list[tuple[str, Mapping[str, Cell]]] = list(table.rows)
    return rows + ([(reference_row(table), table.reference)] if table.reference else [])


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(markdown_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    return lines


def _md_cell(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    mean = markdown_cell(number(cell.mean))
    shown = f"**{mean}**\\{BEST}" if cell.best else mean
    return f"{shown} {markdown_cell(interval_text(cell))}"


def _md_grid(
    corner: str,
    columns: Sequence[str],
    rows: Sequence[tuple[str, Mapping[Any, Cell]]],
    key: Any = None,
) -> list[str]:
    """A table of cells; its cells are already Markdown (bold), so they are not escaped."""
    lines = [
        "| " + " | ".join(markdown_cell(h) for h in (corner, *columns)) + " |",
        "|" + "|".join("---" for _ in range(len(columns) + 1)) + "|",
    ]
    for name, cells in rows:
        shown = [_md_cell(cells.get(key(c) if key else c)) for c in columns]
        lines.append("| " + " | ".join([markdown_cell(name), *shown]) + " |")
    return lines


def leaderboard_markdown(board: Leaderboard, heading: str = "##") -> list[str]:
    """The board as Markdown lines, headed ``heading Leaderboard``."""
    lines = [f"{heading} Leaderboard", ""]
    if not board.tables:
        lines += ["No ok record reports a task metric.", ""]
    else:
        lines += [READING, ""]
    for table in board.tables:
        lines += [f"{heading}# {markdown_cell(table.title)}", ""]
        lines += _md_grid("variant", table.domains, _with_reference(table))
        lines += [""]
    if board.standings:
        lines += [f"{heading}# Rank per domain", ""]
        lines += _md_table(
            ["variant", *board.domains, "mean rank", "mean win rate"],
            _rank_rows(board),
        )
        lines += [""]
    if board.costs:
        lines += [f"{heading}# Cost (mean over domains and seeds)", ""]
        lines += _md_table(COST_HEADERS, _cost_rows(board))
        lines += [""]
    for fairness in board.fairness:
        lines += [f"{heading}# {markdown_cell(fairness.title)}", ""]
        lines += _md_grid("variant", fairness.domains, fairness.rows)
        lines += [""]
    for matrix in board.transfers:
        lines += [
            f"{heading}# Transfer gain % over the target alone: "
            f"{markdown_cell(matrix.variant)} (source x target)",
            "",
        ]
        lines += _md_grid(
            "source",
            matrix.targets,
            [(s, {t: c for (s2, t), c in matrix.cells.items() if s2 == s}) for s in matrix.sources],
        )
        lines += [""]
    lines += board_markdown(board.feedback, heading)  # the feedback loop (protocol: rounds)
    settings = _settings_lines(board)
    if settings:
        lines += [f"{heading}# Variants", ""]
        lines += [f"- {markdown_cell(line)}" for line in settings]
        lines += [""]
    if board.failures:
        lines += [f"{heading}# Failed records ({len(board.failures)})", ""]
        lines += [f"- {markdown_cell(line)}" for line in _failure_lines(board)]
        lines += [""]
    lines += [f"- note: {markdown_cell(note)}" for note in board.notes]
    return lines


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------


def _html_cell(cell: Cell | None) -> str:
    if cell is None:
        return '<td class="num" data-sort="">-</td>'
    css = "num best" if cell.best else "num"
    mean = html_text(mean_text(cell))
    shown = f"<strong>{mean}</strong>" if cell.best else mean
    return (
        f'<td class="{css}" data-sort="{cell.mean!r}">{shown}'
        f'<br><span class="ci">{html_text(interval_text(cell))}</span></td>'
    )


def _html_grid(
    name: str, corner: str, columns: Sequence[str], rows: Sequence[tuple[str, Mapping[Any, Cell]]]
) -> str:
    head = "".join(f'<th scope="col">{html_text(h)}</th>' for h in (corner, *columns))
    body = "".join(
        "<tr><td>"
        + html_text(variant)
        + "</td>"
        + "".join(_html_cell(cells.get(c)) for c in columns)
        + "</tr>"
        for variant, cells in rows
    )
    return (
        f'<div class="scroll"><table class="sortable" data-table="{html_text(name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _html_rows(name: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f'<th scope="col">{html_text(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="scroll"><table class="sortable" data-table="{html_text(name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def leaderboard_html(board: Leaderboard) -> str:
    """The board as an HTML fragment (the report's leaderboard section)."""
    if not board.tables:
        return '<p class="none">No ok record reports a task metric.</p>'
    parts = [f"<p>{html_text(READING)}</p>"]
    for table in board.tables:
        parts.append(f"<h3>{html_text(table.title)}</h3>")
        parts.append(
            _html_grid(
                f"leaderboard {table.task} {table.metric}",
                "variant",
                table.domains,
                _with_reference(table),
            )
        )
    parts.append("<h3>Rank per domain</h3>")
    parts.append(
        _html_rows(
            "leaderboard ranks",
            ["variant", *board.domains, "mean rank", "mean win rate"],
            _rank_rows(board),
        )
    )
    if board.costs:
        parts.append("<h3>Cost (mean over domains and seeds)</h3>")
        parts.append(_html_rows("leaderboard cost", COST_HEADERS, _cost_rows(board)))
    for fairness in board.fairness:
        parts.append(f"<h3>{html_text(fairness.title)}</h3>")
        parts.append(
            _html_grid(f"leaderboard {fairness.name}", "variant", fairness.domains, fairness.rows)
        )
    for matrix in board.transfers:
        parts.append(
            f"<h3>Transfer gain % over the target alone: {html_text(matrix.variant)} "
            "(source x target)</h3>"
        )
        rows = [
            (s, {t: c for (s2, t), c in matrix.cells.items() if s2 == s}) for s in matrix.sources
        ]
        parts.append(_html_grid("leaderboard transfer", "source", matrix.targets, rows))
    parts.append(board_html(board.feedback))  # the feedback loop (protocol: rounds)
    settings = _settings_lines(board)
    if settings:
        parts.append("<h3>Variants</h3><ul>")
        parts += [f"<li>{html_text(line)}</li>" for line in settings]
        parts.append("</ul>")
    if board.failures:
        parts.append(f"<h3>Failed records ({len(board.failures)})</h3><ul>")
        parts += [f"<li>{html_text(line)}</li>" for line in _failure_lines(board)]
        parts.append("</ul>")
    parts += [f'<p class="none">note: {html_text(note)}</p>' for note in board.notes]
    return "".join(parts)


def _rank_rows(board: Leaderboard) -> list[list[str]]:
    """The rank-per-domain table's rows (every view shows the same)."""
    return [
        [
            s.variant,
            *(str(s.domain_ranks[d]) if d in s.domain_ranks else "-" for d in board.domains),
            _rank(s.mean_rank),
            _rate(s.mean_win_rate),
        ]
        for s in board.standings
    ]

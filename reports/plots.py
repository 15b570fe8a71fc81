"""Inline SVG plots for the HTML report, drawn from plain figures (no plotting library).

Every function returns one ``<svg>`` element as a string. Text that comes from data (names,
labels, tooltips) is escaped here, at the point where it enters markup; callers pass raw
strings. Each mark carries a ``<title>``, which browsers show as a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

# Colours: an Okabe-Ito style qualitative palette (readable by colour-blind readers) and the
# two ends of the sequential heatmap scale.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
FRONT = "#d55e00"
DOMINATED = "#8a8a8a"
HEAT_LOW = (255, 247, 236)
HEAT_HIGH = (179, 0, 0)

WIDTH = 760
POINT_LABEL_CHARS = 30  # a scatter point's name beside it
LABEL_CHARS = 38  # longer category labels are shortened on the axis; the tooltip has them whole


def text(value: object) -> str:
    """Escape a data string for element content and attribute values."""
    return escape(str(value), quote=True)


def shorten(label: str, limit: int = LABEL_CHARS) -> str:
    """Cut a label to ``limit`` characters (before escaping, so no entity is cut)."""
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, without an exponent in everyday ranges."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 7 or magnitude < -3:
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{max(digits - 1 - magnitude, 0)}f}"


def tick_label(value: float) -> str:
    """A tick value without trailing zeros."""
    label = number(value, 4)
    if "." in label and "e" not in label:
        label = label.rstrip("0").rstrip(".")
    return label


# --------------------------------------------------------------------------------------
# scales
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scale:
    """Maps data values in [low, high] onto pixels in [start, end], linearly or in log10."""

    low: float  # data value at ``start``
    high: float  # data value at ``end``
    start: float  # pixel coordinate of ``low``
    end: float  # pixel coordinate of ``high``
    log: bool = False  # log10 axis (every value must be positive)

    def __call__(self, value: float) -> float:
        low, high, value = (
            (math.log10(self.low), math.log10(self.high), math.log10(max(value, 1e-300)))
            if self.log
            else (self.low, self.high, value)
        )
        share = 0.5 if high == low else (value - low) / (high - low)
        return self.start + share * (self.end - self.start)

    def ticks(self, count: int = 5) -> list[float]:
        """Round values inside the domain for axis ticks."""
        if self.log:
            return _log_ticks(self.low, self.high)
        return _linear_ticks(self.low, self.high, count)


def fitted_scale(
    values: Sequence[float],
    start: float,
    end: float,
    *,
    include_zero: bool = False,
    allow_log: bool = False,
) -> Scale:
    """A scale covering ``values`` with a little margin, in log10 when they span > 20x."""
    finite = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
    low, high = min(finite), max(finite)
    if allow_log and low > 0 and high / low > 20:
        return Scale(low=low / 1.25, high=high * 1.25, start=start, end=end, log=True)
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    span = high - low or abs(high) or 1.0
    return Scale(low=low - 0.06 * span, high=high + 0.06 * span, start=start, end=end)


def _linear_ticks(low: float, high: float, count: int) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10.0**exponent
            if low <= value <= high:
                ticks.append(value)
    return ticks


# --------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------


def _svg(width: float, height: float, title: str, body: list[str], kind: str) -> str:
    return (
        f'<svg class="plot plot-{kind}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
        f"<title>{text(title)}</title>" + "".join(body) + "</svg>"
    )


def _x_axis(scale: Scale, y: float, top: float, label: str) -> list[str]:
    parts = [f'<line class="axis" x1="{scale.start:.1f}" x2="{scale.end:.1f}" y1="{y}" y2="{y}"/>']
    for tick in scale.ticks():
        x = scale(tick)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{y}"/>')
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{y + 14}" text-anchor="middle">'
            f"{text(tick_label(tick))}</text>"
        )
    middle = (scale.start + scale.end) / 2
    parts.append(
        f'<text class="axis-label" x="{middle:.1f}" y="{y + 32}" text-anchor="middle">'
        f"{text(label)}</text>"
    )
    return parts


def _y_axis(scale: Scale, x: float, right: float, label: str) -> list[str]:
    parts = [f'<line class="axis" x1="{x}" x2="{x}" y1="{scale.start:.1f}" y2="{scale.end:.1f}"/>']
    for tick in scale.ticks():
        y = scale(tick)
        parts.append(f'<line class="grid" x1="{x}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{x - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{text(tick_label(tick))}</text>"
        )
    middle = (scale.start + scale.end) / 2
    parts.append(
        f'<text class="axis-label" transform="translate({x - 48},{middle:.1f}) rotate(-90)" '
        f'text-anchor="middle">{text(label)}</text>'
    )
    return parts


def _legend(entries: Sequence[tuple[str, str, str]], x: float, y: float) -> list[str]:
    """A row of (shape, colour, label) entries; shape is "dot", "ring" or "box"."""
    parts = ['<g class="legend">']
    for shape, colour, label in entries:
        if shape == "dot":
            parts.append(f'<circle cx="{x + 5:.1f}" cy="{y - 4}" r="5" fill="{colour}"/>')
        elif shape == "ring":
            parts.append(
                f'<circle cx="{x + 5:.1f}" cy="{y - 4}" r="4.5" fill="none" '
                f'stroke="{colour}" stroke-width="1.5"/>'
            )
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        shown = shorten(label, 44)
        parts.append(f'<text x="{x + 14:.1f}" y="{y}">{text(shown)}</text>')
        x += 24 + 6.5 * len(shown)
    parts.append("</g>")
    return parts


# --------------------------------------------------------------------------------------
# scatter: one objective against another, Pareto-optimal points highlighted
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Point:
    """A combination in a tradeoff scatter."""

    x: float  # horizontal objective
    y: float  # vertical objective
    label: str  # the combination's name, beside the point and in its tooltip
    on_front: bool  # Pareto-optimal over all objectives
    details: str = ""  # extra tooltip lines


def scatter(points: Sequence[Point], *, x_label: str, y_label: str, title: str) -> str:
    """Points of ``y`` against ``x``; front points filled and larger, others hollow."""
    height = 360
    left, right, top, bottom = 78, WIDTH - 20, 16, height - 70
    xs = fitted_scale([p.x for p in points], left, right, allow_log=True)
    ys = fitted_scale([p.y for p in points], bottom, top)
    body = _x_axis(xs, bottom, top, x_label) + _y_axis(ys, left, right, y_label)
    # Dominated points first so that front points are drawn on top.
    for point in sorted(points, key=lambda p: p.on_front):
        tooltip = f"{point.label}\n{x_label}: {number(point.x, 4)}\n{y_label}: {number(point.y, 4)}"
        if point.details:
            tooltip += "\n" + point.details
        tooltip += "\nPareto-optimal" if point.on_front else "\ndominated"
        style = (
            f'r="7" fill="{FRONT}" stroke="#fff" stroke-width="1.5"'
            if point.on_front
            else f'r="5" fill="#fff" stroke="{DOMINATED}" stroke-width="1.5"'
        )
        body.append(
            f'<circle class="{"front" if point.on_front else "dominated"}" '
            f'cx="{xs(point.x):.1f}" cy="{ys(point.y):.1f}" {style}>'
            f"<title>{text(tooltip)}</title></circle>"
        )
    # Every point named beside it (shortened; the tooltip has the whole name), drawn after
    # the points so that no mark covers a name; near the right edge the name ends at the point.
    for point in points:
        x, y = xs(point.x), ys(point.y)
        end = x > left + (right - left) * 0.7
        name = text(shorten(point.label, POINT_LABEL_CHARS))
        body.append(
            f'<text class="point-label" x="{x - 9 if end else x + 9:.1f}" y="{y + 4:.1f}" '
            f'text-anchor="{"end" if end else "start"}">{name}'
            f"<title>{text(point.label)}</title></text>"
        )
    body += _legend(
        [
            ("dot", FRONT, "Pareto-optimal (all objectives)"),
            ("ring", DOMINATED, "dominated"),
        ],
        left,
        height - 8,
    )
    return _svg(WIDTH, height, title, body, "scatter")


# --------------------------------------------------------------------------------------
# horizontal bars with interval whiskers: per-task gains
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One bar: a task's gain in one combination."""

    group: str  # the combination (one block of bars per group)
    series: str  # the task (one colour per series)
    value: float  # bar length
    low: float | None = None  # whisker start, when there is an interval
    high: float | None = None  # whisker end
    details: str = ""  # extra tooltip lines
    flagged: bool = False  # drawn hatched: e.g. negative transfer


def gain_bars(bars: Sequence[Bar], *, x_label: str, title: str) -> str:
    """Bars grouped by ``group``, coloured by ``series``, with whiskers where an interval exists."""
    groups = list(dict.fromkeys(bar.group for bar in bars))
    series = list(dict.fromkeys(bar.series for bar in bars))
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    bar_height, gap = 14, 12
    left, right, top = 250, WIDTH - 24, 12
    plot_height = len(bars) * bar_height + len(groups) * gap
    bottom = top + plot_height
    height = bottom + 62
    extent = [bar.value for bar in bars]
    extent += [v for bar in bars for v in (bar.low, bar.high) if v is not None]
    xs = fitted_scale(extent, left, right, include_zero=True)
    body = _x_axis(xs, bottom, top, x_label)
    zero = xs(0.0)
    y = top + gap / 2
    for name in groups:
        members = [bar for bar in bars if bar.group == name]
        block = len(members) * bar_height
        body.append(
            f'<text class="category" x="{left - 8}" y="{y + block / 2 + 4:.1f}" '
            f'text-anchor="end">{text(shorten(name))}<title>{text(name)}</title></text>'
        )
        for bar in members:
            x0, x1 = sorted((zero, xs(bar.value)))
            tooltip = f"{bar.group}\n{bar.series}: {number(bar.value, 4)}"
            if bar.low is not None and bar.high is not None:
                tooltip += f" [{number(bar.low, 4)}, {number(bar.high, 4)}]"
            if bar.details:
                tooltip += "\n" + bar.details
            pattern = ' stroke="#000" stroke-dasharray="3 2"' if bar.flagged else ""
            body.append(
                f'<rect class="bar" x="{x0:.1f}" y="{y + 1:.1f}" width="{max(x1 - x0, 1):.1f}" '
                f'height="{bar_height - 2}" fill="{colour[bar.series]}"{pattern}>'
                f"<title>{text(tooltip)}</title></rect>"
            )
            if bar.low is not None and bar.high is not None:
                middle = y + bar_height / 2
                a, b = xs(bar.low), xs(bar.high)
                body.append(
                    f'<path class="whisker" d="M{a:.1f} {middle:.1f}H{b:.1f}'
                    f"M{a:.1f} {middle - 4:.1f}V{middle + 4:.1f}"
                    f'M{b:.1f} {middle - 4:.1f}V{middle + 4:.1f}"/>'
                )
            y += bar_height
        y += gap
    body.append(f'<line class="zero" x1="{zero:.1f}" x2="{zero:.1f}" y1="{top}" y2="{bottom}"/>')
    body += _legend([("box", colour[name], name) for name in series], left, height - 8)
    return _svg(WIDTH, height, title, body, "bars")


# --------------------------------------------------------------------------------------
# heatmap: rows x columns, colour by a non-negative value
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One heatmap cell."""

    colour_value: float  # drives the colour (0 = best)
    label: str  # printed in the cell
    details: str  # tooltip
    marked: bool = False  # outlined: e.g. the worst group


def heat_colour(share: float) -> str:
    """The colour of a value at ``share`` (0..1) of the scale."""
    share = min(max(share, 0.0), 1.0)
    r, g, b = (round(lo + share * (hi - lo)) for lo, hi in zip(HEAT_LOW, HEAT_HIGH, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Mapping[tuple[str, str], Cell],
    *,
    scale_max: float,
    title: str,
) -> str:
    """A grid of ``rows`` x ``columns``; a missing cell is drawn as an empty outline."""
    cell_width = max(54, min(110, (WIDTH - 170) // max(len(columns), 1)))
    cell_height = 26
    left, top = 160, 96
    width = max(WIDTH // 2, left + cell_width * len(columns) + 16)
    height = top + cell_height * len(rows) + 10
    body = []
    for j, column in enumerate(columns):
        x = left + j * cell_width + cell_width / 2
        body.append(
            f'<text class="category" transform="translate({x:.1f},{top - 6}) rotate(-35)">'
            f"{text(shorten(column, 18))}<title>{text(column)}</title></text>"
        )
    for i, row in enumerate(rows):
        y = top + i * cell_height
        body.append(
            f'<text class="category" x="{left - 8}" y="{y + cell_height / 2 + 4:.1f}" '
            f'text-anchor="end">{text(shorten(row, 24))}<title>{text(row)}</title></text>'
        )
        for j, column in enumerate(columns):
            x = left + j * cell_width
            cell = cells.get((row, column))
            if cell is None:
                body.append(
                    f'<rect class="empty" x="{x + 1}" y="{y + 1}" width="{cell_width - 2}" '
                    f'height="{cell_height - 2}"><title>no figure</title></rect>'
                )
                continue
            share = cell.colour_value / scale_max if scale_max > 0 else 0.0
            ink = "on-dark" if share > 0.55 else "on-light"
            outline = ' stroke="#000" stroke-width="2"' if cell.marked else ""
            body.append(
                f'<g class="cell"><rect x="{x + 1}" y="{y + 1}" width="{cell_width - 2}" '
                f'height="{cell_height - 2}" fill="{heat_colour(share)}"{outline}/>'
                f'<text x="{x + cell_width / 2:.1f}" y="{y + cell_height / 2 + 4:.1f}" '
                f'text-anchor="middle" class="{ink}">{text(cell.label)}</text>'
                f"<title>{text(cell.details)}</title></g>"
            )
    return _svg(width, height, title, body, "heatmap")


def colour_legend(scale_max: float, label: str) -> str:
    """The heatmap's colour scale as a gradient bar with ticks."""
    width, height = 360, 58
    left, right = 12, width - 12
    stops = "".join(
        f'<stop offset="{share:.2f}" stop-color="{heat_colour(share)}"/>'
        for share in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    body = [
        f'<defs><linearGradient id="heat-scale">{stops}</linearGradient></defs>',
        f'<rect x="{left}" y="8" width="{right - left}" height="14" fill="url(#heat-scale)" '
        'stroke="#999"/>',
    ]
    scale = Scale(low=0.0, high=scale_max or 1.0, start=left, end=right)
    for tick in scale.ticks(4):
        x = scale(tick)
        body.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="22" y2="27"/>')
        body.append(
            f'<text class="tick" x="{x:.1f}" y="38" text-anchor="middle">'
            f"{text(tick_label(tick))}</text>"
        )
    body.append(
        f'<text class="axis-label" x="{width / 2}" y="54" text-anchor="middle">{text(label)}</text>'
    )
    return _svg(width, height, f"colour scale: {label}", body, "legend")


# --------------------------------------------------------------------------------------
# distributions: a box per row plus every raw sample as a dot
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Distribution:
    """Raw samples of one row (a combination's latency at one batch size)."""

    label: str  # the row's name
    samples: Sequence[float] = field(default_factory=tuple)  # raw values
    details: str = ""  # extra tooltip lines


def quantile(ordered: Sequence[float], share: float) -> float:
    """Linear-interpolated quantile of sorted values."""
    position = share * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])


def distributions(rows: Sequence[Distribution], *, x_label: str, title: str) -> str:
    """A box (quartiles, median, whiskers at 1.5 IQR) and a jittered strip of the samples."""
    row_height = 34
    left, right, top = 250, WIDTH - 24, 10
    bottom = top + row_height * len(rows)
    height = bottom + 44
    xs = fitted_scale([v for row in rows for v in row.samples], left, right, allow_log=True)
    body = _x_axis(xs, bottom, top, x_label)
    for i, row in enumerate(rows):
        y = top + i * row_height
        middle = y + row_height / 2
        body.append(
            f'<text class="category" x="{left - 8}" y="{middle + 4:.1f}" text-anchor="end">'
            f"{text(shorten(row.label))}<title>{text(row.label)}</title></text>"
        )
        ordered = sorted(row.samples)
        if not ordered:
            continue
        q1, median, q3 = (quantile(ordered, s) for s in (0.25, 0.5, 0.75))
        reach = 1.5 * (q3 - q1)
        low = min(v for v in ordered if v >= q1 - reach)
        high = max(v for v in ordered if v <= q3 + reach)
        tooltip = (
            f"{row.label}\nn = {len(ordered)}, median {number(median, 4)}, "
            f"IQR [{number(q1, 4)}, {number(q3, 4)}], range [{number(ordered[0], 4)}, "
            f"{number(ordered[-1], 4)}]"
        )
        if row.details:
            tooltip += "\n" + row.details
        body.append(
            f'<g class="box"><path class="whisker" d="M{xs(low):.1f} {middle:.1f}H{xs(q1):.1f}'
            f'M{xs(q3):.1f} {middle:.1f}H{xs(high):.1f}"/>'
            f'<rect x="{xs(q1):.1f}" y="{middle - 9:.1f}" '
            f'width="{max(xs(q3) - xs(q1), 1):.1f}" height="18"/>'
            f'<line class="median" x1="{xs(median):.1f}" x2="{xs(median):.1f}" '
            f'y1="{middle - 9:.1f}" y2="{middle + 9:.1f}"/>'
            f"<title>{text(tooltip)}</title></g>"
        )
        # Deterministic jitter (golden-ratio sequence) so a report renders the same twice.
        for k, value in enumerate(row.samples):
            offset = ((k * 0.618034) % 1.0 - 0.5) * 22
            body.append(
                f'<circle class="sample" cx="{xs(value):.1f}" cy="{middle + offset:.1f}" r="1.8"/>'
            )
    return _svg(WIDTH, height, title, body, "distribution")


# --------------------------------------------------------------------------------------
# lines over rounds: one line per series, its interval as a shaded band
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Line:
    """One series of a line plot (a record's metric over the rounds)."""

    label: str  # legend and tooltip
    # (x, y, low, high) per point, in x order; low/high None where there is no interval
    points: Sequence[tuple[float, float, float | None, float | None]] = ()


DASHES = ("", "6 3", "2 3", "9 3 2 3")  # after the palette's colours run out


def round_lines(lines: Sequence[Line], *, x_label: str, y_label: str, title: str) -> str:
    """A line per series over integer x values (rounds), each point marked, and where the
    series has intervals a band between them in the line's colour; one tick per x value."""
    xs_seen = sorted({x for line in lines for x, *_ in line.points})
    legend_rows: list[list[tuple[int, str]]] = [[]]
    width_used = 0.0
    for i, line in enumerate(lines):  # the legend wraps onto further rows
        shown = shorten(line.label, 44)
        needed = 34 + 6.5 * len(shown)
        if legend_rows[-1] and width_used + needed > WIDTH - 100:
            legend_rows.append([])
            width_used = 0.0
        legend_rows[-1].append((i, shown))
        width_used += needed
    height = 330 + 16 * len(legend_rows)
    left, right, top, bottom = 78, WIDTH - 20, 16, 300 - 16
    values = [
        v
        for line in lines
        for _, y, low, high in line.points
        for v in (y, low, high)
        if v is not None
    ]
    xs = Scale(
        low=(xs_seen[0] if xs_seen else 0.0) - 0.3,
        high=(xs_seen[-1] if xs_seen else 1.0) + 0.3,
        start=left,
        end=right,
    )
    ys = fitted_scale(values, bottom, top)
    body = [f'<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>']
    for x in xs_seen:
        body.append(
            f'<text class="tick" x="{xs(x):.1f}" y="{bottom + 14}" text-anchor="middle">'
            f"{text(tick_label(x))}</text>"
        )
    body.append(
        f'<text class="axis-label" x="{(left + right) / 2:.1f}" y="{bottom + 32}" '
        f'text-anchor="middle">{text(x_label)}</text>'
    )
    body += _y_axis(ys, left, right, y_label)
    for i, line in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        banded = [
            (x, low, high)
            for x, _, low, high in line.points
            if low is not None and high is not None
        ]
        if banded:
            upper = "L".join(f"{xs(x):.1f} {ys(high):.1f}" for x, _, high in banded)
            lower = "L".join(f"{xs(x):.1f} {ys(low):.1f}" for x, low, _ in reversed(banded))
            body.append(
                f'<path class="band" d="M{upper}L{lower}Z" fill="{colour}" fill-opacity="0.14" '
                f'stroke="none"><title>{text(line.label)}: 95% interval</title></path>'
            )
    for i, line in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
        style = f' stroke-dasharray="{dash}"' if dash else ""
        path = "L".join(f"{xs(x):.1f} {ys(y):.1f}" for x, y, _, _ in line.points)
        tooltip = line.label + "".join(
            f"\n{tick_label(x)}: {number(y, 4)}"
            + ("" if low is None or high is None else f" [{number(low, 4)}, {number(high, 4)}]")
            for x, y, low, high in line.points
        )
        body.append(
            f'<path class="line" d="M{path}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{style}><title>{text(tooltip)}</title></path>"
        )
        for x, y, _, _ in line.points:
            body.append(
                f'<circle class="mark" cx="{xs(x):.1f}" cy="{ys(y):.1f}" r="3" fill="{colour}"/>'
            )
    y = 300 + 30
    for row in legend_rows:
        x = float(left)
        for i, shown in row:
            colour = PALETTE[i % len(PALETTE)]
            dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
            style = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(
                f'<line x1="{x:.1f}" x2="{x + 20:.1f}" y1="{y - 4}" y2="{y - 4}" '
                f'stroke="{colour}" stroke-width="2"{style}/>'
                f'<text x="{x + 24:.1f}" y="{y}">{text(shown)}</text>'
            )
            x += 34 + 6.5 * len(shown)
        y += 16
    return _svg(WIDTH, height, title, body, "lines")

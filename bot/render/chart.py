"""The participation chart: contributions per week, by organisation and by role, as a PNG.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state), so it is safe to
render in a worker thread while the bot keeps serving others.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from babel.dates import format_date

from bot.domain.digest_model import WeeklySeries
from bot.domain.privacy import Group
from bot.render.labels import Labels

__all__ = ["participation_chart"]

# Okabe–Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OTHER_COLOUR = "#9AA5AD"


def _stacked(
    axes: object,
    weeks: Sequence[str],
    series: Sequence[tuple[Group, Sequence[int]]],
    labels: Labels,
    title: str,
) -> None:
    from matplotlib.axes import Axes
    from matplotlib.ticker import MaxNLocator

    assert isinstance(axes, Axes)
    positions = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    colour = 0
    for group, values in series:
        if group.is_other:
            fill = OTHER_COLOUR
        else:
            fill = PALETTE[colour % len(PALETTE)]
            colour += 1
        axes.bar(positions, values, bottom=bottom, color=fill, label=labels.group(group), width=0.72)
        bottom = [base + value for base, value in zip(bottom, values, strict=True)]
    axes.set_title(title, loc="left", fontsize=11, fontweight="bold")
    axes.set_xticks(positions, weeks, fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#E3E8EB", linewidth=0.8)
    axes.set_axisbelow(True)
    if series:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def participation_chart(weekly: WeeklySeries, labels: Labels) -> bytes:
    """A PNG with two stacked bar charts (by organisation, by role) over the same weeks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weeks = [
        labels.plain("report.chart.week", week=week.isocalendar().week)
        + "\n"
        + format_date(week, "d.M.", locale=labels.locale)
        for week in weekly.weeks
    ]
    # Fixed margins (room for the legends on the right): a layout engine would double the drawing time.
    figure = Figure(figsize=(9.0, 6.2), dpi=120)
    figure.subplots_adjust(left=0.06, right=0.76, top=0.9, bottom=0.1, hspace=0.32)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    figure.suptitle(labels.plain("report.chart.title"), fontsize=13, x=0.01, ha="left")
    _stacked(top, weeks, weekly.by_organisation, labels, labels.plain("report.by_organisation"))
    _stacked(bottom, weeks, weekly.by_role, labels, labels.plain("report.by_role"))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()

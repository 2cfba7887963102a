"""Plots of archived telemetry against simulated time, as PNG files.

One subplot per parameter, all sharing the simulated-time axis, so parameters of very different
scales (a temperature in kelvin, a flag, a motor current) each keep a readable axis. Numbers are
drawn as lines; a parameter whose values are strings (a mode, a state) as steps on a categorical
axis. matplotlib is imported only when a plot is drawn, with the Agg canvas and no pyplot, so
``import ground_tools.plot`` stays cheap and nothing depends on a display or a global backend.
The PNG is written to a temporary file in the target folder and renamed over the target, so an
existing plot is never left half-written.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ground_tools.archive import Archive, ArchiveError, Value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MAX_PARAMETERS", "PlotError", "plot"]

MAX_PARAMETERS: Final = 16
"""More subplots than this are unreadable on one page."""
_SUBPLOT_HEIGHT: Final = 2.0  # inches
_WIDTH: Final = 10.0  # inches
_DPI: Final = 100


class PlotError(Exception):
    """A plot cannot be drawn: an unknown parameter, no points in the range, a bad output path.
    The message is one line naming the problem."""


def _series(values: list[Value], parameter: str) -> tuple[str, list[float] | list[str]]:
    """``("line", floats)`` for numbers (None as a gap), ``("steps", strings)`` for text."""
    present = [value for value in values if value is not None]
    if all(isinstance(value, int | float) for value in present):
        return "line", [math.nan if value is None else float(value) for value in values]
    if all(isinstance(value, str) for value in present):
        return "steps", ["" if value is None else str(value) for value in values]
    raise PlotError(f"{parameter}: values are neither all numbers nor all text; cannot plot")


def plot(
    archive: Archive,
    parameters: list[str],
    out: Path,
    *,
    start: float | None = None,
    end: float | None = None,
    title: str | None = None,
) -> Path:
    """Draw archived parameters against simulated time into a PNG file.

    Args:
        archive: the archive to read (a reader or the writer).
        parameters: full parameter names (``lander.core.status.uptime``), one subplot each, at
            most :data:`MAX_PARAMETERS`.
        out: the PNG file to write (replaced if it exists); its folder must exist.
        start: earliest simulated time (inclusive), or None.
        end: latest simulated time (inclusive), or None.
        title: the figure's title (default: the archive's run folder name).

    Returns:
        ``out``.

    Raises:
        PlotError: no or too many parameters, an unknown parameter, a parameter with no points
            in the range, a bad range, a missing output folder, or a failed write.
    """
    out = Path(out)
    if isinstance(parameters, str) or not parameters:
        raise PlotError("name at least one parameter to plot")
    if len(parameters) > MAX_PARAMETERS:
        raise PlotError(
            f"{len(parameters)} parameters on one plot; at most {MAX_PARAMETERS} stay readable"
        )
    if not out.parent.is_dir():
        raise PlotError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise PlotError(f"{out} is a folder; name the PNG file to write")
    series: list[tuple[str, list[float], str, list[float] | list[str]]] = []
    for parameter in parameters:
        try:
            points = archive.points(parameter, start, end)
        except ArchiveError as exc:
            raise PlotError(str(exc)) from None
        if not points:
            raise PlotError(f"{parameter}: no points {_span(start, end)}")
        style, values = _series([value for _, value in points], parameter)
        series.append((parameter, [t for t, _ in points], style, values))

    # Imported here: matplotlib takes a noticeable time to import, and most users of this package
    # never plot. The Agg canvas draws without pyplot, a display or a global backend choice.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(_WIDTH, 1.0 + _SUBPLOT_HEIGHT * len(series)), dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for index, (ax, (parameter, times, style, values)) in enumerate(zip(axes, series, strict=True)):
        color = f"C{index % 10}"
        if style == "steps":
            ax.step(times, values, where="post", label=parameter, color=color)
        else:
            marker = "." if len(times) < 50 else None  # sparse points stay visible
            ax.plot(times, values, label=parameter, color=color, marker=marker)
        ax.set_ylabel(parameter.rsplit(".", 1)[-1])
        ax.grid(visible=True, alpha=0.3)
        # Above the axes, so the legend never hides data.
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize="small", frameon=False)
    axes[-1].set_xlabel("simulated time (s)")
    figure.suptitle(title if title is not None else archive.path.parent.name or str(archive.path))
    figure.tight_layout()
    _save(figure, out)
    return out


def _span(start: float | None, end: float | None) -> str:
    if start is None and end is None:
        return "in the archive"
    low = "the start" if start is None else f"{start} s"
    high = "the end" if end is None else f"{end} s"
    return f"between {low} and {high}"


def _save(figure: Figure, out: Path) -> None:
    """Write the PNG next to ``out`` and rename it over ``out``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            figure.savefig(stream, format="png")
        Path(tmp).replace(out)
    except (OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PlotError(f"{out}: cannot write the plot: {exc}") from None

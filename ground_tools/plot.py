"""Plots of archived telemetry against simulated time, as PNG, JPEG, SVG or PDF files.

One subplot per parameter, all sharing the simulated-time axis, so parameters of very different
scales (a temperature in kelvin, a flag, a motor current) each keep a readable axis. Every axis
names its unit (decision 0037): the x axis is simulated seconds, with UTC from the mission
epoch above the first subplot; each y axis is its field with the dictionary's unit
(``uptime (s)``; ``-`` for a dimensionless count). Numbers are drawn as lines; an enumerated
field (``Field.enum``: a mode, an app state) as steps with its state names on the axis, a
boolean as steps between ``false`` and ``true``, and a parameter whose values are strings as
steps on a categorical axis.

The file's suffix names its format (:data:`FORMATS`); any other suffix is refused before
anything is drawn, never written as a PNG under another name. matplotlib is imported only when a
plot is drawn, with the Agg canvas and no pyplot, so ``import ground_tools.plot`` stays cheap
and nothing depends on a display or a global backend. The file is written to a temporary file
in the target folder and renamed over the target, so an existing plot is never left
half-written.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ground_tools.archive import Archive, ArchiveError, Value, telemetry_field

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from hal.protocol.devices.icd import Field

__all__ = [
    "FORMATS",
    "MAX_PARAMETERS",
    "PlotError",
    "draw",
    "plot",
    "plot_format",
    "save_image",
]

FORMATS: Final = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg", ".pdf": "pdf"}
"""A plot file's suffix (any case) and the format written."""

MAX_PARAMETERS: Final = 16
"""More subplots than this are unreadable on one page."""
_SUBPLOT_HEIGHT: Final = 2.0  # inches
_WIDTH: Final = 10.0  # inches
_DPI: Final = 100
_UTC_AXIS_HEIGHT: Final = 0.4  # inches: the UTC tick labels and their label above a subplot


class PlotError(Exception):
    """A plot cannot be drawn: an unknown parameter, no points in the range, a bad output path.
    The message is one line naming the problem."""


def plot_format(out: Path) -> str:
    """The format a plot file's suffix names (``x.jpg``: ``jpeg``).

    Raises:
        PlotError: no suffix, or one not in :data:`FORMATS` (naming those that are).
    """
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        what = f"a {suffix} file" if suffix else "a file without a suffix"
        raise PlotError(f"{out}: cannot write a plot as {what}; name it {known}")
    return FORMATS[suffix]


def _series(
    values: list[Value], parameter: str, field: Field | None
) -> tuple[str, list[float] | list[str], dict[float, str]]:
    """How to draw a parameter: ``("line", floats, {})`` for numbers (None as a gap),
    ``("states", codes, {code: name})`` for an enumerated or boolean field, ``("steps",
    strings, {})`` for text."""
    present = [value for value in values if value is not None]
    if all(isinstance(value, int | float) for value in present):
        numbers = [math.nan if value is None else float(value) for value in values]
        if field is not None and field.enum:
            names = {float(code): name for code, name in field.enum}
            for number in numbers:  # a code the dictionary does not name keeps its number
                if not math.isnan(number) and number not in names:
                    names[number] = f"{number:g}"
            return "states", numbers, names
        if field is not None and field.kind == "bool":
            return "states", numbers, {0.0: "false", 1.0: "true"}
        return "line", numbers, {}
    if all(isinstance(value, str) for value in present):
        return "steps", ["" if value is None else str(value) for value in values], {}
    raise PlotError(f"{parameter}: values are neither all numbers nor all text; cannot plot")


def _y_label(parameter: str, field: Field | None, style: str) -> str:
    """The y axis's label: the field and its unit (``uptime (s)``, ``mode (state)``)."""
    name = parameter.rsplit(".", 1)[-1]
    if style in ("states", "steps"):
        return f"{name} (state)"
    unit = field.unit if field is not None else "?"
    return f"{name} ({unit})"


def plot(
    archive: Archive,
    parameters: list[str],
    out: Path,
    *,
    start: float | None = None,
    end: float | None = None,
    title: str | None = None,
    epoch: datetime | None = None,
    fields: Callable[[str], Field | None] | None = None,
) -> Path:
    """Draw archived parameters against simulated time into a plot file.

    Args:
        archive: the archive to read (a reader or the writer).
        parameters: full parameter names (``lander.core.status.uptime``), one subplot each, at
            most :data:`MAX_PARAMETERS`.
        out: the file to write (replaced if it exists), its format named by its suffix
            (:data:`FORMATS`); its folder must exist.
        start: earliest simulated time (inclusive), or None.
        end: latest simulated time (inclusive), or None.
        title: the figure's title (default: the archive's run folder name).
        epoch: the mission epoch, for the UTC axis (default: that of the archive's run folder,
            :func:`ground_tools.timefmt.mission_epoch`).
        fields: a parameter's dictionary declaration, for its unit and states (default:
            :func:`ground_tools.archive.telemetry_field`).

    Returns:
        ``out``.

    Raises:
        PlotError: no or too many parameters, an unknown parameter, a parameter with no points
            in the range, a bad range, a suffix that names no format, a missing output folder,
            an invalid bench file in the run folder, or a failed write.
    """
    out = Path(out)
    fmt = plot_format(out)
    if isinstance(parameters, str) or not parameters:
        raise PlotError("name at least one parameter to plot")
    if len(parameters) > MAX_PARAMETERS:
        raise PlotError(
            f"{len(parameters)} parameters on one plot; at most {MAX_PARAMETERS} stay readable"
        )
    if not out.parent.is_dir():
        raise PlotError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise PlotError(f"{out} is a folder; name the file to write")
    figure = draw(archive, parameters, start=start, end=end, title=title, epoch=epoch,
                  fields=fields)  # fmt: skip
    _save(figure, out, fmt)
    return out


def draw(
    archive: Archive,
    parameters: list[str],
    *,
    start: float | None = None,
    end: float | None = None,
    title: str | None = None,
    epoch: datetime | None = None,
    fields: Callable[[str], Field | None] | None = None,
) -> Figure:
    """The figure :func:`plot` writes (same arguments, no file): for a caller that shows or
    saves it itself.

    Raises:
        PlotError: as :func:`plot`, less what concerns the file.
    """
    if isinstance(parameters, str) or not parameters:
        raise PlotError("name at least one parameter to plot")
    if len(parameters) > MAX_PARAMETERS:
        raise PlotError(
            f"{len(parameters)} parameters on one plot; at most {MAX_PARAMETERS} stay readable"
        )
    lookup = fields or telemetry_field
    series: list[_Series] = []
    for parameter in parameters:
        try:
            points = archive.points(parameter, start, end)
        except ArchiveError as exc:
            raise PlotError(str(exc)) from None
        if not points:
            raise PlotError(f"{parameter}: no points {_span(start, end)}")
        field = lookup(parameter)
        style, values, names = _series([value for _, value in points], parameter, field)
        label = _y_label(parameter, field, style)
        series.append((parameter, [t for t, _ in points], style, values, names, label))
    if epoch is None:
        epoch = _epoch(archive)

    # Imported here: matplotlib takes a noticeable time to import, and most users of this package
    # never plot. The Agg canvas draws without pyplot, a display or a global backend choice.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import ScaledTranslation

    figure = Figure(figsize=(_WIDTH, 1.0 + _SUBPLOT_HEIGHT * len(series)), dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for index, (ax, (parameter, times, style, values, names, label)) in enumerate(
        zip(axes, series, strict=True)
    ):
        color = f"C{index % 10}"
        if style in ("steps", "states"):
            ax.step(times, values, where="post", label=parameter, color=color)
        else:
            marker = "." if len(times) < 50 else None  # sparse points stay visible
            ax.plot(times, values, label=parameter, color=color, marker=marker)
        if style == "states":
            codes = sorted(names)
            ax.set_yticks(codes, [names[code] for code in codes])
            ax.set_ylim(codes[0] - 0.5, codes[-1] + 0.5)
        ax.set_ylabel(label)
        ax.grid(visible=True, alpha=0.3)
        # Above the axes, so the legend never hides data; the first one above the UTC axis.
        lift = ScaledTranslation(0.0, _UTC_AXIS_HEIGHT if index == 0 else 0.0,
                                 figure.dpi_scale_trans)  # fmt: skip
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), bbox_transform=ax.transAxes + lift,
                  fontsize="small", frameon=False)  # fmt: skip
    axes[-1].set_xlabel("simulated time (s)")
    _utc_axis(axes[0], epoch, min(times[0] for _, times, *_ in series))
    figure.suptitle(title if title is not None else archive.path.parent.name or str(archive.path))
    figure.tight_layout()
    return figure


_Series = tuple[str, list[float], str, "list[float] | list[str]", dict[float, str], str]
"""parameter, times, style, values, state names by code, y label."""


def _epoch(archive: Archive) -> datetime:
    from ground_tools.api import GroundError
    from ground_tools.timefmt import mission_epoch

    try:
        return mission_epoch(archive.path.parent)
    except GroundError as exc:
        raise PlotError(str(exc)) from None


def _utc_axis(ax: Axes, epoch: datetime, first: float) -> None:
    """UTC above the first subplot: the same ticks as simulated seconds, read as UTC times of
    day, the axis naming the date of the first point."""
    from matplotlib.ticker import FuncFormatter

    from ground_tools.timefmt import utc_text

    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_formatter(FuncFormatter(lambda t, _: utc_text(epoch, t)[11:19]))
    top.set_xlabel(f"UTC (hh:mm:ss, from {utc_text(epoch, first)[:10]})", fontsize="small")
    top.tick_params(labelsize="small")


def _span(start: float | None, end: float | None) -> str:
    if start is None and end is None:
        return "in the archive"
    low = "the start" if start is None else f"{start} s"
    high = "the end" if end is None else f"{end} s"
    return f"between {low} and {high}"


def save_image(pixels: bytes, width: int, height: int, out: str | Path, *, title: str = "") -> None:
    """Write a grey image (``pixels`` row by row, row 0 at the top) as a picture, in the format
    its suffix names (PlotError otherwise), with its title and pixel axes (decision 0056)."""
    out = Path(out)
    fmt = plot_format(out)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 5), dpi=_DPI)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    rows = [list(pixels[y * width : (y + 1) * width]) for y in range(height)]
    ax.imshow(rows, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
    _save(figure, out, fmt)


def _save(figure: Figure, out: Path, fmt: str) -> None:
    """Write the file next to ``out`` in format ``fmt`` and rename it over ``out``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            figure.savefig(stream, format=fmt)
        Path(tmp).replace(out)
    except (OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PlotError(f"{out}: cannot write the plot: {exc}") from None

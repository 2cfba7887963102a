"""Plots of archived telemetry against simulated time."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from ground_tools.archive import Archive
from ground_tools.plot import MAX_PARAMETERS, PlotError, plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def archive(tmp_path: Path):
    run = tmp_path / "20261121T000000Z-1"
    run.mkdir()
    with Archive(run / "archive.sqlite") as arc:
        for i in range(200):
            t = i * 0.5
            arc.add_packet(
                "lander",
                "core.status",
                t,
                {
                    "uptime": 1000.0 + t,  # thousands
                    "arm_current": 0.05 * math.sin(t),  # hundredths
                    "safe": i >= 150,
                    "mode": "SAFE" if i >= 150 else "NOMINAL",
                },
            )
        arc.commit()
        yield arc


def _image_shape(path: Path) -> tuple[int, ...]:
    from matplotlib.image import imread

    return imread(path).shape


def test_a_plot_is_a_real_png_with_one_subplot_per_parameter(archive, tmp_path: Path) -> None:
    out = tmp_path / "status.png"
    params = ["lander.core.status.uptime", "lander.core.status.arm_current"]
    assert plot(archive, params, out, title="STA arm during sampling") == out
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
    height, width, _ = _image_shape(out)
    assert (width, height) == (1000, 500)  # 10 in wide, 1 in + 2 in per subplot, 100 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [archive.path.parent.name, "status.png"]
    )  # no temporary file left behind


def test_a_time_range_and_text_and_boolean_parameters_can_be_plotted(
    archive, tmp_path: Path
) -> None:
    out = tmp_path / "mode.png"
    plot(
        archive,
        ["lander.core.status.mode", "lander.core.status.safe", "lander.core.status.uptime"],
        out,
        start=50.0,
        end=90.0,
    )
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert _image_shape(out)[:2] == (700, 1000)


def test_an_existing_plot_is_replaced_whole(archive, tmp_path: Path) -> None:
    out = tmp_path / "uptime.png"
    out.write_bytes(b"old")
    plot(archive, ["lander.core.status.uptime"], out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_unknown_parameter_is_named_with_close_names(archive, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    with pytest.raises(PlotError) as err:
        plot(archive, ["lander.core.status.uptim"], out)
    assert str(err.value) == (
        "unknown parameter 'lander.core.status.uptim' (did you mean lander.core.status.uptime?)"
    )
    assert not out.exists()


def test_a_range_without_points_is_refused(archive, tmp_path: Path) -> None:
    with pytest.raises(PlotError, match=r"uptime: no points between 500\.0 s and 600\.0 s"):
        plot(archive, ["lander.core.status.uptime"], tmp_path / "x.png", start=500.0, end=600.0)
    with pytest.raises(PlotError, match=r"start 9\.0 is after end 1\.0"):
        plot(archive, ["lander.core.status.uptime"], tmp_path / "x.png", start=9.0, end=1.0)


def test_an_output_folder_that_does_not_exist_is_refused(archive, tmp_path: Path) -> None:
    out = tmp_path / "plots" / "x.png"
    with pytest.raises(PlotError, match=r"folder .*plots does not exist"):
        plot(archive, ["lander.core.status.uptime"], out)


def test_no_parameters_or_too_many_are_refused(archive, tmp_path: Path) -> None:
    with pytest.raises(PlotError, match="at least one parameter"):
        plot(archive, [], tmp_path / "x.png")
    with pytest.raises(PlotError, match=f"at most {MAX_PARAMETERS}"):
        plot(archive, ["lander.core.status.uptime"] * (MAX_PARAMETERS + 1), tmp_path / "x.png")


def test_importing_the_plot_module_does_not_import_matplotlib() -> None:
    code = "import sys, ground_tools.plot; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"

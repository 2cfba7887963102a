"""Plots of archived telemetry against simulated time."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ground_tools.archive import Archive
from ground_tools.plot import MAX_PARAMETERS, PlotError, draw, plot
from hal.protocol.devices.icd import Field, enum

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


# ----------------------------------------------- formats, units and states (issue 19, 0037)

MODE = Field(
    "mode", "u8", "-", 0, 3, "the node's mode", enum=enum("boot", "safe", "nominal", "critical")
)
UPTIME = Field("uptime", "f32", "s", 0, 1e9, "seconds since this boot")
SAFE = Field("safe", "bool", "-", 0, 1, "in safe mode")


def _fields(parameter: str) -> Field | None:
    return {"mode": MODE, "uptime": UPTIME, "safe": SAFE}.get(parameter.rsplit(".", 1)[-1])


@pytest.fixture
def coded(tmp_path: Path):
    """Modes archived as the flight software sends them: raw codes."""
    run = tmp_path / "run"
    run.mkdir()
    with Archive(run / "archive.sqlite") as arc:
        for i in range(40):
            mode = 1 if i < 10 else 2 if i < 30 else 7  # 7: a code the dictionary has no name for
            arc.add_packet(
                "lander",
                "core.status",
                float(i),
                {"mode": mode, "uptime": float(i), "safe": i < 10},
            )
        arc.commit()
        yield arc


@pytest.mark.parametrize(
    ("name", "signature"),
    [("p.jpg", b"\xff\xd8\xff"), ("p.JPEG", b"\xff\xd8\xff"), ("p.png", PNG_SIGNATURE),
     ("p.pdf", b"%PDF-"), ("p.svg", b"<?xml")],
)  # fmt: skip
def test_the_suffix_names_the_format_written(
    coded, tmp_path: Path, name: str, signature: bytes
) -> None:
    out = tmp_path / name
    plot(coded, ["lander.core.status.uptime"], out, fields=_fields)
    assert out.read_bytes().startswith(signature)


@pytest.mark.parametrize("name", ["p.gif", "p.jpg.txt", "p"])
def test_a_suffix_that_names_no_format_is_refused_before_drawing(
    coded, tmp_path: Path, name: str
) -> None:
    with pytest.raises(PlotError, match=r"cannot write a plot as .*; name it \.png, \.jpg"):
        plot(coded, ["lander.core.status.nothing"], tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_every_axis_has_its_unit_and_states_are_named_steps(coded) -> None:
    figure = draw(coded, ["lander.core.status.mode", "lander.core.status.uptime",
                          "lander.core.status.safe"], fields=_fields,
                  epoch=datetime(2031, 7, 1, tzinfo=UTC))  # fmt: skip
    mode, uptime, safe = figure.axes[:3]
    assert (mode.get_ylabel(), uptime.get_ylabel(), safe.get_ylabel()) == (
        "mode (state)", "uptime (s)", "safe (state)")  # fmt: skip
    assert [t.get_text() for t in mode.get_yticklabels()] == ["boot", "safe", "nominal",
                                                              "critical", "7"]  # fmt: skip
    assert [t.get_text() for t in safe.get_yticklabels()] == ["false", "true"]
    assert safe.get_xlabel() == "simulated time (s)"
    # a step plot: the drawn line holds each code until the next sample
    xs, ys = mode.get_lines()[0].get_data()
    assert list(ys[:3]) == [1, 1, 1] and len(xs) == 40
    top = [child for child in mode.get_children() if type(child).__name__ == "SecondaryAxis"]
    assert len(top) == 1 and top[0].get_xlabel() == "UTC (hh:mm:ss, from 2031-07-01)"
    figure.canvas.draw()
    ticks = [t.get_text() for t in top[0].get_xticklabels() if t.get_text()]
    assert "00:00:10" in ticks


def test_a_field_the_dictionary_lacks_still_names_its_unit_as_unknown(coded) -> None:
    figure = draw(coded, ["lander.core.status.uptime"], fields=lambda _: None)
    assert figure.axes[0].get_ylabel() == "uptime (?)"


def test_msr_plot_writes_a_jpeg_for_a_jpg_name_and_refuses_a_gif(coded, tmp_path: Path) -> None:
    run = coded.path.parent
    coded.close()
    cli = [sys.executable, "-m", "ground_tools.cli", "plot", "lander.core.status.mode",
           "--run-dir", str(run), "-o"]  # fmt: skip
    done = subprocess.run([*cli, str(tmp_path / "m.jpg")], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.jpg").read_bytes().startswith(b"\xff\xd8\xff")
    refused = subprocess.run([*cli, str(tmp_path / "m.gif")], capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("msr plot: ") and ".gif" in refused.stderr
    assert not (tmp_path / "m.gif").exists()

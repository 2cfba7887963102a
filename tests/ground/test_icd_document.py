"""The ICD a board vendor builds from (issue 19, decision 0041), read as a vendor would.

The document comes from ``msr dict export --format md`` itself (a real ``msr`` process). Each
hex example is taken out of the *document's text*, fed to the project's deframer and decoded by
the packet and ICD decoders: it must give back the command or report it claims, so a vendor who
copies it gets the right octets. The whole document is searched for the code's internals (module
paths, the project's type names, design records, words about the software's own workings).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest

import fsw
import ground_tools
import hal
from ground_tools.exports.markdown import board_examples, board_modules
from ground_tools.exports.vendor import example_values, internal_words, parse_hexdump
from hal.bench import BAUD_RATES, DEFAULT_BAUD
from hal.protocol.devices.icd import BoardIcd
from hal.protocol.framing import Deframer
from hal.protocol.pus import DeviceFailure, PusPacket, PusTc, PusTm, RequestId
from tests.system.operator import msr

ROOT = Path(__file__).resolve().parents[2]
_EXAMPLE = re.compile(
    r"^\*\*Example\*\* `(?P<key>[^`]+)`, (?P<kind>T[CM])\[(?P<service>\d+),(?P<subtype>\d+)\]"
    r"[^\n]*\n\n```text\n(?P<hex>.*?)\n```",
    re.M | re.S,
)
BANNED_WORDS = ("driver", "emulator", "simulator", "lockstep", "decision 00", "DESIGN.md",
                "hal.", "fsw.", "sim_hardware", "ground_tools", ".py", ":class:", ":mod:",
                "construct", "Python")  # fmt: skip
"""Words a vendor's document never needs (the test also uses the exporter's own patterns)."""


@pytest.fixture(scope="module")
def document() -> str:
    """The ICD as ``msr dict export --format md`` writes it."""
    done = msr("dict", "export", "--format", "md", cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def examples(document: str) -> dict[str, tuple[str, bytes]]:
    found = {}
    for m in _EXAMPLE.finditer(document):
        found[m.group("key")] = (m.group("kind"), parse_hexdump(m.group("hex").splitlines()))
    return found


def _project_type_names() -> set[str]:
    """Every compound class name the project's packages define (the names of the code's
    types)."""
    names: set[str] = set()
    for package in (hal, fsw, ground_tools):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            try:
                module = importlib.import_module(info.name)
            except Exception:
                continue
            names |= {n for n, obj in vars(module).items() if inspect.isclass(obj)
                      and obj.__module__.startswith(package.__name__)}  # fmt: skip
    # a one-word name (Command, Event, Stop) is also an English word: only compound names count
    return {n for n in names if re.fullmatch(r"_?[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+", n)}


def _one_packet(frame: bytes) -> PusTc | PusTm:
    deframer = Deframer(max_length=4096)
    packets = deframer.feed(frame)
    assert len(packets) == 1 and deframer.buffered == 0, "the example is not one whole frame"
    assert not deframer.stats.rejects
    return PusPacket.from_raw(packets[0])


def test_the_icd_says_nothing_about_the_code(document):
    assert internal_words(document) == []
    for word in BANNED_WORDS:
        assert word not in document, word
    assert not re.search(r"(?<!`)``(?!`)", document)  # a reStructuredText literal
    types = _project_type_names()
    assert {"PusTc", "BoardIcd", "SpaceLinkConfig", "FailureCode"} <= types
    words = set(re.findall(r"\b[A-Za-z_]\w*\b", document))
    assert sorted(types & words) == []


def test_the_line_settings_are_those_the_links_use(document):
    for row in (f"| baud rate | {DEFAULT_BAUD} by default", "| data bits | 8 |",
                "| parity | none |", "| stop bits | 1 |", "| flow control | none"):  # fmt: skip
        assert row in document, row
    assert ", ".join(str(rate) for rate in BAUD_RATES) in document
    assert "| polynomial | 0x1021" in document and "| initial value | 0xFFFF |" in document
    assert "| 0-3 | 4 octets | sync marker | 0x1ACFFC1D |" in document
    assert "| 15 .. 15+n-1 | n octets | application data |" in document
    assert "| 23 .. 23+n-1 | n octets | source data |" in document
    for section in ("Reply deadlines", "Exactly once", "last 8 commands", "for 60 s", "| 167 ms |",
                    "| 83 ms |", "TM[1,2] acceptance failed", "TM[1,8] failed"):  # fmt: skip
        assert section in document, section


def test_every_board_command_and_report_has_an_offset_table_and_an_example(document, examples):
    for module in board_modules():
        board = getattr(module, "BOARD", None)
        if not isinstance(board, BoardIcd):
            continue
        for device in board.devices:
            for m in device.commands:
                key = f"{board.name}.{device.name}.{m.name}"
                heading = f"##### Command `{key}`, TC[{m.service},{m.subtype}]"
                assert heading in document, heading
                section = document.split(heading, 1)[1].split("\n##### ", 1)[0]
                if m.fields:
                    assert "| frame offset | data offset | octets | field |" in section
                    for f in m.fields:
                        assert f"`{f.name}`" in section, (m.name, f.name)
                        for code, name in f.enum:
                            assert f"{code} {name}" in section, (m.name, f.name, name)
                assert key in examples and f"{key} completed" in examples, key
            heading = f"##### Status `{board.name}.{device.name}`, TM[3,25]"
            assert heading in document, heading
            section = document.split(heading, 1)[1].split("\n#### ", 1)[0]
            for f in device.status.fields:
                assert f"`{f.name}`" in section, (device.name, f.name)
                if f.limits is not None and f.limits.describe():
                    assert f.limits.describe() in section, (device.name, f.name)
            assert f"{board.name}.{device.name}.status" in examples
            if device.failures and device.commands:
                assert f"{board.name}.{device.name}.{device.commands[0].name} failed" in examples


def test_every_hex_example_decodes_to_the_message_it_shows(examples):
    """Taken from the document's text, deframed and decoded by the project's decoders."""
    checked = 0
    for module in board_modules():
        for example in board_examples(module):
            kind, frame = examples[example.key]
            assert frame == example.frame, example.key
            packet = _one_packet(frame)
            assert (kind == "TC") == isinstance(packet, PusTc), example.key
            if example.message is not None:
                data = packet.app_data if isinstance(packet, PusTc) else packet.source_data
                assert example.message.decode(data) == example_values(example.message)
                assert (packet.service, packet.subtype) == (
                    example.message.service, example.message.subtype)  # fmt: skip
            checked += 1
    assert checked > 100
    for key, (kind, frame) in examples.items():  # the common ones too (ping, refusals)
        assert (kind == "TC") == isinstance(_one_packet(frame), PusTc), key


def test_a_reply_example_names_the_request_it_answers(examples):
    for key, (kind, frame) in examples.items():
        if not key.endswith((" completed", " failed", " refused")):
            continue
        request = _one_packet(examples[key.rsplit(" ", 1)[0]][1])
        reply = _one_packet(frame)
        assert isinstance(request, PusTc) and isinstance(reply, PusTm) and kind == "TM"
        assert reply.apid == request.apid and reply.service == 1
        if key.endswith(" completed"):
            assert (reply.subtype, reply.source_data) == (7, RequestId.of(request).pack())
        else:
            failure = DeviceFailure.unpack(reply.source_data)
            assert failure.request_id == RequestId.of(request) and reply.subtype in (2, 8)
    assert examples["sta_arm.arm.unknown refused"][1][4 + 6 + 2] == 2  # TM[1,2]: no such command


def test_the_flight_dictionary_shows_states_and_limits(document):
    from fsw.dictionary import NODE_APIDS, node_dictionary

    for node in NODE_APIDS:
        d = node_dictionary(node)
        for packet in (*d.hk, *d.reports):
            for f in packet.fields:
                for code, name in f.enum:
                    assert f"{code} {name}" in document, (node, packet.name, f.name)
                if f.limits is not None and f.limits.describe():
                    assert f.limits.describe() in document, (node, packet.name, f.name)


# -- the architecture inside the project ----------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_OUTSIDE = ("../shared", "/work/shared", "shared/DESIGN.md")


def _tracked() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()  # fmt: skip
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_the_readme_links_the_architecture_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/architecture.md)" in readme
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for section in ("Wire formats", "Time", "Packages and the direction of imports",
                    "Exactly once", "Input from outside is hostile"):  # fmt: skip
        assert section in architecture, section
    assert not [t for t in _LINK.findall(architecture) if "://" in t]  # nothing outside


def test_no_tracked_file_links_outside_the_repository():
    """No path to the shared design folder anywhere; every relative Markdown link stays inside
    the repository and names a file or folder that exists."""
    broken = []
    for path in _tracked():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # a binary file
        if path.name == "test_icd_document.py":
            continue  # this test names what it looks for
        broken += [f"{path.relative_to(ROOT)}: {s}" for s in _OUTSIDE if s in text]
        if path.suffix != ".md":
            continue
        for target in _LINK.findall(text):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: ({target})")
    assert broken == []

"""``make codegen``: write hal/protocol/_generated_layouts.py from the construct declarations.

Imports every module of ``hal.protocol`` (each registers its named layouts with
``compile_fixed``), renders the factories and writes them. Run it after changing a declaration;
``tests/protocol/test_layout.py`` fails until the committed file matches.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import hal.protocol
from hal.protocol import layout

TARGET = Path(hal.protocol.__file__).with_name("_generated_layouts.py")


def main() -> int:
    """Import every protocol module, then write the generated module; print what changed."""
    for info in pkgutil.walk_packages(hal.protocol.__path__, "hal.protocol."):
        if info.name != "hal.protocol._generated_layouts":
            importlib.import_module(info.name)
    text = layout.render_module()
    old = TARGET.read_text() if TARGET.exists() else ""
    if text == old:
        print(f"{TARGET}: up to date")
        return 0
    TARGET.write_text(text)
    print(f"{TARGET}: written ({len(layout._REGISTERED)} layouts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

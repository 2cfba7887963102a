"""A node that does nothing but persist, for the kill test of the non-volatile store.

Usage: ``python tests/fsw/nv_writer.py <store path>``

It opens an :class:`~fsw.core.nvstore.NvStore` and loops for ever: counter ``sn:1`` one up and,
in the same ``put_many``, section ``custody`` a list as long as the counter, so a torn state is
visible; after each write returns it prints the committed counter on stdout (flushed). It exits
with status 3 and a message on stderr if it finds the store inconsistent at start.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from fsw.core.nvstore import NvStore

DEFAULTS = {"counters": {}, "custody": []}


def main(path: str) -> int:
    store = NvStore(path, DEFAULTS)
    counters = store.get("counters")
    custody = store.get("custody")
    count = counters.get("sn:1", 0)
    if len(custody) != count:
        print(f"inconsistent at start: sn:1 = {count}, custody of {len(custody)}", file=sys.stderr)
        return 3
    while True:
        count += 1
        custody.append(f"T{count:05d}")
        store.put_many({"counters": {**counters, "sn:1": count}, "custody": custody})
        print(count, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

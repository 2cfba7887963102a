"""``msr``: the operator command line of the MSR bench.

Subcommands grow with the project; ``msr --help`` lists them. Every error is one line naming the
problem, with a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from hal.errors import HalError


def _cmd_sil(args: argparse.Namespace) -> int:
    from ground_tools.sil import SilError, run_sil

    try:
        return run_sil(runs_dir=args.runs_dir, seed=args.seed)
    except SilError as exc:
        print(f"msr sil: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The ``msr`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="msr", description="Mars Sample Return bench operator CLI"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sil = sub.add_parser("sil", help="run the software-in-the-loop job on the default bench")
    sil.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    sil.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    sil.set_defaults(func=_cmd_sil)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``msr`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (HalError, OSError) as exc:
        print(f"msr {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"msr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``gamemech`` command line: one subcommand per module of this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to a function ``run(args) -> int``. A :class:`CLIError` (bad input)
prints ``gamemech: error: <message>`` and exits with code 2, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .common import CLIError, WriteError

#: subcommand modules, in the order ``gamemech --help`` lists them.
COMMANDS = ("demo", "simulate", "energy", "derive", "family", "spectrum", "train", "claims")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: same format, exit code 2
        self.print_usage(sys.stderr)
        self.exit(2, f"gamemech: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gamemech", description="Min-max games as physics: simulate, "
                     "check energies, derive and run optimizers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{name}":  # command not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, WriteError) as err:     # bad input; an output that cannot be written
        print(f"gamemech: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``sweepnet`` command.

Each subcommand lives in its own module under :mod:`sweepnet.commands` and exposes
``register(subparsers)``; heavy imports (Ray, MLflow) happen inside the command, so
``sweepnet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import TextIO

from sweepnet import __version__
from sweepnet.errors import SweepnetError, SweepnetWarning

__all__ = ["main"]

COMMANDS = ("sweep", "resume", "trial", "validate", "best", "report", "ui", "plugins", "data")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweepnet",
        description="Hyperparameter sweeps for small numpy neural networks, on Ray, tracked in MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"sweepnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"sweepnet.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (2 for user errors)."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(args.run(args) or 0)
        except SweepnetError as err:
            print(f"sweepnet: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("sweepnet: interrupted", file=sys.stderr)
            return 130


_default_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """sweepnet's own warnings as one line, ``sweepnet: warning: <message>``; others as Python shows them."""
    if issubclass(category, SweepnetWarning):
        print(f"sweepnet: warning: {message}", file=file or sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


if __name__ == "__main__":
    sys.exit(main())

"""The ``sweepnet`` command.

Each subcommand lives in its own module under :mod:`sweepnet.commands` and exposes
``register(subparsers)``; heavy imports (Ray, MLflow) happen inside the command, so
``sweepnet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sweepnet.errors import SweepnetError

__all__ = ["MAX_MESSAGE_CHARS", "main"]

COMMANDS = ("sweep", "resume", "trial", "validate", "best", "ui", "plugins", "data")
MAX_MESSAGE_CHARS = 500
"""Error messages are cut to this length: a value quoted from a hostile file must not flood the terminal."""


def _parser() -> argparse.ArgumentParser:
    import sweepnet

    parser = argparse.ArgumentParser(
        prog="sweepnet",
        description="Hyperparameter sweeps for small numpy neural networks, on Ray, tracked in MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"sweepnet {sweepnet.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"sweepnet.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (2 for user errors, 130 after Ctrl-C).

    A Ctrl-C at any point, the imports of a command included, ends with one line on stderr.
    """
    try:
        args = _parser().parse_args(argv)
        return int(args.run(args) or 0)
    except SweepnetError as err:
        print(f"sweepnet: error: {_one_short_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweepnet: interrupted", file=sys.stderr)
        return 130


def _one_short_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())

"""The ``sweepnet`` command.

Each subcommand lives in its own module under :mod:`sweepnet.commands` and exposes
``register(subparsers)``; heavy imports (Ray, MLflow) happen inside the command, so
``sweepnet --help`` stays fast. Even the standard library's ``argparse`` is imported inside
:func:`main`, where a Ctrl-C is caught: what runs before it is Python's own start-up.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, TextIO

from sweepnet.errors import SweepnetError, SweepnetWarning

if TYPE_CHECKING:
    import argparse

__all__ = ["MAX_MESSAGE_CHARS", "main"]

COMMANDS = ("sweep", "resume", "trial", "validate", "best", "report", "ui", "plugins", "data")
MAX_MESSAGE_CHARS = 500
"""Error messages are cut to this length: a value quoted from a hostile file must not flood the terminal."""


def _parser() -> argparse.ArgumentParser:
    import argparse
    import importlib

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
    Without ``argv`` this process is the ``sweepnet`` command: once the command is done, a
    Ctrl-C while Python exits (and Ray stops its processes) ends the process at once, silently,
    instead of printing the tracebacks of interrupted exit handlers.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            args = _parser().parse_args(argv)
            status = int(args.run(args) or 0)
        except SweepnetError as err:
            print(f"sweepnet: error: {_one_short_line(str(err))}", file=sys.stderr)
            status = 2
        except KeyboardInterrupt:
            print("sweepnet: interrupted", file=sys.stderr)
            status = 130
    if argv is None:
        import signal

        signal.signal(signal.SIGINT, _exit_at_once)
    return status


def _exit_at_once(signum: int, frame: object) -> None:
    """A Ctrl-C after the command: skip the rest of Python's exit (a local Ray instance's
    processes end with this one, see :mod:`sweepnet.reaper`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _one_short_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 3] + "..."


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

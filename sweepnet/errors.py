"""User-facing errors.

Every error a user can cause (a bad config field, a missing file, a broken plugin) is a
:class:`SweepnetError` whose message is one line naming the field, file or plugin at fault.
The CLI prints it without a traceback and exits with status 2.
"""

from __future__ import annotations

import re

__all__ = ["ConfigError", "DataError", "PluginError", "SweepnetError", "SweepnetWarning", "one_line"]

_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its messages for terminals


class SweepnetError(Exception):
    """An error caused by user input; ``str(err)`` is a complete one-line message."""


class ConfigError(SweepnetError):
    """A sweep config value is invalid.

    Parameters
    ----------
    field : dotted path of the offending field, e.g. ``"solver.batch_size"``
        (prefixed with the file name by the loader when known).
    reason : one-line explanation.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class PluginError(SweepnetError):
    """A plugin is broken, missing, or a component name cannot be resolved."""


class DataError(SweepnetError):
    """A data set cannot be found, read or verified; the message names the file or directory."""


class SweepnetWarning(UserWarning):
    """Something the user should know that stops nothing, e.g. a plugin that was skipped.

    ``str()`` is one line; the CLI prints it as ``sweepnet: warning: <message>``.
    """


def one_line(err: BaseException) -> str:
    """An unexpected ``err`` as one short line for a user-facing message: its type and message,
    terminal colours removed, whitespace collapsed, at most 500 characters."""
    return " ".join(_COLOUR.sub("", f"{type(err).__name__}: {err}").split())[:500]

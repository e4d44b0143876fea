"""The rule for sweep names, shared by the sweep file's schema, the tracker and the commands.

A sweep's name is its MLflow experiment, its parent run's name and part of file and folder
names (artifacts, saved unwritten results), so it must be a short, plain file name.
"""

from __future__ import annotations

import re

__all__ = ["MAX_NAME_LENGTH", "validate_sweep_name"]

MAX_NAME_LENGTH = 200  # MLflow's run names take 250 characters, file names 255 bytes
_CHARACTERS = re.compile(r"[A-Za-z0-9_.-]+")


def validate_sweep_name(name: str) -> str:
    """Return ``name`` when it is a valid sweep name.

    Raises
    ------
    ValueError
        with a one-line reason: empty, longer than :data:`MAX_NAME_LENGTH`, a character other
        than letters, digits, ``_ . -``, ``.`` or ``..``, or a leading ``-``.
    """
    if not name:
        raise ValueError("must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    if not _CHARACTERS.fullmatch(name):
        bad = sorted({character for character in name if not _CHARACTERS.fullmatch(character)})
        raise ValueError(f"may hold only letters, digits, '_', '.' and '-', not {''.join(bad)!r}")
    if name in (".", ".."):
        raise ValueError(f"must not be {name!r}")
    if name.startswith("-"):
        raise ValueError("must not start with '-'")
    return name

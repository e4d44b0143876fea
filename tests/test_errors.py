"""The one-line form of unexpected errors in user-facing messages."""

from __future__ import annotations

from sweepnet.errors import one_line


def test_an_error_becomes_its_type_and_message_on_one_line_without_terminal_colours():
    err = RuntimeError("worker died:\n  \x1b[31mraylet\x1b[0m   exited")
    assert one_line(err) == "RuntimeError: worker died: raylet exited"


def test_a_long_message_is_cut_to_500_characters():
    assert len(one_line(ValueError("x" * 2000))) == 500

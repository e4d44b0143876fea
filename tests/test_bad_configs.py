"""The corpus of malformed sweep files: each fails ``sweepnet validate`` with one line naming its field.

Every file under ``tests/data/bad_configs/`` starts with ``# expect: <text>``, what the error
must name (a dotted field, a file position, a directory); an optional second line
``# args: ...`` gives extra command-line arguments (``--set`` overrides).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sweepnet.cli import main

CORPUS = Path(__file__).parent / "data" / "bad_configs"
FILES = sorted(CORPUS.glob("*.yaml"))
THROUGH_A_PROCESS = ["bad_yaml_flow.yaml", "unknown_layer.yaml", "missing_data_dir.yaml", "bad_override_key.yaml"]


def expectation(path: Path) -> tuple[str, list[str]]:
    """``(expected text, extra arguments)`` from the file's header comments."""
    lines = path.read_text().splitlines()
    assert lines and lines[0].startswith("# expect: "), f"{path.name} does not start with '# expect: <field>'"
    extra = lines[1].removeprefix("# args: ") if len(lines) > 1 and lines[1].startswith("# args: ") else ""
    return lines[0].removeprefix("# expect: "), shlex.split(extra)


def test_the_corpus_is_large_enough():
    assert len(FILES) >= 30


@pytest.fixture(autouse=True)
def _run_in_corpus(monkeypatch):
    monkeypatch.chdir(CORPUS)  # errors name files as given on the command line


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_validate_fails_with_one_line_naming_the_field(path, capsys):
    expected, extra = expectation(path)
    assert main(["validate", path.name, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweepnet: error: "), captured.err
    assert expected in lines[0] and "Traceback" not in lines[0]


@pytest.mark.parametrize("name", THROUGH_A_PROCESS)
def test_a_real_process_exits_2_with_one_line(name):
    expected, extra = expectation(CORPUS / name)
    done = subprocess.run(
        [sys.executable, "-m", "sweepnet", "validate", name, *extra], cwd=CORPUS, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and expected in done.stderr and "Traceback" not in done.stderr

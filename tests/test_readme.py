"""README.md is what a new user follows step by step, so what it shows must work.

Its classic-API example trains to a sane accuracy, its sweep file is valid, its plugin example
passes the conformance kit and trains inside a sweep; every ``sweepnet ...`` command in it and in
docs/cluster.md names real subcommands and flags (a command line in a code block must parse
completely); its relative links and anchors resolve; its test command is the one CI runs last; and
its examples table lists every file in ``examples/``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest

from sweepnet import cli
from sweepnet.plan import plan_from_text
from sweepnet.pluginmanager import AUTOLOAD_ENV, get_registries
from sweepnet.records import TrialState
from sweepnet.testing import check_layer
from sweepnet.trial import run_trial

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
COMMAND_DOCS = (README, ROOT / "docs" / "cluster.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SCHEMES = ("http://", "https://", "mailto:")


def _blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks of ``path`` in ``language`` (e.g. ``"bash"``)."""
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


def _prose(path: Path) -> str:
    """``path`` without its fenced code blocks."""
    return FENCE.sub("", path.read_text())


def _shell_commands(script: str) -> list[list[str]]:
    """Each command line of a shell snippet as words, comments and ``VAR=value`` prefixes dropped."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
            words.pop(0)
        if words:
            commands.append(words)
    return commands


def _sweepnet_commands(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """``sweepnet`` arguments in ``path``: (complete lines of bash blocks, inline code spans)."""
    lines = [
        words[1:]
        for block in _blocks(path, "bash")
        for words in _shell_commands(block)
        if Path(words[0]).name == "sweepnet"
    ]
    spans = [shlex.split(span)[1:] for span in re.findall(r"`(sweepnet [^`]+)`", _prose(path))]
    return lines, spans


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _unknown_name(arguments: list[str]) -> str | None:
    """The first subcommand or flag in ``arguments`` that the ``sweepnet`` parser lacks, if any."""
    parser = cli._parser()
    for word in arguments:
        subcommands = _subcommands(parser)
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            if flag not in parser._option_string_actions:
                return f"{parser.prog} has no option {flag}"
        elif subcommands:
            if word not in subcommands:
                return f"{parser.prog} has no subcommand {word!r}"
            parser = subcommands[word]
    return None


def _parse_error(arguments: list[str]) -> str | None:
    """argparse's complaint about ``sweepnet <arguments>``, or None when it parses."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            cli._parser().parse_args(arguments)
    except SystemExit:
        return stderr.getvalue().strip().splitlines()[-1]
    return None


# ------------------------------------------------------------------------------ the code runs


def test_the_classic_api_example_trains_to_a_sane_accuracy(capsys):
    (example,) = [block for block in _blocks(README, "python") if "from sweepnet.core" in block]
    statements = [
        line for line in example.splitlines() if line.strip() and not line.startswith(("from ", "import ", "#"))
    ]
    assert len(statements) <= 5, "the README promises a five-line example"
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert "(Epoch 10 / 10) train acc:" in capsys.readouterr().out
    assert namespace["solver"].best_val_acc > 0.85  # chance is 0.1; the README says about 0.92


def test_the_sweep_file_example_is_valid(builtin_registries):
    sweeps = [text for text in _blocks(README, "yaml") if text.startswith("name:")]
    assert sweeps, "the README shows no sweep file"
    for text in sweeps:
        plan = plan_from_text(text, source="README.md", registries=builtin_registries)
        plan.check(plan.load_dataset())


def test_the_plugin_example_passes_the_kit_and_trains_in_a_sweep(installed_plugin, fresh_plugin_state, monkeypatch):
    (source,) = [block for block in _blocks(README, "python") if "sweepnet_register_layers" in block]
    (entry_point,) = [block for block in _blocks(README, "toml") if "[project.entry-points.sweepnet]" in block]
    plugin_name, module = (part.strip().strip('"') for part in entry_point.splitlines()[1].split("="))
    installed_plugin(module.replace("_", "-"), source, entry_point=plugin_name)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")  # as for a user: `sequential` resolves layers process-wide
    registries = get_registries()
    layer = registries.layers.component("softsign")
    assert layer.provider == "sweepnet-softsign"
    check_layer(layer.obj)  # as the README tells plugin authors to

    (usage,) = [block for block in _blocks(README, "yaml") if "softsign" in block]
    sweep = "name: softsign\nsolver: {num_epochs: 1}\nsearch: {num_samples: 1}\n" + usage
    plan = plan_from_text(sweep, source="README.md", registries=registries)
    dataset = plan.load_dataset()
    plan.check(dataset)
    spec = plan.trial_spec(plan.bind(dataset.meta).make_searcher().ask(), number=0)
    result = run_trial(spec, dataset=dataset, registries=registries)
    assert result.state is TrialState.COMPLETED, result.error


# ------------------------------------------------------------------------------ the commands exist


@pytest.mark.parametrize("path", COMMAND_DOCS, ids=lambda path: path.name)
def test_every_sweepnet_command_names_real_subcommands_and_flags(path):
    lines, spans = _sweepnet_commands(path)
    assert lines, f"{path.name} shows no sweepnet command"
    for arguments in lines + spans:
        assert _unknown_name(arguments) is None, f"`sweepnet {shlex.join(arguments)}`: {_unknown_name(arguments)}"


@pytest.mark.parametrize("path", COMMAND_DOCS, ids=lambda path: path.name)
def test_every_sweepnet_command_line_in_a_code_block_parses(path):
    for arguments in _sweepnet_commands(path)[0]:
        assert _parse_error(arguments) is None, f"`sweepnet {shlex.join(arguments)}`: {_parse_error(arguments)}"


def test_the_readme_shows_every_subcommand():
    lines, spans = _sweepnet_commands(README)
    shown = {arguments[0] for arguments in lines + spans if arguments}
    assert set(_subcommands(cli._parser())) - shown == set()


def test_the_checks_catch_a_made_up_flag_and_subcommand():
    assert _unknown_name(["sweep", "x.yaml", "--adress", "h:1"]) == "sweepnet sweep has no option --adress"
    assert _unknown_name(["data", "fetch", "mnist"]) == "sweepnet data has no subcommand 'fetch'"
    assert _unknown_name(["data", "download", "mnist", "--mirror=URL"]) is None
    assert "invalid choice" in _parse_error(["data", "fetch", "mnist"])
    assert _parse_error(["sweep", "x.yaml", "--max-concurrent", "N"]) is not None


# ------------------------------------------------------------------------------ links and set-up


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """Every heading anchor of ``path``; repeated headings get ``-1``, ``-2`` ... as on GitHub."""
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", _prose(path), flags=re.MULTILINE):
        slug = _slug(heading)
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


@pytest.mark.parametrize("path", COMMAND_DOCS, ids=lambda path: path.name)
def test_every_relative_link_points_to_an_existing_file_and_heading(path):
    for target in LINK.findall(_prose(path)):
        if target.startswith(SCHEMES):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name} links to {target}, which does not exist"
        if anchor:
            assert anchor in _anchors(linked), f"{path.name} links to {target}: no such heading"


def test_the_setup_commands_are_the_two_scripts():
    (setup,) = [block for block in _blocks(README, "bash") if "scripts/quickstart" in block]
    assert _shell_commands(setup) == [["scripts/quickstart"], ["scripts/test"]]
    for script in ("scripts/quickstart", "scripts/test"):
        assert os.access(ROOT / script, os.X_OK), f"{script} is not an executable file"


def test_the_readme_test_command_is_what_ci_runs_last():
    ci_commands = _shell_commands((ROOT / ".ci" / "run").read_text())
    readme_commands = [words for block in _blocks(README, "bash") for words in _shell_commands(block)]
    assert ci_commands[-1] in readme_commands


def test_every_example_is_in_the_examples_table():
    section = README.read_text().partition("\n## Examples\n")[2].partition("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    listed = set(re.findall(r"examples/[\w.-]+\.ya?ml", "\n".join(rows)))
    examples = {path.relative_to(ROOT).as_posix() for path in (ROOT / "examples").glob("*.y*ml")}
    assert examples - listed == set(), "examples missing from the README's table"

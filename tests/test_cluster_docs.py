"""docs/cluster.md tells people how to run Ray and MLflow, so it must match the installed versions.

Every ``ray ...`` and ``mlflow ...`` command it shows exists with those options (a command line in
a code block must parse with the real click command); every ``RAY_*`` variable it names is one the
installed Ray reads; its ``resources:`` table lists exactly sweepnet's keys with their defaults;
and its sweep file is valid. The ``sweepnet ...`` commands are checked in ``test_readme.py``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import ray

from sweepnet.plan import plan_from_text
from sweepnet.schema import Resources
from sweepnet.yamlfile import parse_yaml

# Importing the `ray` and `mlflow` command groups imports Ray Serve and SQLAlchemy models, which
# emit deprecation warnings of their own.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOCS = Path(__file__).parents[1] / "docs" / "cluster.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
TEXT = DOCS.read_text()
PROSE = FENCE.sub("", TEXT)


def _cli(program: str) -> click.Group:
    """The installed click group behind the ``ray`` or ``mlflow`` executable."""
    if program == "ray":
        from ray.scripts.scripts import cli
    else:
        from mlflow.cli import cli
    return cli


def _commands(program: str) -> tuple[list[list[str]], list[list[str]]]:
    """Arguments of ``program`` in the docs: (complete lines of bash blocks, inline code spans)."""
    lines = []
    for lang, body in FENCE.findall(TEXT):
        if lang != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and Path(words[0]).name == program:
                lines.append(words[1:])
    spans = [shlex.split(span)[1:] for span in re.findall(rf"`({program} [^`]+)`", PROSE)]
    return lines, spans


def _unknown_option(group: click.Group, arguments: list[str]) -> str | None:
    """The first subcommand or option of ``arguments`` that ``group`` lacks, or None."""
    command = group.commands.get(arguments[0])
    if command is None:
        return f"no command {arguments[0]!r}"
    options = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    for word in arguments[1:]:
        flag = word.split("=", 1)[0]
        if word.startswith("-") and flag not in options:
            return f"{arguments[0]} has no option {flag}"
    return None


@pytest.mark.parametrize("program", ["ray", "mlflow"])
def test_every_command_uses_real_subcommands_and_options(program):
    lines, spans = _commands(program)
    assert lines, f"docs/cluster.md shows no {program} command line"
    for arguments in lines + spans:
        problem = _unknown_option(_cli(program), arguments)
        assert problem is None, f"`{program} {shlex.join(arguments)}`: {problem}"


@pytest.mark.parametrize("program", ["ray", "mlflow"])
def test_every_command_line_parses_with_the_installed_version(program):
    group = _cli(program)
    for arguments in _commands(program)[0]:
        command = group.commands[arguments[0]]
        try:
            command.make_context(f"{program} {arguments[0]}", arguments[1:])  # parses; does not run
        except click.UsageError as err:
            pytest.fail(f"`{program} {shlex.join(arguments)}`: {err.format_message()}")


def test_the_option_check_catches_a_made_up_option():
    assert _unknown_option(_cli("ray"), ["start", "--head", "--token=x"]) == "start has no option --token"
    assert _unknown_option(_cli("ray"), ["launch"]) == "no command 'launch'"


def test_every_ray_variable_named_is_read_by_the_installed_ray():
    named = set(re.findall(r"\bRAY_[A-Z_]+\b", TEXT))
    assert {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"} <= named
    package = Path(ray.__file__).parent
    sources = (path for path in package.rglob("*.py") if "tests" not in path.relative_to(package).parts)
    unread = set(named)
    for source in sources:
        text = source.read_text(errors="replace")
        unread = {name for name in unread if f'"{name}"' not in text}
        if not unread:
            break
    assert unread == set(), "variables no module of the installed Ray reads"


def test_the_resources_table_lists_every_key_with_its_default():
    section = TEXT.partition("\n## `resources:`\n")[2].partition("\n## ")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section, flags=re.MULTILINE))
    assert set(rows) == set(Resources.model_fields)
    for name, written in rows.items():
        assert parse_yaml(written, str(DOCS)) == Resources.model_fields[name].default, name


def test_the_sweep_file_is_valid(builtin_registries):
    sweeps = [body for lang, body in FENCE.findall(TEXT) if lang == "yaml" and body.startswith("name:")]
    assert sweeps
    for text in sweeps:
        plan = plan_from_text(text, source="docs/cluster.md", registries=builtin_registries)
        assert set(plan.config["resources"]) == set(Resources.model_fields)  # the example shows every key
        plan.check(plan.load_dataset())

"""The module map of docs/internals.md, enforced on the import graph derived from the source.

The "may import" column names sweepnet modules in backticks, relative to ``sweepnet``
(`` `records` ``, `` `data.plugin` ``; `` `sweepnet` `` is the package itself, `` `*` `` any
module): a module may import those and the modules of its own row. A part of the cell (between
semicolons) that says "lazily" allows its modules only inside functions; text in parentheses is
for the reader, and so are third-party names, except the two that only one place may import: ray
(the scheduler) and mlflow (the tracking package, inside functions). Imports under
``if TYPE_CHECKING:`` never run, so they count as lazy; they must still be allowed by the row.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sweepnet"

# Third-party packages one place alone may import: (package, the row that may, when).
EXCLUSIVE = {"ray": ("sweepnet/scheduler.py", False), "mlflow": ("sweepnet/tracking/", True)}
# sweepnet/core/ stands alone: the classic API must run without the rest of sweepnet.
SELF_CONTAINED = "sweepnet/core/"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (a sweepnet module, or a top-level third-party package)
    line: int
    lazy: bool  # inside a function, or under `if TYPE_CHECKING:`


@dataclass(frozen=True)
class Row:
    paths: tuple[str, ...]  # "sweepnet/x.py" or a package "sweepnet/x/"
    allowed: frozenset[str]  # dotted module names (or "*") imported at module level or lazily
    lazy_only: frozenset[str]  # dotted module names only imported lazily


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The sweepnet module ``name`` refers to (an attribute's module), or its top-level package."""
    if name.split(".")[0] != PACKAGE:
        return name.split(".")[0]
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The imports of one module: module level and in functions, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, _resolve(alias.name, modules), node.lineno, lazy))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # `from pkg import name` imports the submodule pkg.name when there is one.
                target = _resolve(f"{source}.{alias.name}", modules) if source.startswith(PACKAGE) else source
                found.append(Import(module, _resolve(target, modules), node.lineno, lazy))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(module, _resolve(node.args[0].value, modules), node.lineno, lazy))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, lazy)
            return
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def import_graph(root: Path) -> list[Import]:
    modules = module_files(root)
    return [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]


def _dotted(token: str) -> str:
    return token if token in ("*", PACKAGE) else f"{PACKAGE}.{token}"


def parse_module_map(text: str) -> list[Row]:
    """The rows of the module map table (the one whose header has "may import")."""
    rows = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("|") and "may import" in line:
            break
    else:
        raise AssertionError("docs/internals.md has no module map table (a header with 'may import')")
    next(lines)  # the |---| line
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        paths = tuple(re.findall(r"`(sweepnet/[^`]*)`", cells[0]))
        allowed, lazy_only = set(), set()
        for clause in re.sub(r"\([^)]*\)", "", cells[-1]).split(";"):  # parentheses explain
            names = {_dotted(token) for token in re.findall(r"`([^`]+)`", clause)} - set(EXCLUSIVE)
            (lazy_only if "lazily" in clause else allowed).update(names)
        rows.append(Row(paths, frozenset(allowed), frozenset(lazy_only)))
    return rows


def _path_of(module: str, modules: dict[str, Path], root: Path) -> str:
    return modules[module].relative_to(root).as_posix()


def _row_of(path: str, rows: list[Row]) -> tuple[Row, str] | None:
    """The row that describes a file: its own, else its nearest package's."""
    matches = [(p, row) for row in rows for p in row.paths if path == p or (p.endswith("/") and path.startswith(p))]
    if not matches:
        return None
    key, row = max(matches, key=lambda match: len(match[0]))
    return row, key


def _covers(name: str, target: str) -> bool:
    return name == "*" or target == name or target.startswith(name + ".")


def _within(path: str, key: str) -> bool:
    return path == key or (key.endswith("/") and path.startswith(key))


def violations(root: Path, doc: str) -> list[str]:
    """Every way the source under ``root`` and the module map in ``doc`` disagree."""
    modules = module_files(root)
    rows = parse_module_map(doc)
    problems = []
    for row in rows:
        for p in row.paths:
            if not (root / p).exists():
                problems.append(f"the module map names {p}, which does not exist")
        for name in sorted((row.allowed | row.lazy_only) - {"*"}):
            if name not in modules:
                problems.append(f"the row of {', '.join(row.paths)} may import {name}, which does not exist")
    row_keys = {}
    for module in modules:
        path = _path_of(module, modules, root)
        found = _row_of(path, rows)
        if found is None:
            problems.append(f"{path} has no row in the module map")
        else:
            row_keys[module] = found
    for imp in import_graph(root):
        path = _path_of(imp.importer, modules, root)
        where = f"{path}:{imp.line} imports {imp.target}"
        if imp.target in EXCLUSIVE:
            owner, lazy = EXCLUSIVE[imp.target]
            if not _within(path, owner):
                problems.append(f"{where}: only {owner} may import {imp.target}")
            elif lazy and not imp.lazy:
                problems.append(f"{where} at module level: only inside functions")
            continue
        if imp.target.split(".")[0] != PACKAGE or imp.importer not in row_keys:
            continue
        row, key = row_keys[imp.importer]
        target_path = _path_of(imp.target, modules, root)
        if _within(target_path, key):
            continue
        if path.startswith(SELF_CONTAINED):
            problems.append(f"{where}: {SELF_CONTAINED} imports no sweepnet module outside it")
        elif any(_covers(name, imp.target) for name in row.allowed):
            continue
        elif any(_covers(name, imp.target) for name in row.lazy_only):
            if not imp.lazy:
                problems.append(f"{where} at module level: its row allows it lazily only")
        else:
            problems.append(f"{where}: not in its row's 'may import' ({key})")
    return list(dict.fromkeys(problems))  # `from m import a, b` is one import of m


def test_the_source_follows_the_module_map():
    problems = violations(ROOT, (ROOT / "docs" / "internals.md").read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


# A small tree and its map, to show that each rule fails when broken.
MAP = """\
| module | owns | may import |
|---|---|---|
| `sweepnet/core/` | numerics | numpy |
| `sweepnet/errors.py` | errors | – |
| `sweepnet/plan.py` | the plan | `errors`, `core.solver`; `tracking` lazily |
| `sweepnet/scheduler.py` | the loop | ray, `plan` |
| `sweepnet/tracking/` | MLflow | mlflow (inside functions), `errors` |
| `sweepnet/__init__.py` | the package | – |
"""

FILES = {
    "sweepnet/__init__.py": "",
    "sweepnet/errors.py": "",
    "sweepnet/core/__init__.py": "",
    "sweepnet/core/solver.py": "from . import optim\nimport numpy\n",
    "sweepnet/core/optim.py": "",
    "sweepnet/plan.py": (
        "from typing import TYPE_CHECKING\nfrom sweepnet import errors\nfrom sweepnet.core.solver import Solver\n"
        "if TYPE_CHECKING:\n    from sweepnet.tracking.store import Store\n"
        "def record():\n    from .tracking import store\n"
    ),
    "sweepnet/scheduler.py": "import ray\nfrom sweepnet.plan import Plan\n",
    "sweepnet/tracking/__init__.py": "",
    "sweepnet/tracking/store.py": "from ..errors import Error\nfrom . import layout\ndef open():\n    import mlflow\n",
    "sweepnet/tracking/layout.py": "",
}


def make_tree(root: Path, changes: dict[str, str] | None = None) -> Path:
    for name, source in {**FILES, **(changes or {})}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    return root


def test_a_tree_that_follows_its_map_passes(tmp_path):
    assert violations(make_tree(tmp_path), MAP) == []


def test_relative_and_type_checking_imports_are_resolved(tmp_path):
    root = make_tree(tmp_path)
    modules = module_files(root)
    found = {(imp.target, imp.lazy) for imp in imports_of("sweepnet.plan", modules["sweepnet.plan"], modules)}
    assert found == {
        ("typing", False),
        ("sweepnet.errors", False),
        ("sweepnet.core.solver", False),
        ("sweepnet.tracking.store", True),
    }
    store = {imp.target for imp in imports_of("sweepnet.tracking.store", modules["sweepnet.tracking.store"], modules)}
    assert store == {"sweepnet.errors", "sweepnet.tracking.layout", "mlflow"}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"sweepnet/errors.py": "from sweepnet import plan\n"}, "sweepnet/errors.py:1 imports sweepnet.plan: not in"),
        ({"sweepnet/core/optim.py": "def f():\n    from sweepnet.errors import E\n"}, "sweepnet/core/ imports no"),
        ({"sweepnet/plan.py": "import ray.util\n"}, "sweepnet/plan.py:1 imports ray: only sweepnet/scheduler.py"),
        ({"sweepnet/plan.py": "def f():\n    import mlflow\n"}, "only sweepnet/tracking/ may import mlflow"),
        ({"sweepnet/tracking/layout.py": "import mlflow\n"}, "imports mlflow at module level"),
        ({"sweepnet/plan.py": "from sweepnet.tracking import store\n"}, "at module level: its row allows it lazily"),
        ({"sweepnet/plan.py": "from .core import optim\n"}, "imports sweepnet.core.optim: not in"),
        ({"sweepnet/scheduler.py": "from . import errors\n"}, "imports sweepnet.errors: not in"),
        ({"sweepnet/progress.py": ""}, "sweepnet/progress.py has no row in the module map"),
    ],
)
def test_a_planted_violation_fails(tmp_path, changes, problem):
    problems = violations(make_tree(tmp_path, changes), MAP)
    assert any(problem in p for p in problems), problems


def test_a_row_naming_a_missing_module_fails(tmp_path):
    doc = MAP.replace("`errors`, `core.solver`", "`errors`, `core.solvers`") + "| `sweepnet/gone.py` | x | – |\n"
    problems = violations(make_tree(tmp_path), doc)
    assert "the row of sweepnet/plan.py may import sweepnet.core.solvers, which does not exist" in problems
    assert "the module map names sweepnet/gone.py, which does not exist" in problems

"""The search-space grammar: parsing, walking, resolving, conditional branches and errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepnet.errors import ConfigError
from sweepnet.search import SPACE_KEYWORDS, Categorical, Float, Int, SearchSpace

OPTIMIZERS = """
solver:
  optim_config:
    learning_rate: {loguniform: [1.0e-4, 1.0e-1]}
  update_rule:
    choice:
      - {name: sgd_momentum, momentum: {uniform: [0.5, 0.99]}}
      - {name: adam}
  batch_size: 100
model:
  hidden_dims: [{grid: [64, 128]}, 32]
"""

# ---------------------------------------------------------------- random configs with spaces


def _numeric_space() -> st.SearchStrategy[dict]:
    def bounds(low: float, width: float, integral: bool) -> list:
        return [int(low), int(low) + max(int(width), 1)] if integral else [low, low + width]

    return st.one_of(
        st.builds(lambda lo, w: {"uniform": bounds(lo, w, False)}, st.floats(-10, 10), st.floats(0.5, 10)),
        st.builds(lambda lo, w: {"loguniform": bounds(lo, w, False)}, st.floats(1e-5, 1), st.floats(0.5, 10)),
        st.builds(lambda lo, w: {"randint": bounds(lo, w, True)}, st.integers(-5, 5), st.integers(1, 5)),
        st.builds(lambda lo, w: {"quniform": [*bounds(lo, w, False), 0.25]}, st.floats(-10, 10), st.floats(0.5, 10)),
        st.builds(lambda lo, w: {"qloguniform": [*bounds(lo, w, False), 0.25]}, st.floats(0.1, 1), st.floats(0.5, 10)),
        st.builds(lambda lo, w: {"qrandint": [*bounds(lo, w, True), 2]}, st.integers(-5, 5), st.integers(2, 6)),
        st.builds(
            lambda kw, options: {kw: options},
            st.sampled_from(["grid", "choice"]),
            st.lists(st.integers(-3, 3) | st.sampled_from(["relu", "tanh"]), min_size=1, max_size=4, unique=True),
        ),
    )


_keys = st.sampled_from(["lr", "reg", "layers", "optim", "w", "x"])
_constants = st.integers(-5, 5) | st.sampled_from(["a", "b", None, True])


def _configs() -> st.SearchStrategy:
    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        branch = st.dictionaries(_keys, children, max_size=3)
        return st.one_of(
            st.dictionaries(_keys, children, max_size=3),
            st.lists(children, max_size=3),
            st.builds(  # a choice among named branches that hold spaces of their own
                lambda kw, bodies: {kw: [{**body, "name": f"b{i}"} for i, body in enumerate(bodies)]},
                st.sampled_from(["grid", "choice"]),
                st.lists(branch, min_size=1, max_size=3),
            ),
        )

    return st.recursive(_constants | _numeric_space(), extend, max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(_configs(), st.integers(0, 2**32 - 1))
def test_every_sample_lies_in_its_space(config: object, seed: int) -> None:
    space = SearchSpace(config)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        params = space.walk(lambda path, distribution: distribution.sample(rng))
        resolved = space.resolve(params)  # raises unless every value lies in its distribution
        assert space.contains(params)
        assert not _has_space(resolved)
        assert set(params) <= {path for path, _ in space.leaves()}


def _has_space(node: object) -> bool:
    if isinstance(node, dict):
        return any(key in SPACE_KEYWORDS for key in node) or any(_has_space(v) for v in node.values())
    return isinstance(node, list) and any(_has_space(item) for item in node)


# ---------------------------------------------------------------- paths, resolve, conditionals


def test_params_are_flat_dotted_paths() -> None:
    space = SearchSpace(yaml.safe_load(OPTIMIZERS))
    params = {"solver.optim_config.learning_rate": 0.01, "solver.update_rule": "adam", "model.hidden_dims[0]": 128}
    assert space.resolve(params) == {
        "solver": {"optim_config": {"learning_rate": 0.01}, "update_rule": {"name": "adam"}, "batch_size": 100},
        "model": {"hidden_dims": [128, 32]},
    }


def test_conditional_parameter_exists_only_in_its_branch() -> None:
    space = SearchSpace(yaml.safe_load(OPTIMIZERS))
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        params = space.walk(lambda path, distribution: distribution.sample(rng))
        rule = params["solver.update_rule"]
        seen.add(rule)
        assert ("solver.update_rule.momentum" in params) == (rule == "sgd_momentum")
        resolved_rule = space.resolve(params)["solver"]["update_rule"]
        assert resolved_rule["name"] == rule
        assert ("momentum" in resolved_rule) == (rule == "sgd_momentum")
    assert seen == {"sgd_momentum", "adam"}


def test_walk_visits_parameters_in_config_order_with_branches_inline() -> None:
    space = SearchSpace(yaml.safe_load(OPTIMIZERS))
    visited = []

    def first(path: str, distribution: object) -> object:
        visited.append(path)
        return distribution.values()[0] if distribution.is_finite else distribution.low

    space.walk(first)
    assert visited == [
        "solver.optim_config.learning_rate",
        "solver.update_rule",
        "solver.update_rule.momentum",
        "model.hidden_dims[0]",
    ]


def test_option_labels() -> None:
    space = SearchSpace(
        {
            "named": {"choice": [{"name": "sgd"}, {"name": "adam", "beta1": {"uniform": [0.8, 0.99]}}]},
            "unnamed": {"choice": [{"momentum": {"uniform": [0.5, 0.9]}}, {"momentum": 0.0}]},
            "lists": {"grid": [[100], [100, 100]]},
            "spaced_lists": {"choice": [[{"randint": [1, 4]}], [8]]},
        }
    )
    labels = {path: d.labels for path, d in space.leaves() if isinstance(d, Categorical)}
    assert labels == {
        "named": ("sgd", "adam"),
        "unnamed": (0, 1),
        "lists": ([100], [100, 100]),
        "spaced_lists": (0, [8]),  # index only for the option that holds a space
    }
    params = {
        "named": "adam",
        "named.beta1": 0.9,
        "unnamed": 1,
        "lists": [100, 100],
        "spaced_lists": 0,
        "spaced_lists[0]": 3,
    }
    assert space.resolve(params) == {
        "named": {"name": "adam", "beta1": 0.9},
        "unnamed": {"momentum": 0.0},
        "lists": [100, 100],
        "spaced_lists": [3],
    }


def test_grammar_builds_the_right_distributions() -> None:
    space = SearchSpace(
        {
            "a": {"uniform": [0, 1]},
            "b": {"loguniform": [1.0e-4, 1.0e-1]},
            "c": {"randint": [1, 5]},
            "d": {"quniform": [0, 1, 0.25]},
            "e": {"qloguniform": [1, 100, 5]},
            "f": {"qrandint": [0, 64, 16]},
            "g": {"grid": [1, 2]},
        }
    )
    assert dict(space.leaves()) == {
        "a": Float(0.0, 1.0),
        "b": Float(1e-4, 0.1, log=True),
        "c": Int(1, 5),
        "d": Float(0.0, 1.0, q=0.25),
        "e": Float(1.0, 100.0, log=True, q=5.0),
        "f": Int(0, 64, 16),
        "g": Categorical((1, 2), (1, 2), "grid"),
    }


def test_ordinary_mappings_with_unknown_keys_are_data() -> None:
    space = SearchSpace({"data": {"name": "digits", "subsample": {"train": 500}}, "tags": {"owner": ["me"]}})
    assert space.leaves() == [] and space.size == 1
    assert space.resolve({}) == {"data": {"name": "digits", "subsample": {"train": 500}}, "tags": {"owner": ["me"]}}


def test_size_counts_branches() -> None:
    space = SearchSpace(
        {
            "lr": {"grid": [1, 2, 3]},
            "rule": {"choice": [{"name": "sgd"}, {"name": "momentum", "m": {"grid": [0.5, 0.9]}}]},
        }
    )
    assert space.size == 3 * (1 + 2)
    assert SearchSpace({"lr": {"uniform": [0, 1]}, "n": {"grid": [1, 2]}}).size is None


@pytest.mark.parametrize(
    ("params", "path", "fragment"),
    [
        ({"solver.update_rule": "adam", "model.hidden_dims[0]": 64}, "solver.optim_config.learning_rate", "no value"),
        (
            {"solver.optim_config.learning_rate": 2.0, "solver.update_rule": "adam", "model.hidden_dims[0]": 64},
            "solver.optim_config.learning_rate",
            "not a value of loguniform",
        ),
        (
            {"solver.optim_config.learning_rate": 0.01, "solver.update_rule": "rmsprop", "model.hidden_dims[0]": 64},
            "solver.update_rule",
            "'rmsprop'",
        ),
        (
            {
                "solver.optim_config.learning_rate": 0.01,
                "solver.update_rule": "adam",
                "solver.update_rule.momentum": 0.9,
                "model.hidden_dims[0]": 64,
            },
            "solver.update_rule.momentum",
            "branch taken",
        ),
    ],
)
def test_resolve_rejects_params_outside_the_space(params: dict, path: str, fragment: str) -> None:
    space = SearchSpace(yaml.safe_load(OPTIMIZERS))
    with pytest.raises(ConfigError, match=fragment) as info:
        space.resolve(params)
    assert info.value.field == path
    assert not space.contains(params)


# ---------------------------------------------------------------- invalid spaces


@pytest.mark.parametrize(
    ("config", "path", "fragment"),
    [
        ({"a": {"grid": []}}, "a", "non-empty list"),
        ({"a": {"b": {"choice": []}}}, "a.b", "non-empty list"),
        ({"a": {"choice": "sgd"}}, "a", "non-empty list"),
        ({"lr": {"uniform": [1, 1]}}, "lr", "lo < hi"),
        ({"lr": {"uniform": [2, 1]}}, "lr", "lo < hi"),
        ({"lr": {"loguniform": [0, 1]}}, "lr", "0 < lo"),
        ({"lr": {"qloguniform": [-1, 1, 0.1]}}, "lr", "0 < lo"),
        ({"lr": {"quniform": [0, 1, 0]}}, "lr", "q > 0"),
        ({"n": {"qrandint": [0, 10, -2]}}, "n", "q > 0"),
        ({"lr": {"quniform": [0.1, 0.2, 1]}}, "lr", "no multiple of q"),
        ({"lr": {"uniform": ["a", 1]}}, "lr", "must be numbers"),
        ({"lr": {"uniform": [True, 2]}}, "lr", "must be numbers"),
        ({"lr": {"uniform": [0, float("inf")]}}, "lr", "finite"),
        ({"lr": {"loguniform": ["1e-4", 1.0e-1]}}, "lr", "write 1.0e-3"),
        ({"n": {"randint": [0.5, 3]}}, "n", "integers"),
        ({"lr": {"uniform": [0, 1, 2]}}, "lr", r"takes \[lo, hi\]"),
        ({"lr": {"quniform": [0, 1]}}, "lr", r"takes \[lo, hi, q\]"),
        ({"lr": {"uniform": 0.5}}, "lr", r"takes \[lo, hi\]"),
        ({"lr": {"uniform": [0, 1], "default": 0.1}}, "lr", "only key"),
        ({"lr": {"grid": [1], "choice": [2]}}, "lr", "only key"),
        ({"m": {"layers": [{"w": {"logunifrom": [1, 2]}}]}}, "m.layers[0].w", "did you mean 'loguniform'"),
        ({"a": {"grids": [1, 2]}}, "a", "did you mean 'grid'"),
        ({"a": {"choice": [1, 2, 1]}}, "a", "both 1"),
        ({"a": {"choice": [{"name": "x"}, {"name": "x", "v": 1}]}}, "a", "both 'x'"),
        ({"a": {"choice": [{"uniform": [0, 1]}, 2]}}, "a", "cannot itself be a space"),
        (
            {"rule": {"choice": [{"name": "sgd", "momentum": {"uniform": [0.9, 0.5]}}]}},
            "rule.momentum",
            "lo < hi",
        ),
        ({"layers": [1, {"grid": [{"name": "conv", "k": {"randint": [3, 3]}}]}]}, "layers[1].k", "lo < hi"),
        ({"a": {"choice": list(range(1001))}}, "a", "choice has 1,001 options; at most 1,000"),
        ({"a": {"randint": [0, 2**62 + 1]}}, "a", r"at most 2\*\*62 in magnitude"),
        ({"a": {"quniform": [0, 1e300, 1e-300]}}, "a", "too many multiples"),
    ],
)
def test_invalid_space_names_its_dotted_path(config: dict, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        SearchSpace(config)
    assert info.value.field == path
    assert "\n" not in str(info.value)

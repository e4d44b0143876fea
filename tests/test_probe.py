"""Probe points take every option and both ends of every range, branches included."""

from __future__ import annotations

import pytest

from sweepnet.errors import ConfigError
from sweepnet.probe import MAX_PROBES, Probe, candidates, probe_points
from sweepnet.search import Float, Int, SearchSpace


def values_taken(space: SearchSpace) -> dict[str, set]:
    taken: dict[str, set] = {}
    for probe in probe_points(space):
        assert space.contains(probe.params)
        for path, value in probe.params.items():
            taken.setdefault(path, set()).add(repr(value))
    return taken


def test_candidates_are_the_options_or_the_ends_of_a_range():
    assert candidates(Float(1e-4, 1e-2, log=True)) == (1e-4, 1e-2)
    assert candidates(Float(0.05, 0.5, q=0.1)) == (0.1, 0.5)
    assert candidates(Int(0, 8)) == (0, 8)
    assert candidates(Int(1, 10, q=4)) == (4, 8)
    assert candidates(Int(3, 3)) == (3,)


def test_every_candidate_of_every_parameter_is_probed_next_to_the_base_point():
    space = SearchSpace(
        {
            "model": {"hidden_dims": {"choice": [[64], [128]]}, "reg": {"loguniform": [1e-5, 1e-2]}},
            "solver": {"num_epochs": {"randint": [1, 30]}},
        }
    )
    probes = list(probe_points(space))
    base = probes[0].params
    assert base == {"model.hidden_dims": [64], "model.reg": 1e-5, "solver.num_epochs": 1}
    # the base point, the high corner, then one change each: [128], 1e-2, 30
    assert len(probes) == 5
    assert probes[1].params == {"model.hidden_dims": [64], "model.reg": 1e-2, "solver.num_epochs": 30}
    for probe in probes[2:]:
        assert sum(probe.params[path] != base[path] for path in base) == 1
    assert values_taken(space) == {
        "model.hidden_dims": {"[64]", "[128]"},
        "model.reg": {"1e-05", "0.01"},
        "solver.num_epochs": {"1", "30"},
    }


def test_parameters_of_conditional_branches_are_probed_at_both_ends():
    rules = [
        {"name": "adam", "beta1": {"uniform": [0.8, 0.95]}},
        {"name": "sgd_momentum", "momentum": {"uniform": [0.5, 0.99]}},
    ]
    space = SearchSpace({"solver": {"update_rule": {"choice": rules}}})
    taken = values_taken(space)
    assert taken["solver.update_rule"] == {"'adam'", "'sgd_momentum'"}
    assert taken["solver.update_rule.momentum"] == {"0.5", "0.99"}
    assert taken["solver.update_rule.beta1"] == {"0.8", "0.95"}


def test_a_space_without_parameters_has_one_probe():
    assert [probe.params for probe in probe_points(SearchSpace({"model": {"name": "fc"}}))] == [{}]


def test_describe_names_the_space_that_produced_a_value():
    space = SearchSpace({"model": {"hidden_dims": {"choice": [[64], [0]]}}})
    probe = list(probe_points(space))[1]
    expected = "the search space choice[[64], [0]] at model.hidden_dims allows [0]"
    assert probe.describe("model.hidden_dims[0]") == expected
    assert probe.describe("model.hidden_dims") == "the search space choice[[64], [0]] allows [0]"
    assert probe.describe("solver.batch_size") == ""


def test_the_high_corner_takes_every_parameter_at_its_highest_at_once():
    space = SearchSpace(
        {
            "model": {
                "hidden_dims": [{"randint": [1, 40000]}, {"choice": [16, 20000, 64]}],
                "norm": {"choice": ["batchnorm", "layernorm"]},
                "flag": {"choice": [False, True]},
            }
        }
    )
    probes = [probe.params for probe in probe_points(space)]
    corner = {
        "model.hidden_dims[0]": 40000,
        "model.hidden_dims[1]": 20000,
        "model.norm": "batchnorm",
        "model.flag": False,
    }
    assert probes[1] == corner  # text and booleans keep their first option
    assert sum(probe == corner for probe in probes) == 1  # probed once
    described = Probe(corner, {}).describe("model")
    assert described.startswith("at model.hidden_dims[0] = 40000, model.hidden_dims[1] = 20000, model.norm = ")


def test_a_space_with_too_many_candidates_is_refused_before_any_probe():
    lists = [{"choice": list(range(1, 1001))} for _ in range(2)]
    with pytest.raises(
        ConfigError, match=r"the search spaces have 2,000 options and range ends in all; at most 1,998"
    ) as info:
        next(probe_points(SearchSpace({"model": {"hidden_dims": lists}})))
    assert info.value.field == "model.hidden_dims[0]"
    assert MAX_PROBES == 2000

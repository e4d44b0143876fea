"""SweepPlan: validation by probing, defaults by task, trial ids and seeds, searcher/pruner/stopping."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

from sweepnet.errors import ConfigError
from sweepnet.plan import plan_from_text, trial_id_of, trial_seed_of
from sweepnet.records import TrialSpec
from sweepnet.search import ASHAPruner, GridSearcher, NoPruner, RandomSearcher, StopCriteria

SWEEP = """\
name: quickstart
seed: 0
data: {name: digits, flatten: true, standardize: true}
model:
  name: fc
  hidden_dims: {choice: [[64], [128], [128, 64]]}
  weight_scale: {loguniform: [1.0e-2, 3.0e-1]}
  reg: {loguniform: [1e-5, 1e-2]}
solver:
  update_rule: adam
  optim_config: {learning_rate: {loguniform: [3.0e-4, 1.0e-2]}}
  lr_decay: 0.95
  batch_size: 64
  num_epochs: 20
search: {searcher: random, num_samples: 20}
pruner: {name: asha, grace_period: 1, reduction_factor: 3}
"""

POINT = {
    "model.hidden_dims": [128],
    "model.weight_scale": 0.05,
    "model.reg": 1e-4,
    "solver.optim_config.learning_rate": 1e-3,
}


@pytest.fixture
def plan(builtin_registries):
    return plan_from_text(SWEEP, source="quickstart.yaml", registries=builtin_registries)


def make(text, *overrides, registries):
    return plan_from_text(textwrap.dedent(text), overrides, source="sweep.yaml", registries=registries)


# ----------------------------------------------------------------------------- the plan's attributes


def test_attributes_of_a_plan(plan):
    assert (plan.name, plan.seed, plan.source, plan.config_text) == ("quickstart", 0, "quickstart.yaml", SWEEP)
    assert plan.max_epochs == 20 and plan.total_trials == 20 and plan.model_names == ["fc"]
    assert [path for path, _ in plan.space.leaves()] == list(POINT)
    assert plan.resources.cpus_per_trial == 1 and plan.resources.max_retries == 2
    assert plan.tracking_uri is None and plan.tracking.enabled
    assert plan.pruner_name == "asha" and plan.pruner_options == {"grace_period": 1, "reduction_factor": 3}


def test_config_keeps_the_spaces_and_fills_in_section_defaults(plan):
    config = plan.config
    assert config["model"]["hidden_dims"] == {"choice": [[64], [128], [128, 64]]}
    assert config["solver"]["optim_config"] == {"learning_rate": {"loguniform": [3e-4, 1e-2]}}
    assert config["solver"]["num_train_samples"] == 1000 and config["solver"]["lr_decay"] == 0.95
    assert config["data"]["standardize"] is True and config["data"]["cv"] is None
    assert config["resources"]["max_concurrent"] is None
    json.dumps(config)  # plain data


def test_default_metric_and_mode_follow_the_data_sets_task(builtin_registries):
    classification = make("name: a\nmodel: {name: fc}\nsearch: {num_samples: 1}", registries=builtin_registries)
    assert classification.bind(None) is None  # unknown until the data set is
    bound = classification.bind(classification.load_dataset().meta)
    assert (bound.metric, bound.mode) == ("val_acc", "max")
    regression = make(
        "name: r\ndata: {name: diabetes}\nmodel: {name: fc}\nsearch: {num_samples: 1}", registries=builtin_registries
    )
    bound = regression.bind(regression.load_dataset().meta)
    assert (bound.metric, bound.mode) == ("val_rmse", "min")


def test_a_plan_is_immutable(plan):
    with pytest.raises(AttributeError, match="immutable: cannot set 'name'"):
        plan.name = "other"


@pytest.mark.parametrize(
    ("lines", "metric", "mode"),
    [
        ("metric: loss", "loss", "min"),
        ("metric: train_acc", "train_acc", "max"),
        ("metric: val_acc\nmode: min", "val_acc", "min"),
    ],
)
def test_configured_metric_and_mode(builtin_registries, lines, metric, mode):
    plan = make(f"name: a\nmodel: {{name: fc}}\nsearch: {{num_samples: 1}}\n{lines}", registries=builtin_registries)
    bound = plan.bind(None)  # the file names the metric: known without the data set
    assert bound is not None and (bound.metric, bound.mode) == (metric, mode)


def test_the_bound_sweep_info_carries_overrides_and_the_data_meta(builtin_registries):
    plan = plan_from_text(SWEEP, ["solver.num_epochs=3"], source="q.yaml", registries=builtin_registries)
    dataset = plan.load_dataset()
    info = plan.bind(dataset.meta, resumed=True).sweep
    assert (info.name, info.metric, info.mode, info.resumed) == ("quickstart", "val_acc", "max", True)
    assert info.overrides == ("solver.num_epochs=3",) and info.config_text == SWEEP
    assert info.data_meta == dataset.meta and info.config["solver"]["num_epochs"] == 3


def test_max_epochs_is_the_largest_of_any_point_and_one_for_classic_models(builtin_registries):
    text = "name: a\nmodel: {name: fc}\nsolver: {num_epochs: {randint: [2, 7]}}\nsearch: {num_samples: 1}"
    assert make(text, registries=builtin_registries).max_epochs == 7
    classic = make("name: a\nmodel: {name: knn}\nsearch: {searcher: grid}", registries=builtin_registries)
    assert classic.max_epochs == 1 and classic.total_trials == 1


# ----------------------------------------------------------------------------- searcher, pruner, stopping


def test_make_searcher_is_seeded_with_the_sweep_seed(plan):
    bound = plan.bind(plan.load_dataset().meta)
    first, second = bound.make_searcher(), bound.make_searcher()
    assert isinstance(first, RandomSearcher) and first.seed == 0
    assert [first.ask() for _ in range(3)] == [second.ask() for _ in range(3)]


def test_make_pruner_and_stop_criteria(plan):
    bound = plan.bind(plan.load_dataset().meta)
    pruner = bound.make_pruner()
    assert isinstance(pruner, ASHAPruner) and pruner.max_epochs == 20 and pruner.metric == "val_acc"
    assert bound.stop_criteria == StopCriteria(num_samples=20, mode="max")


def test_grid_needs_no_stopping_rule_and_counts_its_points(builtin_registries):
    text = """\
        name: g
        model: {name: knn, k: {grid: [1, 3, 5, 8]}}
        data: {flatten: true}
        search: {searcher: grid, options: {shuffle: false}}
        metric: val_acc
    """
    plan = make(text, registries=builtin_registries)
    bound = plan.bind(None)
    assert bound is not None and plan.total_trials == 4 and isinstance(bound.make_pruner(), NoPruner)
    searcher = bound.make_searcher()
    assert isinstance(searcher, GridSearcher) and [searcher.ask() for _ in range(4)] == [
        {"model.k": k} for k in (1, 3, 5, 8)
    ]
    assert make(text, "search.num_samples=2", registries=builtin_registries).total_trials == 2


@pytest.mark.parametrize("searcher", ["random", "tpe"])
def test_an_endless_searcher_needs_a_stopping_rule(builtin_registries, searcher):
    text = f"name: a\nmodel: {{name: fc, reg: {{uniform: [0.0, 0.1]}}}}\nsearch: {{searcher: {searcher}}}"
    with pytest.raises(ConfigError, match=r"^sweep\.yaml: search\.num_samples: the .* never runs out"):
        make(text, registries=builtin_registries)
    assert make(text, "search.time_budget_s=60", registries=builtin_registries).total_trials is None
    assert make(text, "search.target=0.9", registries=builtin_registries).total_trials is None


# ----------------------------------------------------------------------------- validation by probing


def test_a_range_whose_upper_end_is_invalid_fails_before_any_trial(builtin_registries):
    text = "name: a\nmodel: {name: fc, dropout_keep_ratio: {uniform: [0.5, 1.2]}}\nsearch: {num_samples: 1}"
    with pytest.raises(ConfigError) as info:
        make(text, registries=builtin_registries)
    assert info.value.field == "sweep.yaml: model.dropout_keep_ratio"
    assert "the search space uniform[0.5, 1.2] allows 1.2" in info.value.reason


def test_parameters_of_a_branch_the_base_point_does_not_take_are_probed(builtin_registries):
    text = """\
        name: a
        model: {name: fc}
        solver:
          update_rule:
            choice:
              - adam
              - {name: sgd_momentum, momentum: {uniform: [0.5, 1.5]}}
        search: {num_samples: 1}
    """
    with pytest.raises(ConfigError, match=r"solver\.update_rule\.momentum: .*allows 1\.5"):
        make(text, registries=builtin_registries)


def test_a_choice_of_whole_models_validates_each_models_options(builtin_registries):
    text = """\
        name: a
        model: {choice: [{name: fc, hidden_dims: [32]}, {name: knn, k: {randint: [0, 9]}}]}
        search: {num_samples: 1}
    """
    with pytest.raises(ConfigError, match=r"model\.k: .*\(the search space randint\[0, 9\] allows 0\)$"):
        make(text, registries=builtin_registries)


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("data: {name: digits, num_train: {choice: [10, 20]}}", "data.num_train"),
        ("search: {num_samples: {choice: [1, 2]}}", "search.num_samples"),
        ("pruner: {name: {choice: [none, asha]}}", "pruner.name"),
        ("resources: {cpus_per_trial: {choice: [1, 2]}}", "resources.cpus_per_trial"),
        ("seed: {randint: [0, 9]}", "seed"),
    ],
)
def test_spaces_are_only_allowed_in_model_and_solver(builtin_registries, section, field):
    text = f"name: a\nmodel: {{name: fc}}\n{section}"
    with pytest.raises(ConfigError, match="only allowed in model and solver") as info:
        make(text, registries=builtin_registries)
    assert info.value.field == f"sweep.yaml: {field}"


def test_check_builds_every_probe_points_model(builtin_registries):
    text = """\
        name: a
        model:
          name: sequential
          layers: [{name: conv, filters: 4, kernel: {choice: [3, 9]}}, relu, {name: affine, units: 10}]
        search: {num_samples: 1}
    """
    plan = make(text, registries=builtin_registries)
    with pytest.raises(ConfigError) as info:
        plan.check(plan.load_dataset())
    assert info.value.field == "sweep.yaml: model.layers[0]" and "kernel 9x9" in info.value.reason


def test_check_refuses_a_model_above_the_budget_before_building_it(builtin_registries):
    text = """\
        name: a
        model: {name: fc, hidden_dims: {choice: [[16], [20000000]]}}
        search: {num_samples: 1}
    """
    plan = make(text, registries=builtin_registries)
    dataset = plan.load_dataset()
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            plan.check(dataset)
        assert tracemalloc.get_traced_memory()[1] < 16 * 2**20  # the model would take 6 GB
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        "sweep.yaml: model: fc would have 1,500,000,010 parameters, 6,000 MB in float32, more than "
        "resources.max_model_mb (512 MB) (at model.hidden_dims = [20000000])"
    )


def test_the_model_budget_counts_the_dtype_and_can_be_raised(builtin_registries):
    text = "name: a\nmodel: {name: fc, hidden_dims: [500]}\nsearch: {num_samples: 1}\n"
    small = make(text, "resources.max_model_mb=0.2", registries=builtin_registries)
    small.check(small.load_dataset())  # 37,510 parameters: 0.15 MB in float32
    double = make(text, "resources.max_model_mb=0.2", "solver.dtype=float64", registries=builtin_registries)
    with pytest.raises(ConfigError, match=r"0 MB in float64, more than resources.max_model_mb \(0.2 MB\)"):
        double.check(double.load_dataset())


def test_the_probes_find_the_largest_option_of_a_choice_of_numbers(builtin_registries):
    text = """\
        name: a
        model: {name: fc, hidden_dims: [{choice: [16, 20000]}, {choice: [16, 20000]}]}
        search: {num_samples: 1}
    """
    plan = make(text, registries=builtin_registries)
    with pytest.raises(
        ConfigError, match=r"fc would have 401,520,010 parameters.*\(at model\.hidden_dims\[0\] = 20000"
    ):
        plan.check(plan.load_dataset())  # no single-parameter probe takes 20000 twice: the high corner does


def test_a_trial_above_the_budget_is_refused_once_the_data_is_known(builtin_registries):
    text = """\
        name: a
        model: {name: fc, hidden_dims: [{grid: [16, 20000]}, 16], normalization: {choice: [null, batchnorm]}}
        search: {num_samples: 1}
        resources: {max_model_mb: 6.5}
    """
    plan = make(text, registries=builtin_registries)
    dataset = plan.load_dataset()
    plan.check(dataset)  # 20000 wide without normalisation: 6.48 MB; each probe changes one
    _, setup = plan.trial({"model.hidden_dims[0]": 20000, "model.normalization": "batchnorm"}, number=0)
    with pytest.raises(ConfigError, match=r"^sweep\.yaml: model: fc would have 1,660,218 parameters, 7 MB"):
        plan.check_model_size(setup, dataset.meta)
    _, setup = plan.trial({"model.hidden_dims[0]": 20000, "model.normalization": None}, number=1)
    plan.check_model_size(setup, dataset.meta)


@pytest.mark.parametrize(
    ("lines", "field", "reason"),
    [
        (
            "solver: {batch_size: 1258}",
            "solver.batch_size",
            "1258 is larger than the 1257 training samples of 'digits'",
        ),
        ("solver: {batch_size: {choice: [16, 2000]}}", "solver.batch_size", "2000 is larger than the 1257"),
        ("data: {name: digits, cv: 4}\nsolver: {batch_size: 1000}", "solver.batch_size", "than the 942 training"),
        (
            "data: {name: digits, num_train: 100}\nsolver: {batch_size: 128}",
            "solver.batch_size",
            "than the 100 training",
        ),
    ],
)
def test_check_refuses_a_batch_larger_than_the_training_data(builtin_registries, lines, field, reason):
    plan = make(f"name: a\nmodel: {{name: fc}}\nsearch: {{num_samples: 1}}\n{lines}\n", registries=builtin_registries)
    with pytest.raises(ConfigError, match=re.escape(reason)) as info:
        plan.check(plan.load_dataset())
    assert info.value.field == f"sweep.yaml: {field}"


def test_a_batch_as_large_as_the_training_split_is_fine(builtin_registries):
    plan = make(
        "name: a\nmodel: {name: softmax, batch_size: 1257}\nsearch: {num_samples: 1}\n", registries=builtin_registries
    )
    plan.check(plan.load_dataset())
    plan = make(
        "name: a\nmodel: {name: softmax, batch_size: 1258}\nsearch: {num_samples: 1}\n", registries=builtin_registries
    )
    with pytest.raises(ConfigError, match=r"sweep\.yaml: model\.batch_size: 1258 is larger"):
        plan.check(plan.load_dataset())


def test_check_rejects_a_metric_the_task_does_not_report(builtin_registries):
    text = "name: a\ndata: {name: diabetes}\nmodel: {name: fc}\nsearch: {num_samples: 1}\nmetric: val_acc"
    plan = make(text, registries=builtin_registries)
    with pytest.raises(ConfigError, match=r"^sweep\.yaml: metric: 'val_acc' is not reported for the regression"):
        plan.check(plan.load_dataset())


def test_errors_in_overridden_values_name_the_override(builtin_registries):
    with pytest.raises(ConfigError) as info:
        plan_from_text(SWEEP, ["solver.batch_size=0"], source="q.yaml", registries=builtin_registries)
    assert str(info.value) == "--set solver.batch_size: Input should be greater than 0, got 0"


def test_an_override_fixes_a_searched_value(builtin_registries):
    plan = plan_from_text(SWEEP, ["model.reg=1e-3", "model.hidden_dims=[32]"], registries=builtin_registries)
    assert [path for path, _ in plan.space.leaves()] == ["model.weight_scale", "solver.optim_config.learning_rate"]


def test_load_plan_names_a_missing_file(tmp_path):
    from sweepnet.config import load_plan

    with pytest.raises(ConfigError, match=r"nope\.yaml: no such sweep file"):
        load_plan(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="cannot read the sweep file: it is a directory, not a regular file"):
        load_plan(tmp_path)


# ----------------------------------------------------------------------------- trial specs, ids and seeds


def test_trial_spec_resolves_validates_and_hashes(plan):
    spec = plan.trial_spec(POINT, 3)
    assert isinstance(spec, TrialSpec) and spec.number == 3 and spec.params == POINT
    assert spec.config["model"] == {"name": "fc", "hidden_dims": [128], "weight_scale": 0.05, "reg": 1e-4}
    assert spec.config["solver"]["optim_config"] == {"learning_rate": 1e-3}
    assert len(spec.trial_id) == 40 and spec.trial_id == trial_id_of(spec.config)
    assert spec.seed == trial_seed_of(0, spec.trial_id) and 0 <= spec.seed < 2**32


def test_trial_spec_rejects_a_point_outside_the_space(plan):
    with pytest.raises(ConfigError, match="model.reg"):
        plan.trial_spec({**POINT, "model.reg": 1.0}, 0)
    with pytest.raises(ConfigError, match="model.hidden_dims"):
        plan.trial_spec({key: value for key, value in POINT.items() if key != "model.hidden_dims"}, 0)


def test_the_trial_id_of_a_point_is_pinned(plan):
    # A change of this hash makes every recorded sweep re-run its finished trials on resume.
    assert plan.trial_spec(POINT, 0).trial_id == "ea9e85ef17aa1137972119a792acd61b940e4a6b"


def test_the_same_point_has_the_same_id_in_another_process(plan):
    script = textwrap.dedent(
        f"""
        import json, sys
        from sweepnet.plan import plan_from_text
        plan = plan_from_text(sys.stdin.read())
        print(plan.trial_spec(json.loads({json.dumps(json.dumps(POINT))}), 7).trial_id)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], input=SWEEP, capture_output=True, text=True, check=True)
    assert child.stdout.strip() == plan.trial_spec(POINT, 0).trial_id


def test_different_points_have_different_ids_and_seeds(plan):
    other = plan.trial_spec({**POINT, "model.reg": 2e-4}, 1)
    spec = plan.trial_spec(POINT, 0)
    assert other.trial_id != spec.trial_id and other.seed != spec.seed


@pytest.mark.parametrize(
    "override",
    [
        "search.num_samples=100",
        "search.searcher=tpe",
        "pruner={name: median}",
        "resources.cpus_per_trial=2",
        "tracking.uri=file:/tmp/mlruns",
        "name=renamed",
        "metric=train_acc",
        "data.data_dir=/elsewhere",
        "solver.batch_size=64",  # the value it already has
        "solver.num_val_samples=null",  # the default, now written out
    ],
)
def test_sweep_level_settings_do_not_change_the_trial_id(plan, builtin_registries, override):
    changed = plan_from_text(SWEEP, [override], registries=builtin_registries)
    assert changed.trial_spec(POINT, 0).trial_id == plan.trial_spec(POINT, 0).trial_id


@pytest.mark.parametrize(
    "override", ["seed=1", "solver.batch_size=32", "data.standardize=false", "model.dropout_keep_ratio=0.5"]
)
def test_what_a_trial_computes_changes_its_id(plan, builtin_registries, override):
    changed = plan_from_text(SWEEP, [override], registries=builtin_registries)
    assert changed.trial_spec(POINT, 0).trial_id != plan.trial_spec(POINT, 0).trial_id


def test_the_trial_seed_depends_on_the_sweep_seed_and_the_trial():
    assert trial_seed_of(0, "a" * 40) == trial_seed_of(0, "a" * 40)
    assert len({trial_seed_of(seed, trial) for seed in (0, 1) for trial in ("a" * 40, "b" * 40)}) == 4


def test_the_order_keys_are_written_in_does_not_change_the_trial_id(plan, builtin_registries):
    reordered = """\
solver:
  num_epochs: 20
  batch_size: 64
  lr_decay: 0.95
  optim_config: {learning_rate: {loguniform: [3.0e-4, 1.0e-2]}}
  update_rule: adam
model:
  reg: {loguniform: [1e-5, 1e-2]}
  weight_scale: {loguniform: [1.0e-2, 3.0e-1]}
  hidden_dims: {choice: [[64], [128], [128, 64]]}
  name: fc
data: {standardize: true, flatten: true, name: digits}
seed: 0
name: quickstart
"""
    other = plan_from_text(reordered, ["search.num_samples=1"], registries=builtin_registries)
    assert other.trial_spec(POINT, 0).trial_id == plan.trial_spec(POINT, 0).trial_id


def test_a_plan_rebuilt_from_its_text_and_overrides_gives_the_same_trials(builtin_registries):
    first = plan_from_text(SWEEP, ["solver.num_epochs=3"], registries=builtin_registries)
    again = plan_from_text(first.config_text, first.overrides, registries=builtin_registries)
    assert again.trial_spec(POINT, 0) == first.trial_spec(POINT, 0)

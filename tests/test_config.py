"""``sweepnet.config``: loading a sweep file from disk, end to end."""

from __future__ import annotations

import pytest

import sweepnet.config as config
from sweepnet.errors import ConfigError

SWEEP = """\
name: from-disk
model:
  name: fc
  reg: {loguniform: [1e-5, 1e-2]}
solver: {update_rule: sgd_momentum, optim_config: {learning_rate: 1e-2}}
search: {num_samples: 2}
"""


def test_load_plan_reads_validates_and_overrides_a_file(tmp_path, builtin_registries):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    plan = config.load_plan(path, ["solver.num_epochs=3"], registries=builtin_registries)
    assert plan.source == str(path) and plan.config_text == SWEEP and plan.overrides == ("solver.num_epochs=3",)
    assert plan.config["solver"]["optim_config"] == {"learning_rate": 0.01}  # 1e-2 is a float, not "1e-2"
    assert plan.max_epochs == 3


def test_errors_name_the_file(tmp_path, builtin_registries):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.replace("learning_rate: 1e-2", "learning_rate: 0"))
    with pytest.raises(ConfigError) as info:
        config.load_plan(path, registries=builtin_registries)
    assert str(info.value).startswith(f"{path}: solver.optim_config.learning_rate: Input should be greater than 0")


def test_bad_yaml_names_file_line_and_column(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("name: x\nmodel: {name: fc\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:1: invalid YAML"):
        config.load_plan(path)


def test_the_facade_exports_the_plan_api():
    for name in ("load_plan", "plan_from_text", "SweepPlan", "SweepConfig", "apply_overrides", "parse_yaml"):
        assert name in config.__all__ and hasattr(config, name)

"""The ``plots:`` section: dotted paths of searched parameters that suit their figures, checked before any trial."""

from __future__ import annotations

import pytest

from sweepnet.errors import ConfigError
from sweepnet.plan import plan_from_text
from sweepnet.plots import PlotSettings

SWEEP = """\
name: plots-section
data: {name: digits, flatten: true}
model:
  name: fc
  hidden_dims: [32]
  normalization: {grid: [null, batchnorm]}
  weight_scale: {grid: [1.0e-3, 1.0e-2, 1.0e-1]}
  reg: {loguniform: [1.0e-5, 1.0e-2]}
solver: {num_epochs: 2}
search: {searcher: random, num_samples: 4}
"""


def _plan(plots: str, registries):
    return plan_from_text(SWEEP + f"plots: {plots}\n", source="sweep.yaml", registries=registries)


def test_the_section_reaches_the_figures_through_the_sweep_config(builtin_registries):
    plan = _plan(
        "{heatmap: [model.reg, model.weight_scale], compare: [model.normalization], against: model.reg}",
        builtin_registries,
    )
    assert PlotSettings.from_config(plan.config) == PlotSettings(
        ("model.reg", "model.weight_scale"), ("model.normalization",), "model.reg"
    )
    default = plan_from_text(SWEEP, registries=builtin_registries)
    assert default.config["plots"] == {"heatmap": None, "compare": None, "against": None}
    assert PlotSettings.from_config(default.config) == PlotSettings()


@pytest.mark.parametrize(
    ("plots", "message"),
    [
        ("{heatmap: [model.reg, model.rge]}",
         "sweep.yaml: plots.heatmap[1]: 'model.rge' is not a searched parameter; did you mean 'model.reg'? "
         "(searched: model.normalization, model.weight_scale, model.reg)"),
        ("{heatmap: [model.reg]}",
         "sweep.yaml: plots.heatmap: List should have at least 2 items after validation, not 1"),
        ("{heatmap: [model.reg, model.reg]}",
         "sweep.yaml: plots.heatmap[1]: the heat map needs two different parameters, got 'model.reg' twice"),
        ("{compare: [model.reg]}",
         "sweep.yaml: plots.compare[0]: 'model.reg' is a range; compare takes choice or grid parameters"),
        ("{against: model.normalization}",
         "sweep.yaml: plots.against: 'model.normalization' takes values that are not numbers"),
        ("{against: model.hidden_dims}", "sweep.yaml: plots.against: 'model.hidden_dims' is not a searched parameter;"),
        ("{heatmp: [model.reg, model.weight_scale]}", "sweep.yaml: plots.heatmp: unknown key; did you mean 'heatmap'?"),
        ("{against: {choice: [model.reg]}}",
         "sweep.yaml: plots.against: search spaces are only allowed in model and solver"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_errors_naming_the_key(builtin_registries, plots, message):
    with pytest.raises(ConfigError) as raised:
        _plan(plots, builtin_registries)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)

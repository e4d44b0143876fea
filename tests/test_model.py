"""The ModelPlugin base class and the helpers model plugins share."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.data import DatasetMeta
from sweepnet.errors import ConfigError
from sweepnet.model import ModelPlugin, num_outputs, require_classification, resolve_loss, resolve_rng

DIGITS = DatasetMeta("digits", "classification", (1, 8, 8), num_classes=10)
HOUSING = DatasetMeta("housing", "regression", (8,), num_outputs=2)


def test_resolve_rng_uses_the_seed_or_the_generator_never_the_global_state():
    np.random.seed(0)
    first = resolve_rng(3, None).standard_normal(4)
    np.random.seed(1)
    np.testing.assert_array_equal(resolve_rng(3, None).standard_normal(4), first)
    generator = np.random.default_rng(5)
    assert resolve_rng(None, generator) is generator
    assert isinstance(resolve_rng(None, None), np.random.Generator)
    with pytest.raises(ValueError, match="not both"):
        resolve_rng(1, generator)


def test_num_outputs_follows_the_task():
    assert num_outputs(DIGITS) == 10
    assert num_outputs(HOUSING) == 2
    with pytest.raises(ConfigError, match="'broken' does not say its number of classes"):
        num_outputs(DatasetMeta("broken", "classification", (3,)))


def test_resolve_loss_defaults_and_mismatches():
    assert resolve_loss(None, DIGITS) == "softmax"
    assert resolve_loss("svm", DIGITS) == "svm"
    assert resolve_loss(None, HOUSING) == "mse"
    with pytest.raises(ConfigError) as err:
        resolve_loss("softmax", HOUSING)
    assert str(err.value) == "model.loss: 'softmax' does not suit the regression data set 'housing'; use one of: mse"
    with pytest.raises(ConfigError, match=r"^model\.loss: 'mse' does not suit the classification"):
        resolve_loss("mse", DIGITS)


def test_require_classification():
    require_classification(DIGITS, "knn")
    with pytest.raises(ConfigError, match=r"^model\.name: knn only does classification, but 'housing' is regression$"):
        require_classification(HOUSING, "knn")


def test_model_plugins_must_implement_build_and_default_to_the_solver():
    class NoBuild(ModelPlugin):
        pass

    with pytest.raises(TypeError, match="build"):
        NoBuild()
    assert ModelPlugin.trainer == "solver"


class _Drawing(ModelPlugin):
    """Hands back what build gave _build."""

    def _build(self, options, meta, rng, dtype):
        return rng, dtype


def test_build_turns_seed_or_generator_and_dtype_into_what_build_needs():
    (rng, dtype), (again, _) = _Drawing().build(None, DIGITS, seed=3), _Drawing().build(None, DIGITS, seed=3)
    assert dtype == np.dtype(np.float32) and isinstance(dtype, np.dtype)
    np.testing.assert_array_equal(rng.standard_normal(3), again.standard_normal(3))
    generator = np.random.default_rng(0)
    assert _Drawing().build(None, DIGITS, rng=generator, dtype="float64") == (generator, np.dtype("float64"))
    with pytest.raises(ValueError, match="not both"):
        _Drawing().build(None, DIGITS, seed=1, rng=generator)


def test_a_plugin_that_overrides_build_itself_still_works():
    class OwnBuild(ModelPlugin):
        def build(self, options, meta, *, seed=None, rng=None, dtype=np.float32):
            return seed, dtype

    assert OwnBuild().build(None, DIGITS, seed=5) == (5, np.float32)

"""sweepnet.options: one base class of options, one validation, options validated once per sweep."""

from __future__ import annotations

import pytest
from pydantic import PositiveInt, model_validator

import sweepnet.data.plugin
import sweepnet.layer
import sweepnet.model
import sweepnet.search.searcher
from sweepnet.config import plan_from_text
from sweepnet.errors import ConfigError
from sweepnet.options import NoOptions, PluginOptions, options_given, validate_options
from sweepnet.pluginmanager import create_plugin_manager
from sweepnet.search import RandomSearcher, SearchSpace
from sweepnet.search.grid import GridSearcher


class _Options(PluginOptions):
    units: PositiveInt
    names: list[str | int] = []


def test_one_no_options_class_for_every_kind_of_component():
    defaults = {
        sweepnet.data.plugin.DatasetPlugin.Options,
        sweepnet.layer.Layer.Options,
        sweepnet.model.ModelPlugin.Options,
        sweepnet.search.searcher.Searcher.Options,
        sweepnet.search.Pruner.Options,
    }
    assert defaults == {NoOptions} and issubclass(NoOptions, PluginOptions)


def test_a_union_member_is_not_named_in_the_path():
    with pytest.raises(ConfigError) as err:
        validate_options(_Options, {"units": 1, "names": [1.5]}, "model")
    assert err.value.field == "model.names[0]"


def test_lax_conversions_are_refused_wherever_options_are_validated():
    with pytest.raises(ConfigError, match=r"^model\.units: expected a number, got the text '3'$"):
        validate_options(_Options, {"units": "3"}, "model")


def test_options_given_takes_the_validated_instance_or_validates_keys():
    given = _Options(units=2)
    assert options_given(_Options, given, {}, "searcher") is given
    assert options_given(_Options, None, {"units": 3}, "searcher") == _Options(units=3)
    with pytest.raises(ConfigError, match=r"^searcher\.units: required$"):
        options_given(_Options, None, {}, "searcher")
    with pytest.raises(TypeError, match="not both"):
        options_given(_Options, given, {"units": 3}, "searcher")
    with pytest.raises(TypeError, match="must be a _Options, got a NoOptions"):
        options_given(_Options, NoOptions(), {}, "searcher")


def test_searchers_built_directly_validate_their_keywords():
    space = SearchSpace({"x": {"choice": [1, 2]}})
    assert GridSearcher(space, seed=0, metric="m", mode="max", shuffle=False).options.shuffle is False
    with pytest.raises(ConfigError, match=r"^searcher\.shufle: unknown key; did you mean 'shuffle'\?"):
        GridSearcher(space, seed=0, metric="m", mode="max", shufle=False)


_VALIDATIONS: list[int] = []


class _CountingSearcher(RandomSearcher):
    """Random search whose options count how often they are validated."""

    class Options(PluginOptions):
        spread: float = 1.0

        @model_validator(mode="after")
        def _count(self) -> _CountingSearcher.Options:
            _VALIDATIONS.append(1)
            return self


SWEEP = """
name: once
data: {name: digits}
model: {name: fc, hidden_dims: [{choice: [8, 16]}]}
solver: {num_epochs: 1}
metric: val_acc
search: {searcher: counting, num_samples: 2, options: {spread: 2.0}}
"""


def test_the_plan_validates_the_searchers_options_once_and_hands_them_over():
    registries = create_plugin_manager(autoload=False).build_registries()
    registries.searchers.add("counting", _CountingSearcher)
    _VALIDATIONS.clear()
    bound = plan_from_text(SWEEP, registries=registries).bind(None)
    assert bound is not None
    searchers = [bound.make_searcher(), bound.make_searcher()]
    assert len(_VALIDATIONS) == 1
    assert searchers[0].options.spread == 2.0 and searchers[0].options is searchers[1].options

"""The ``data:`` section schema."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from sweepnet.data import DataSpec


def test_defaults_load_digits_unprocessed():
    spec = DataSpec()
    assert spec.name == "digits" and spec.options == {} and spec.data_dir is None
    assert not (spec.flatten or spec.subtract_mean or spec.standardize or spec.bias_trick)
    assert spec.features is None and spec.cv is None and spec.num_train is None


def test_a_full_section_validates():
    spec = DataSpec.model_validate(
        {
            "name": "cifar10",
            "options": {"num_training": 5000},
            "data_dir": "~/data",
            "num_train": 500,
            "features": "hog_hsv",
            "subtract_mean": True,
            "bias_trick": True,
            "cv": 5,
        }
    )
    assert spec.data_dir == Path("~/data") and spec.cv == 5 and spec.options == {"num_training": 5000}


@pytest.mark.parametrize(
    "bad",
    [{"num_trian": 5}, {"cv": 1}, {"num_train": 0}, {"features": "sift"}, {"flatten": "sometimes"}],
)
def test_bad_keys_and_values_are_rejected(bad):
    with pytest.raises(pydantic.ValidationError):
        DataSpec.model_validate(bad)

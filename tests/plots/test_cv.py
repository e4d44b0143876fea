"""The classic k vs cross-validated accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.plots.cv import cv_errorbars
from sweepnet.plots.params import ParamAxis

from .entries import entry


def _folded(k, mean, std, number):
    return entry(
        number, {"model.k": k}, val_acc=mean, val_acc_std=std, val_acc_fold0=mean - std, val_acc_fold1=mean + std
    )


def test_every_fold_and_the_mean_plus_minus_std_per_k_in_increasing_k():
    entries = [_folded(5, 0.8, 0.02, 0), _folded(1, 0.7, 0.05, 1), _folded(10, 0.75, 0.01, 2)]
    k = ParamAxis("model.k", numeric=True, log=False, values=(1, 5, 10))
    figure = cv_errorbars([*entries, entry(9, {"model.k": 3}, val_acc=0.9)], {"model.k": k}, "val_acc")
    axes = figure.axes[0]
    folds = axes.collections[0].get_offsets()
    expected = [(1, 0.65), (1, 0.75), (5, 0.78), (5, 0.82), (10, 0.74), (10, 0.76)]
    np.testing.assert_allclose(sorted(map(tuple, folds.tolist())), expected)
    mean_line = axes.lines[0]
    assert list(mean_line.get_xdata()) == [1, 5, 10]  # sorted by k; the trial without folds is left out
    assert list(mean_line.get_ydata()) == pytest.approx([0.7, 0.8, 0.75])
    assert axes.get_xlabel() == "model.k" and axes.get_xscale() == "linear"
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["one fold", "mean ± std"]
    assert cv_errorbars(entries[:0], {"model.k": k}, "val_acc") is None


def test_a_log_spread_k_gets_a_log_axis():
    values = (1, 3, 5, 8, 10, 12, 15, 20, 50, 100)
    entries = [_folded(k, 0.9, 0.01, i) for i, k in enumerate(values)]
    k = ParamAxis("model.k", numeric=True, log=True, values=values)
    assert cv_errorbars(entries, {"model.k": k}, "val_acc").axes[0].get_xscale() == "log"

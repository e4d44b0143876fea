"""One trial's curves: loss and metrics per epoch, the epoch axis ending at the last epoch."""

from __future__ import annotations

import pytest

from sweepnet import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_trial_curves_draw_loss_and_train_val_metric_per_epoch():
    history = [{"epoch": e, "loss": 1 / e, "train_acc": 0.2 * e, "val_acc": 0.1 * e, "lr": 1e-3} for e in (1, 2, 3)]
    figure = plots.trial_curves(history, "trial-001")
    loss_axes, metric_axes = figure.axes
    assert list(loss_axes.lines[0].get_xdata()) == [1, 2, 3]
    assert list(loss_axes.lines[0].get_ydata()) == pytest.approx([1, 0.5, 1 / 3])
    lines = {line.get_label(): list(line.get_ydata()) for line in metric_axes.lines}
    assert lines == {"train acc": pytest.approx([0.2, 0.4, 0.6]), "val acc": pytest.approx([0.1, 0.2, 0.3])}
    assert metric_axes.get_title() == "Classification accuracy"
    assert plots.to_png(figure).startswith(PNG_SIGNATURE)
    # the epochs end at the last one; the values at round limits padded by 5%, as for every trial of a sweep
    assert loss_axes.get_xlim() == pytest.approx((0.5, 3.5)) and loss_axes.get_ylim() == pytest.approx((-0.05, 1.05))
    assert metric_axes.get_ylim() == pytest.approx((-0.05, 1.05))


def test_trial_curves_round_the_axes_of_a_regression_trial_up_to_1_2_2_5_or_5_times_a_power_of_ten():
    history = [{"epoch": e, "loss": 30 / e, "train_rmse": 0.3 * e, "val_rmse": -0.1 * e} for e in range(1, 9)]
    loss_axes, metric_axes = plots.trial_curves(history).axes
    assert loss_axes.get_xlim() == pytest.approx((0.5, 8.5))  # a 8-epoch trial's axis does not run to 10
    assert loss_axes.get_ylim() == pytest.approx((-2.5, 52.5))  # 0 .. 50
    assert metric_axes.get_ylim() == pytest.approx((-1.0 - 0.175, 2.5 + 0.175))  # -1 .. 2.5


def test_trial_curves_of_a_regression_trial_and_of_no_epochs():
    figure = plots.trial_curves([{"epoch": 1, "loss": 2.0, "train_rmse": 1.5, "val_rmse": 1.7}])
    assert figure.axes[1].get_title() == "RMSE"
    assert plots.trial_curves([]) is None

"""Heat maps that say what they show: annotated grids, scatters of sampled points, train beside val."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.plots.drawing import readable_text_colour
from sweepnet.plots.heatmap import param_heatmap
from sweepnet.plots.params import ParamAxis

from .entries import entry, tick_texts

LR = ParamAxis("solver.lr", numeric=True, log=True, values=(1e-3, 1e-2, 1e-1))
REG = ParamAxis("model.reg", numeric=True, log=False, values=(0.0, 0.5))
HIDDEN = ParamAxis("model.hidden_dim", numeric=True, log=True, values=(50, 100))


def _grid():
    """A 3 x 2 x 2 grid: val_acc = lr index / 4 + reg index / 10 (+ 0.05 for 100 hidden units)."""
    entries = []
    for i, lr in enumerate(LR.values):
        for j, reg in enumerate(REG.values):
            for k, hidden in enumerate(HIDDEN.values):
                val = i / 4 + j / 10 + k / 20
                params = {"solver.lr": lr, "model.reg": reg, "model.hidden_dim": hidden}
                entries.append(entry(len(entries), params, val_acc=val, train_acc=val + 0.1))
    return entries


def test_a_grid_is_annotated_cells_of_train_and_val_side_by_side_best_over_the_other_parameters():
    figure = param_heatmap(_grid(), LR, REG, "val_acc", "max", others=["model.hidden_dim"])
    train, val = [axes for axes in figure.axes if axes.images]
    assert len(figure.axes) == 4  # two panels and their colour bars
    expected = np.array([[0.05, 0.30, 0.55], [0.15, 0.40, 0.65]])  # rows: reg; columns: lr; the best hidden_dim
    np.testing.assert_allclose(val.images[0].get_array(), expected)
    np.testing.assert_allclose(train.images[0].get_array(), expected + 0.1)
    assert tick_texts(val.get_xticklabels()) == ["0.001", "0.01", "0.1"]
    assert tick_texts(val.get_yticklabels()) == ["0", "0.5"]
    assert (val.get_xlabel(), val.get_ylabel()) == ("solver.lr", "model.reg")
    assert [text.get_text() for text in val.texts] == ["0.05", "0.30", "0.55", "0.15", "0.40", "0.65"]
    assert train.get_title() == "training accuracy, best trial per cell"
    title = figure.get_suptitle()
    assert "Training accuracy and validation accuracy over lr × reg" in title
    assert "the best trial by val_acc over model.hidden_dim" in title


def test_annotations_contrast_with_their_cell():
    figure = param_heatmap(_grid(), LR, REG, "val_acc", "max")
    val = [axes for axes in figure.axes if axes.images][1]
    image = val.images[0]
    by_value = {text.get_text(): text.get_color() for text in val.texts}
    assert by_value["0.05"] == "white" and by_value["0.65"] == "black"  # dark purple, bright yellow of viridis
    for text in val.texts:
        assert text.get_color() == readable_text_colour(image.cmap(image.norm(float(text.get_text()))))


@pytest.mark.parametrize(
    ("rgba", "colour"), [((1, 1, 0, 1), "black"), ((0, 0, 0.5, 1), "white"), ((0.5, 0.5, 0.5, 1), "black")]
)
def test_readable_text_colour(rgba, colour):
    assert readable_text_colour(rgba) == colour


def test_empty_cells_stay_blank_and_lower_is_better_for_rmse():
    entries = [entry(0, {"solver.lr": 1e-3, "model.reg": 0.0}, val_rmse=50.0, train_rmse=40.0)]
    figure = param_heatmap(entries, LR, REG, "val_rmse", "min")
    cells = [axes for axes in figure.axes if axes.images][1].images[0].get_array()
    assert cells[0, 0] == 50.0 and np.isnan(cells.filled(np.nan)[1:, :]).all()
    assert figure.axes[0].images[0].cmap.name.startswith("viridis_r")


def test_sampled_points_are_a_scatter_on_log_axes_the_best_drawn_last():
    rng = np.random.default_rng(0)
    lr, reg = ParamAxis("lr", numeric=True, log=True), ParamAxis("reg", numeric=True)
    entries = [
        entry(
            i,
            {"lr": float(10 ** rng.uniform(-4, -1)), "reg": float(rng.uniform(0, 1))},
            val_acc=float(v),
            train_acc=1.0,
        )
        for i, v in enumerate(rng.random(30))
    ]
    figure = param_heatmap(entries, lr, reg, "val_acc", "max")
    train, val = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    assert not val.images and len(val.collections[0].get_offsets()) == 30
    assert (val.get_xscale(), val.get_yscale()) == ("log", "linear")
    colours = val.collections[0].get_array()
    assert colours[-1] == max(result.metrics["val_acc"] for _, result in entries)  # on top
    assert sorted(colours) == sorted(result.metrics["val_acc"] for _, result in entries)
    assert "each point a trial" in figure.get_suptitle()


def test_a_choice_against_a_range_puts_the_choices_in_order_on_their_axis():
    rule = ParamAxis("rule", numeric=False, values=("sgd", "momentum", "adam"))
    lr = ParamAxis("lr", numeric=True, log=True)
    entries = [
        entry(i, {"rule": r, "lr": 10.0**-i}, val_acc=0.1 * i)
        for i, r in enumerate(["adam", "sgd", "momentum", "adam"])
    ]
    val = param_heatmap(entries, rule, lr, "val_acc", "max").axes[0]
    assert tick_texts(val.get_xticklabels()) == ["sgd", "momentum", "adam"]
    assert sorted(val.collections[0].get_offsets()[:, 0].tolist()) == [0, 1, 2, 2]


def test_a_wide_grid_stacks_its_panels_and_slants_its_labels():
    scales = tuple(float(s) for s in np.logspace(-4, 0, 20))
    wide = ParamAxis("model.weight_scale", numeric=True, log=True, values=scales)
    norm = ParamAxis("model.normalization", numeric=False, values=(None, "batchnorm"))
    entries = [entry(i, {"model.weight_scale": s, "model.normalization": n}, val_acc=0.5, train_acc=0.6)
               for i, (s, n) in enumerate((s, n) for s in scales for n in norm.values)]  # fmt: skip
    figure = param_heatmap(entries, wide, norm, "val_acc", "max")
    train, val = [axes for axes in figure.axes if axes.images]
    assert train.get_position().y0 > val.get_position().y0  # one above the other
    assert all(label.get_rotation() > 0 for label in val.get_xticklabels())
    assert tick_texts(val.get_yticklabels()) == ["none", "batchnorm"]


def test_no_heatmap_without_a_trial_having_both_parameters():
    assert param_heatmap([entry(0, {"solver.lr": 1e-3}, val_acc=0.5)], LR, REG, "val_acc", "max") is None

"""Weights as pictures: only of image inputs; class templates titled with the class names."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.vis import visualize_grid
from sweepnet.plots.weights import class_templates, first_layer_weights, image_shape


@pytest.mark.parametrize(
    ("size", "input_shape", "options", "expected"),
    [
        (64, (64,), {"flattened": True}, (1, 8, 8)),
        (65, (65,), {"flattened": True, "bias": True}, (1, 8, 8)),  # the bias trick's extra feature
        (3072, (3072,), {"flattened": True}, (3, 32, 32)),
        (48, (3, 4, 4), {}, (3, 4, 4)),
        (64, (8, 8), {}, (1, 8, 8)),
        (64, (1, 8, 8), {}, (1, 8, 8)),
        (64, (64,), {}, None),  # flat inputs the data section did not flatten: features, not pixels
        (10, (10,), {}, None),  # diabetes: 10 features, no 3 x 3 image
        (11, (11,), {"flattened": True, "bias": True}, None),
        (155, (155,), {"flattened": True}, None),  # HOG + HSV features
        (49, (2, 5, 5), {}, None),  # an image of another size
    ],
)
def test_image_shape_is_read_from_the_input_shape_or_derived_from_flattened_images(
    size, input_shape, options, expected
):
    assert image_shape(size, input_shape, **options) == expected


def test_first_layer_weights_of_a_flat_input_are_the_columns_as_images():
    rng = np.random.default_rng(0)
    W1 = rng.standard_normal((64, 5))
    weights = {"W1": W1, "b1": np.zeros(5), "W2": rng.standard_normal((5, 10))}
    axes = first_layer_weights(weights, (64,), flattened=True).axes[0]
    expected = visualize_grid(W1.T.reshape(5, 8, 8, 1))[..., 0]
    np.testing.assert_allclose(axes.images[0].get_array(), expected)
    assert axes.get_title() == "First-layer weights of the best trial (5 units)"


def test_first_layer_weights_of_a_conv_net_are_its_filters():
    filters = np.random.default_rng(1).standard_normal((4, 3, 5, 5))
    weights = {"0.conv.W": filters, "0.conv.b": np.zeros(4), "3.affine.W": np.ones((100, 10))}
    axes = first_layer_weights(weights, (3, 16, 16)).axes[0]
    expected = visualize_grid(filters.transpose(0, 2, 3, 1)).astype(np.uint8)
    np.testing.assert_array_equal(axes.images[0].get_array(), expected)


def test_no_weight_pictures_of_tabular_inputs():
    assert first_layer_weights({"W1": np.ones((10, 4))}, (10,)) is None  # diabetes
    assert first_layer_weights({"W1": np.ones((155, 4))}, (155,), flattened=True) is None
    assert first_layer_weights({}, (64,), flattened=True) is None
    assert class_templates(np.ones((11, 3)), (11,), flattened=True, bias=True) is None


def test_class_templates_are_titled_with_the_class_names_and_scaled_together():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((3 * 4 * 4 + 1, 10))  # CIFAR-like colour inputs with the bias trick
    names = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    figure = class_templates(W, (49,), names, flattened=True, bias=True)
    panels = [axes for axes in figure.axes if axes.images]
    assert [axes.get_title() for axes in panels] == list(names)
    assert len(figure.axes) == 10  # 2 x 5
    images = np.stack([axes.images[0].get_array() for axes in panels])
    assert images.shape == (10, 4, 4, 3)
    assert images.min() == pytest.approx(0.0) and images.max() == pytest.approx(1.0)
    first = W[:48, 0].reshape(3, 4, 4).transpose(1, 2, 0)  # channels-first pixels, bias row dropped
    np.testing.assert_allclose(images[0], (first - W[:48].min()) / (W[:48].max() - W[:48].min()), rtol=1e-6)
    digits = class_templates(rng.standard_normal((64, 3)), (1, 8, 8))
    assert [axes.get_title() for axes in digits.axes if axes.images] == ["0", "1", "2"]  # no names: the indices

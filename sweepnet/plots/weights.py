"""Pictures of learned weights: first-layer filters, and the class templates of linear classifiers.

Weights are drawn as images only when the inputs are images: samples shaped ``(C, H, W)`` or
``(H, W)``, or images the ``data:`` section flattened (``flatten`` / ``bias_trick``). Tabular
inputs (diabetes' 10 features) and computed features (HOG + HSV) get no such picture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from sweepnet.core.vis import visualize_grid
from sweepnet.plots.drawing import new_figure

__all__ = ["class_templates", "first_layer_weights", "first_weight", "image_shape"]

_TEMPLATE_COLUMNS = 5  # the classic 2 x 5 grid of CIFAR-10's classes


def image_shape(
    size: int, input_shape: Sequence[int], *, flattened: bool = False, bias: bool = False
) -> tuple[int, int, int] | None:
    """The ``(C, H, W)`` image behind ``size`` input values, or None if they are not an image.

    Parameters
    ----------
    size : rows of a first-layer weight (the input size).
    input_shape : one sample's shape (``DatasetMeta.input_shape``): an image shape is trusted.
    flattened : the data set's images were flattened (``data.flatten`` / ``data.bias_trick``):
        a flat shape is then read as a square grey image (``size == H * W``) or a square RGB one
        (``size == 3 * H * W``); without it a flat input is tabular.
    bias : the bias trick appended one constant input (``data.bias_trick``).
    """
    pixels = size - 1 if bias else size
    shape = tuple(input_shape)
    if len(shape) in (2, 3) and math.prod(shape) in (size, pixels):
        return (1, *shape) if len(shape) == 2 else (shape[0], shape[1], shape[2])
    if len(shape) <= 1 and flattened:
        for channels in (1, 3):
            side = math.isqrt(pixels // channels) if pixels > 0 else 0
            if side > 1 and channels * side * side == pixels:
                return channels, side, side
    return None


def first_weight(weights: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The first layer's weight: ``W1`` (classic nets), ``W`` (linear classifiers),
    ``"0.affine.W"`` / ``"0.conv.W"`` (sequential), the first in layer order."""
    return next((w for name, w in weights.items() if name.rsplit(".", 1)[-1] in ("W", "W1")), None)


def first_layer_weights(
    weights: Mapping[str, np.ndarray], input_shape: Sequence[int], *, flattened: bool = False, bias: bool = False
) -> Figure | None:
    """The first layer's weights as one image per hidden unit or filter (``visualize_grid``).

    Parameters
    ----------
    weights : the model's parameters, in layer order: ``W1: (D, H)``, ``"0.affine.W": (D, H)``
        or ``"0.conv.W": (F, C, h, w)``.
    input_shape, flattened, bias : what the inputs are (see :func:`image_shape`).

    Returns
    -------
    The figure, or None when the model has no such weight or its inputs are not images.
    """
    first = first_weight(weights)
    if first is None:
        return None
    if first.ndim == 4:  # conv filters (F, C, h, w)
        images = first.transpose(0, 2, 3, 1)
    elif first.ndim == 2 and (shape := image_shape(first.shape[0], input_shape, flattened=flattened, bias=bias)):
        images = _as_images(first, shape)
    else:
        return None
    grid = visualize_grid(images)
    figure = new_figure(6, 6.4)
    axes = figure.subplots()
    if grid.shape[-1] == 1:
        axes.imshow(grid[..., 0], cmap="gray")
    else:
        axes.imshow(grid[..., :3].astype(np.uint8))
    axes.set_axis_off()
    axes.set_title(f"First-layer weights of the best trial ({len(images)} units)")
    return figure


def class_templates(
    weight: np.ndarray,
    input_shape: Sequence[int],
    class_names: Sequence[str] | None = None,
    *,
    flattened: bool = False,
    bias: bool = False,
) -> Figure | None:
    """A linear classifier's weights as one image per class, titled with the class name.

    Parameters
    ----------
    weight : ``W: (D, C)``, a column per class (``D`` inputs, the bias row last with the bias trick).
    input_shape, flattened, bias : what the inputs are (see :func:`image_shape`).
    class_names : ``C`` names (``DatasetMeta.class_names``); the class indices without them.

    Returns
    -------
    The figure (images scaled together to the weights' range, as the classic notebook does),
    or None when the inputs are not images.
    """
    if weight.ndim != 2 or (shape := image_shape(weight.shape[0], input_shape, flattened=flattened, bias=bias)) is None:
        return None
    images = _as_images(weight, shape)
    low, high = float(images.min()), float(images.max())
    images = (images - low) / (high - low if high > low else 1.0)
    names = list(class_names) if class_names is not None and len(class_names) == len(images) else None
    columns = min(_TEMPLATE_COLUMNS, len(images))
    rows = math.ceil(len(images) / columns)
    figure = new_figure(2.0 * columns, 2.2 * rows + 0.4)
    panels = figure.subplots(rows, columns, squeeze=False).ravel()
    for index, axes in enumerate(panels):
        axes.set_axis_off()
        if index < len(images):
            image = images[index]
            axes.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
            axes.set_title(names[index] if names else str(index))
    figure.suptitle("Class templates of the best trial: the weights of each class")
    return figure


def _as_images(weight: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """``weight: (D, K)``'s columns as ``(K, H, W, C)`` images (a trailing bias row dropped)."""
    return weight[: math.prod(shape)].T.reshape(weight.shape[1], *shape).transpose(0, 2, 3, 1)
